"""The benchmark corpus: variants of the labelled fixture pages (tests/fixtures/pages).

Each labelled page gives ``variants`` pages: variant 0 is the page as it is,
the others tint it (a CSS ``hue-rotate`` on the whole page, so every frame is
filtered too) and, for the heavy Mandelbrot page, raise the iteration limit
(300, 500, 800: from tens of ms to over 100 ms per frame). The two pages that
hang on purpose (``infinite-loop-*``) are left out: they measure the
deadlines (10-20 s by design), not throughput; ``tests/test_render.py`` and the
corpus test cover them.

Every page gets the default observation: three timed screenshots (0.5, 2, 5
virtual s), the 12-frame preview, the standard checks including ``accessible``
(axe-core), the page's labelled extra checks and its scripted input (so
interactive pages also get their control load).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gallery.catalogue.prompts import Prompt, parse_prompt

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "fixtures" / "pages"
EXPECTED: dict[str, Any] = tomllib.loads((PAGES / "expected.toml").read_text())["pages"]
#: Pages that hang on purpose: they measure deadlines, not throughput.
EXCLUDED = ("infinite-loop-load", "infinite-loop-raf")
HEAVY = "mandelbrot-heavy"
HEAVY_MAX = (300, 500, 800)
STANDARD = ("runs", "animates", "clean-console", "offline", "accessible")


@dataclass
class Page:
    name: str  # <fixture>-v<k>
    fixture: str
    variant: int
    html: str
    prompt: Prompt
    #: A person's label (``real_corpus.Label``) for pages of the real corpus.
    label: Any = None

    @property
    def heavy(self) -> bool:
        return self.fixture == HEAVY


def _variant(html: str, fixture: str, k: int) -> str:
    if k == 0:
        return html
    if fixture == HEAVY:
        html = re.sub(r"MAX = \d+", f"MAX = {HEAVY_MAX[k % len(HEAVY_MAX)]}", html, count=1)
    tint = f"<style>html {{ filter: hue-rotate({k * 97 % 360}deg); }}</style>"
    if "</head>" in html:
        return html.replace("</head>", f"{tint}\n</head>", 1)
    return tint + html


def prompt_for(name: str, entry: dict[str, Any]) -> Prompt:
    checks: list[dict[str, Any]] = [{"kind": k} for k in STANDARD]
    if entry.get("interact"):
        checks.append({"kind": "interactive"})
    checks += entry.get("checks", [])
    data: dict[str, Any] = {"id": name, "title": name, "prompt": name, "checks": checks}
    if entry.get("interact"):
        data["interact"] = entry["interact"]
    return parse_prompt(data, PAGES / f"{name}.html")


def build(variants: int = 3, only: list[str] | None = None) -> list[Page]:
    """The corpus: ``variants`` pages per labelled fixture (36 fixtures x 3 = 108 pages)."""
    pages = []
    for fixture, entry in EXPECTED.items():
        if fixture in EXCLUDED or (only and fixture not in only):
            continue
        html = (PAGES / f"{fixture}.html").read_text()
        prompt = prompt_for(fixture, entry)
        for k in range(variants):
            pages.append(Page(f"{fixture}-v{k}", fixture, k, _variant(html, fixture, k), prompt))
    return pages


def real(count: int | None = None, split: str | None = None) -> list[Page]:
    """Pages of the labelled real-model corpus (``real_corpus.py``), as fetched.

    Each page gets the full default observation: the standard checks including
    ``accessible`` (axe-core), plus ``interactive`` and its scripted input where
    the page's task implies input. ``count`` pages: spread evenly over the corpus
    when fewer, else the corpus repeated (copies differ by an HTML comment only, so
    each copy costs what the page costs).
    """
    import real_corpus

    found = [p for p in real_corpus.available(real_corpus.load()) if not split or p.split == split]
    if not found:
        raise SystemExit("no real-corpus pages: run `python benchmarks/real_corpus.py fetch`")
    count = count or len(found)
    pages = []
    for i in range(count):
        # Fewer pages than the corpus: spread over it (the manifest is grouped by
        # source, so its first pages are not a sample of it); more: whole copies.
        src = found[i * len(found) // count] if count < len(found) else found[i % len(found)]
        k = i // len(found)
        html = src.file.read_text(encoding="utf-8", errors="replace")
        entry: dict[str, Any] = {"interact": src.interact()}
        name = f"{src.id}-r{k}"
        pages.append(
            Page(
                name,
                src.id,
                k,
                html if k == 0 else f"<!-- copy {k} -->\n{html}",
                prompt_for(src.id, entry),
                src.label,
            )
        )
    return pages


def write(pages: list[Page], root: Path) -> dict[str, Path]:
    """Each page as ``root/<name>/index.html``; returns name -> folder."""
    out = {}
    for page in pages:
        d = root / page.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "index.html").write_text(page.html)
        out[page.name] = d
    return out
