"""The static site: structure, escaping, links, numbers and incremental rebuilds.

A hand-made run (two prompts, a reference lane and two models, several samples,
a failed request, a reply with ``</script>`` and ``<b>``) is written with the
store's own layout and Pillow images, so these tests need neither a model nor
the renderer. ``tests/test_site_browser.py`` reuses ``make_run``.
"""

from __future__ import annotations

import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gallery.catalogue.config import load_config
from gallery.catalogue.prompts import load_catalogue
from gallery.cli import cli
from gallery.compare.report import site_view
from gallery.compare.rule import compare_runs
from gallery.records.store import Run, SampleKey, Store
from gallery.render import highlight
from gallery.site.build import build_site
from gallery.site.data import pass_at_k

HOSTILE = "Here you go </script><script>alert(1)</script> and <b>bold</b> & done"

#: A page that tries to read its parent and writes what happened into its own DOM.
PROBE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>probe</title>
<style>body{margin:0;font:20px sans-serif;background:%(bg)s;color:#fff}
#probe{padding:1rem}</style></head>
<body><canvas id="c" width="160" height="90"></canvas><p id="probe">pending</p>
<script>
var r;
try { r = "LEAK: " + parent.document.title; } catch (e) { r = "blocked: " + e.name; }
document.getElementById("probe").textContent = r;
var ctx = document.getElementById("c").getContext("2d");
ctx.fillStyle = "#fc0"; ctx.beginPath(); ctx.arc(80, 45, 30, 0, 7); ctx.fill();
</script></body></html>
"""

PROMPTS = {
    "bounce": (
        'id = "bounce"\ntitle = "Ball in a spinning hexagon"\n'
        'prompt = "Write a page where a ball bounces inside a spinning hexagon. <b>bold</b>"\n'
        'source = "The launch article, quoted word for word"\ntags = ["physics", "canvas"]\n'
        '[[checks]]\nkind = "runs"\n[[checks]]\nkind = "animates"\n'
        '[[checks]]\nkind = "accessible"\nrequired = false\n'
    ),
    "clock": (
        'id = "clock"\ntitle = "Analog clock"\nprompt = "Draw a ticking analog clock."\n'
        '[[checks]]\nkind = "runs"\n[[checks]]\nkind = "canvas"\n'
    ),
}

CONFIG = """
[defaults]
models = ["reference", "model-a", "model-b"]

[models.reference]
provider = "reference"

[models.model-a]
base_url = "https://api.example.test/v1"
model = "vendor/model-a"
[[models.model-a.pricing]]
input_per_mtok = 1.0
output_per_mtok = 2.0

[models.model-b]
base_url = "https://api.other.test/v1"
model = "model-b-large"
label = "Model B"
"""

COLORS = ["#1d3557", "#2a9d8f", "#e76f51", "#6d597a", "#264653", "#bc4749", "#3a86ff"]


def _image(color: str, t: float, fmt: str = "PNG") -> bytes:
    img = Image.new("RGB", (160, 90), color)
    d = ImageDraw.Draw(img)
    x = int(20 + 100 * (t % 1))
    d.ellipse((x, 30, x + 30, 60), fill="#ffd166")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _preview(color: str) -> bytes:
    frames = [Image.open(io.BytesIO(_image(color, t / 4))) for t in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buf.getvalue()


def verdict(checks: dict[str, bool], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    rows = [
        {
            "name": n,
            "kind": n,
            "passed": ok,
            "required": n not in optional,
            "detail": f"{n} {'ok' if ok else 'failed <because>'}",
        }
        for n, ok in checks.items()
    ]
    passed = all(r["passed"] for r in rows if r["required"])
    return {
        "passed": passed,
        "score": round(sum(r["passed"] for r in rows) / len(rows), 4),
        "checks": rows,
    }


def write_sample(
    run: Run,
    key: SampleKey,
    *,
    status: str = "ok",
    passed: dict[str, bool] | None = None,
    text: str = "```html\n...\n```",
    render: bool = True,
    preview: bool = True,
    cost: dict[str, Any] | None = None,
    sources: dict[str, str] | None = None,
    reference: bool = False,
    reasoning: str | None = None,
    error: str | None = None,
) -> None:
    color = COLORS[sum(key.label.encode()) % len(COLORS)]
    reply = {
        "status": status,
        "prompt": key.prompt,
        "model": key.model,
        "model_id": "" if reference else f"id-{key.model}",
        "base_url": "" if reference else "https://api.example.test/v1",
        "sample": key.index,
        "text": text,
        "reasoning": reasoning,
        "usage": {"prompt_tokens": 100, "completion_tokens": 1000 + key.index, "total_tokens": 1100}
        if not reference
        else None,
        "timing": {"ttft_s": 0.5 * key.index, "latency_s": 10.0 * key.index, "tokens_per_s": 100.0}
        if not reference
        else None,
        "finish_reason": "stop",
        "truncated": False,
        "cost": cost,
        "replayed": False,
        "error": error,
        "extract": {
            "status": "ok" if status == "ok" else "no-artifact",
            "reason": None if status == "ok" else "reply has no HTML or JavaScript (found: java)",
            "notes": ["bare HTML reply"] if status == "ok" else [],
            "files": ["index.html"] if status == "ok" else [],
            "sources": sorted(sources or {}),
        },
        "reference": reference,
        "source": None,
    }
    files: dict[str, bytes | str] = {"reply.json": json.dumps(reply)}
    if status == "ok":
        files["artifact/index.html"] = PROBE_PAGE % {"bg": color}
        files["artifact/style.css"] = "body { color: white; }\n"
    for name, body in (sources or {}).items():
        files[f"artifact/_sources/{name}"] = body
    sample = run.write_sample(key, files)
    if render and status != "failed":
        shots = {
            f"{t:06.2f}s.png": _image(color, t) for t in ((0.5, 2.0, 5.0) if status == "ok" else ())
        }
        extra: dict[str, bytes] = {}
        if preview and status == "ok":
            extra["preview.webp"] = _preview(color)
        obs = {
            "status": "ok",
            "console": [
                {
                    "type": "error",
                    "text": "Uncaught <img src=x onerror=alert(1)>",
                    "t": 0.4,
                    "url": "",
                },
                {"type": "log", "text": "hello", "t": 0.1},
            ],
            "errors": [
                {"message": "TypeError: x is undefined", "stack": "at <anonymous>:1", "t": 0.4}
            ],
            "requests": {
                "artifact": ["index.html"],
                "cdn": [
                    {
                        "url": "https://cdn.jsdelivr.net/npm/p5@1",
                        "package": "p5",
                        "version": "1.9.0",
                    }
                ],
                "missing": [],
                "blocked": [{"url": "https://evil.example/x.js", "reason": "not a known CDN"}],
                "fonts": [],
            },
            "navigations": [],
            "popups": ["https://sandbox.gallery.test/about.html"],
            "retried": ["the page stopped answering in the shared browser (<b>stall</b>)"],
            "axe": {
                "violations": [
                    {"id": "color-contrast", "impact": "serious", "help": "Contrast", "nodes": [1]}
                ]
            },
        }
        checks = passed or {"runs": True, "animates": True}
        files2 = {
            "observation.json": json.dumps(obs).encode(),
            "verdict.json": json.dumps(verdict(checks, ("accessible",))).encode(),
            **extra,
        }
        shots_dir = sample.path.parent / f".shots-{key.index}"
        shots_dir.mkdir()
        for name, body in shots.items():
            (shots_dir / name).write_bytes(body)
        sample.write_render(files2, shots_dir)


def make_run(base: Path) -> tuple[Run, dict, Any]:
    """Write prompts, config and a run under ``base``; return (run, catalogue, config)."""
    prompts = base / "prompts"
    prompts.mkdir(parents=True)
    for pid, body in PROMPTS.items():
        (prompts / f"{pid}.toml").write_text(body)
    (base / "gallery.toml").write_text(CONFIG)
    config = load_config(base / "gallery.toml")
    catalogue = load_catalogue(prompts)
    run = Store(base / "outputs").new_run("20250101-000000")
    run.save_manifest(
        {
            "id": run.id,
            "started_at": "2025-01-01T00:00:00+00:00",
            "finished_at": "2025-01-01T00:05:00+00:00",
            "status": "finished",
            "models": [
                {"name": "reference", "model_id": "", "reference": True},
                {"name": "model-a", "model_id": "vendor/model-a", "base_url": "https://api.example.test/v1",
                 "api": "chat", "params": {"temperature": 0.7}},
                {"name": "model-b", "model_id": "model-b-large", "base_url": "https://api.other.test/v1",
                 "api": "chat", "params": {}},
            ],
            "prompts": ["bounce", "clock"],
            "samples": 3,
            "system_prompt": "You are an expert. </pre><script>alert(2)</script>",
            "concurrency": 4,
            "totals": {"samples": 11, "failed": 1, "replayed": 0, "prompt_tokens": 1000,
                       "completion_tokens": 9000, "cost_usd": 0.0123, "cost_complete": False,
                       "wall_s": 300.0},
        }
    )  # fmt: skip
    ok_cost = {"usd": 0.002, "complete": True}
    good = {"runs": True, "animates": True, "accessible": False}
    bad = {"runs": True, "animates": False, "accessible": False}
    K = SampleKey
    write_sample(run, K("bounce", "reference", 1), reference=True, passed=good)
    write_sample(
        run, K("clock", "reference", 1), reference=True, passed={"runs": True, "canvas": True}
    )
    # model-a: bounce 3 samples (2 pass), clock 2 samples (0 pass) -> pass@1 1/3, pass@2 1/2
    write_sample(run, K("bounce", "model-a", 1), passed=good, cost=ok_cost, reasoning="I think <i>")
    write_sample(run, K("bounce", "model-a", 2), passed=bad, cost=ok_cost)
    write_sample(run, K("bounce", "model-a", 3), passed=good, cost=ok_cost, preview=False)
    write_sample(
        run, K("clock", "model-a", 1), passed={"runs": False, "canvas": True}, cost=ok_cost
    )
    write_sample(
        run, K("clock", "model-a", 2), passed={"runs": True, "canvas": False}, cost=ok_cost
    )
    # model-b: bounce 3 (a failed request, a pass, a fail with hostile text), clock 1 judged + 1 unrendered
    write_sample(run, K("bounce", "model-b", 1), status="failed", text="", error="HTTP 500 <oops>")
    write_sample(run, K("bounce", "model-b", 2), passed=good, cost=ok_cost)
    write_sample(
        run,
        K("bounce", "model-b", 3),
        passed=bad,
        text=HOSTILE,
        cost={"usd": 0.001, "complete": False},
    )
    write_sample(
        run,
        K("clock", "model-b", 1),
        status="no-artifact",
        passed={"runs": False, "canvas": False},
        text="```java\npublic class Clock {}\n```",
        sources={"Clock.java": 'public class Clock { String s = "</script>"; }\n'},
    )
    write_sample(run, K("clock", "model-b", 2), render=False)
    return run, catalogue, config


# --- helpers ----------------------------------------------------------------------


class Page(HTMLParser):
    """Start tags with their attributes, visible text, and leaderboard rows."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self.row_group: dict[str, str] = {}
        self._row: str | None = None
        self._tbody = ""
        self._in_script = False
        self.scripts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "tbody":
            self._tbody = a.get("class", "")
        if tag == "tr" and "data-model" in a:
            self._row = a["data-model"]
            self.rows[self._row] = []
            self.row_group[self._row] = self._tbody
        if tag in ("td", "th") and self._row and "data-v" in a:
            self.rows[self._row].append(a["data-v"])
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def find(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


def parse(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def local_refs(site: Path) -> list[tuple[Path, str, str]]:
    """(page, attribute, value) for every href/src on every page of the site."""
    out = []
    for page in sorted(site.rglob("*.html")):
        if "artifact" in page.relative_to(site).parts:
            continue  # model-written pages are not the site's own
        for tag, attrs in parse(page).tags:
            for attr in ("href", "src"):
                if attr in attrs:
                    out.append((page, f"{tag}[{attr}]", attrs[attr]))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    base = tmp_path_factory.mktemp("site")
    run, catalogue, config = make_run(base)
    site = base / "site"
    report = build_site(run, catalogue, config, site)
    return site, report


# --- structure ----------------------------------------------------------------------


def test_pages_exist(built: tuple[Path, Any]) -> None:
    site, report = built
    assert report.index == site / "index.html"
    for rel in ("index.html", "run.html", "p/bounce.html", "p/clock.html", "static/style.css",
                "static/app.js", "static/pygments.css", "static/favicon.svg"):  # fmt: skip
        assert (site / rel).is_file(), rel
    pages = {p.relative_to(site).as_posix() for p in (site / "s").rglob("index.html")}
    pages = {p for p in pages if "/artifact/" not in p}
    assert len(pages) == 12
    assert "s/bounce/model-b/1/index.html" in pages  # the failed request still has a page
    assert "s/clock/model-b/2/index.html" in pages  # not rendered yet, still a page


def test_index_has_every_prompt_and_model(built: tuple[Path, Any]) -> None:
    site, _ = built
    page = parse(site / "index.html")
    text = page.all_text
    for words in ("Ball in a spinning hexagon", "Analog clock", "model-a", "Model B"):
        assert words in text
    lanes = [a["data-model"] for a in page.find("div") if "lane-h" in a.get("class", "")]
    assert lanes == ["reference", "model-a", "model-b"]  # reference lane first
    rows = [a["data-prompt"] for a in page.find("section") if "data-prompt" in a]
    assert rows == ["bounce", "clock"]
    cells = [a for a in page.find("div") if "cell" in a.get("class", "").split()]
    assert len(cells) == 6
    # best sample first: model-a's bounce cell links to a passing sample, with 2/3 passed
    assert "2/3 passed" in text and "1/3 passed" in text
    hrefs = [a["href"] for a in page.find("a")]
    assert "s/bounce/model-a/1/index.html" in hrefs and "p/bounce.html" in hrefs


def test_reference_lane_is_labelled_and_not_ranked(built: tuple[Path, Any]) -> None:
    site, _ = built
    page = parse(site / "index.html")
    assert "reference (hand-written)" in page.all_text
    header = next(a for a in page.find("div") if a.get("data-model") == "reference")
    assert "ref" in header["class"].split()
    assert page.row_group == {"model-a": "ranked", "model-b": "ranked", "reference": "refs"}
    assert page.rows["reference"][0] == ""  # no rank
    assert [page.rows[m][0] for m in ("model-a", "model-b")] == ["1.0", "2.0"]
    prompt = parse(site / "p/bounce.html")
    assert "reference (hand-written)" in prompt.all_text


def test_leaderboard_numbers(built: tuple[Path, Any]) -> None:
    site, _ = built
    rows = parse(site / "index.html").rows
    # columns: rank, model, samples, pass rate, pass@1, pass@k, mean score, judge mean,
    # judge best-of-n, arena, latency, ttft, tokens, cost
    a, b = rows["model-a"], rows["model-b"]
    assert float(a[3]) == pytest.approx(2 / 5)
    assert float(a[4]) == pytest.approx((2 / 3 + 0 / 2) / 2)
    k2 = (pass_at_k(3, 2, 2) + pass_at_k(2, 0, 2)) / 2
    assert float(a[5]) == pytest.approx(k2) == pytest.approx(0.5)
    assert a[7] == a[8] == a[9] == ""  # no vision judge scored this run, no votes
    assert float(a[10]) == pytest.approx(20.0)  # median latency over 10, 20, 30, 10, 20
    assert float(a[13]) == pytest.approx(0.010)
    # model-b: a failed request counts as a failure; the unrendered sample is not judged
    assert float(b[3]) == pytest.approx(1 / 4)
    assert float(b[4]) == pytest.approx((1 / 3 + 0) / 2)
    assert float(b[5]) == pytest.approx((1 / 3 + 0) / 2)  # k = 1 (one judged clock sample)
    html = (site / "index.html").read_text()
    board = html[html.index('id="board"') :]
    b_row = board[board.index('data-model="model-b"') :]
    assert "incomplete" in b_row[: b_row.index("</tr>")]
    a_row = board[board.index('data-model="model-a"') :]
    assert "incomplete" not in a_row[: a_row.index("</tr>")]


def test_pass_at_k_estimator() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(4, 1, 4) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_model_text_is_escaped(built: tuple[Path, Any]) -> None:
    site, _ = built
    path = site / "s/bounce/model-b/3/index.html"
    html = path.read_text()
    page = parse(path)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in page.all_text  # shown as text, whole
    assert [a.get("src") for a in page.find("script")] == ["../../../../static/app.js"]
    assert "".join(page.scripts).strip() == ""
    assert not page.find("b") and not page.find("i")
    assert not [a for a in page.find("img") if a.get("src") == "x"]  # console text stays text
    for rel in ("p/bounce.html", "run.html", "s/bounce/model-a/1/index.html",
                "s/clock/model-b/1/index.html", "s/bounce/model-b/1/index.html"):  # fmt: skip
        p = parse(site / rel)
        assert len(p.find("script")) == 1, rel
        assert not p.find("b") and not p.find("i"), rel
    assert "<b>bold</b>" in parse(site / "p/bounce.html").all_text
    assert "I think <i>" in parse(site / "s/bounce/model-a/1/index.html").all_text
    assert "HTTP 500 <oops>" in parse(site / "s/bounce/model-b/1/index.html").all_text


def test_sample_page_content(built: tuple[Path, Any]) -> None:
    site, _ = built
    page = parse(site / "s/bounce/model-a/1/index.html")
    text = page.all_text
    for words in ("runs ok", "animates ok", "failed <because>", "TypeError: x is undefined",
                  "https://evil.example/x.js", "not a known CDN", "Uncaught <img src=x",
                  "closed popups", "popup https://sandbox.gallery.test/about.html closed",
                  "1,001 out", "10.0 s", "500 ms", "$0.0020", "index.html", "style.css",
                  "Raw reply", "Reasoning",
                  "rendered again (the page stopped answering in the shared browser (<b>stall"):  # fmt: skip
        assert words in text, words
    imgs = [a["src"] for a in page.find("img")]
    assert imgs == ["preview.webp", "shots/000.50s.png", "shots/002.00s.png", "shots/005.00s.png"]
    assert all(a.get("alt") for a in page.find("img"))
    rels = {a.get("rel"): a["href"] for a in page.find("a") if a.get("rel")}
    assert rels == {"prev": "../../../../s/bounce/reference/1/index.html",
                    "next": "../../../../s/bounce/model-a/2/index.html"}  # fmt: skip
    assert 'class="hl"' in (site / "s/bounce/model-a/1/index.html").read_text()  # pygments
    java = parse(site / "s/clock/model-b/1/index.html")
    assert "Clock.java" in java.all_text and 'String s = "</script>"' in java.all_text
    assert not java.find("iframe") and "No page to run." in java.all_text
    waiting = parse(site / "s/clock/model-b/2/index.html").all_text
    assert "not rendered yet" in waiting
    css = (site / "static/pygments.css").read_text()
    assert ".hl" in css and "prefers-color-scheme: dark" in css


def test_iframes_are_sandboxed(built: tuple[Path, Any]) -> None:
    site, _ = built
    frames = []
    for page in site.glob("s/*/*/*/index.html"):
        for attrs in parse(page).find("iframe"):
            frames.append(attrs)
            assert attrs["sandbox"] == "allow-scripts"
            assert attrs["src"] == "artifact/index.html"
            assert attrs.get("title")
            assert (page.parent / attrs["src"]).is_file()
    assert len(frames) == 10  # every runnable sample; not the failed or java-only ones
    assert not (site / "s/clock/model-b/1/artifact/_sources").exists()


def test_links_are_relative_and_resolve(built: tuple[Path, Any]) -> None:
    site, _ = built
    refs = local_refs(site)
    assert len(refs) > 100
    broken = []
    for page, what, value in refs:
        parts = urlsplit(value)
        assert not parts.scheme and not parts.netloc, (page, what, value)
        assert not value.startswith("/"), (page, what, value)
        if not parts.path:
            continue  # an in-page #fragment
        target = (page.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(site.resolve()) or not target.is_file():
            broken.append((page.relative_to(site), value))
    assert broken == []


def test_run_page_shows_manifest_and_compare(tmp_path: Path) -> None:
    run, catalogue, config = make_run(tmp_path)
    base = Store(tmp_path / "outputs").new_run("base")
    shutil.copytree(run.path, base.path, dirs_exist_ok=True)
    flip = base.path / "bounce/model-a/2/verdict.json"
    flip.write_text(json.dumps(verdict({"runs": True, "animates": True})))
    shutil.rmtree(base.path / "clock/model-b/2")
    compare = site_view(compare_runs(base, run, write_diffs=False))
    # the one regression rule decides: animates failed in base and passes now (an
    # improvement), clock/model-b/2 is new; a hostile label is shown as text
    compare["regressions"].append({"sample": "<script>x</script>", "check": "runs"})
    build_site(run, catalogue, config, tmp_path / "site", compare=compare)
    page = parse(tmp_path / "site/run.html")
    text = page.all_text
    for words in ("finished", "2025-01-01 00:00 UTC", "vendor/model-a", "https://api.example.test/v1",
                  "temperature", "You are an expert. </pre><script>alert(2)</script>", "$0.0123",
                  "incomplete", "improvements", "bounce/model-a/2", "clock/model-b/2",
                  "Comparison", "<script>x</script>", "regressions"):  # fmt: skip
        assert words in text, words
    assert len(page.find("script")) == 1


def test_empty_manifest_and_bare_samples(tmp_path: Path) -> None:
    run = Store(tmp_path / "outputs").new_run("bare")
    run.write_sample(SampleKey("unknown-prompt", "somebody", 1), {"reply.json": "{}"})
    report = build_site(run, {}, None, tmp_path / "site")
    text = parse(report.index).all_text
    assert "unknown-prompt" in text and "somebody" in text and "no page" in text
    assert (tmp_path / "site/s/unknown-prompt/somebody/1/index.html").is_file()


# --- incremental ----------------------------------------------------------------------


def test_incremental_rebuild(tmp_path: Path) -> None:
    run, catalogue, config = make_run(tmp_path)
    site = tmp_path / "site"
    first = build_site(run, catalogue, config, site)
    assert len(first.written) == 23 and first.copied > 0

    again = build_site(run, catalogue, config, site)
    assert (again.written, again.copied, again.removed) == ([], 0, 0)
    assert again.unchanged == 23

    # one verdict changes: that sample's page, the pages that show it (its prompt, the
    # index, the other samples of its cell, which colour their links by result)
    (run.path / "bounce/model-a/2/verdict.json").write_text(
        json.dumps(verdict({"runs": True, "animates": True}))
    )
    changed = build_site(run, catalogue, config, site)
    assert sorted(changed.written) == [
        "index.html",
        "p/bounce.html",
        "s/bounce/model-a/1/index.html",
        "s/bounce/model-a/2/index.html",
        "s/bounce/model-a/3/index.html",
    ]
    assert changed.copied == 0

    # an artifact file changes: copied, and its page shows the new source
    (run.path / "clock/model-a/1/artifact/style.css").write_text("body { color: red; }\n")
    art = build_site(run, catalogue, config, site)
    assert art.copied == 1 and art.written == ["s/clock/model-a/1/index.html"]
    assert "red" in (site / "s/clock/model-a/1/artifact/style.css").read_text()

    # a sample disappears: its page and copies go, neighbours' links follow
    shutil.rmtree(run.path / "clock/model-a/2")
    gone = build_site(run, catalogue, config, site)
    assert not (site / "s/clock/model-a/2").exists()
    assert gone.removed >= 5  # page, 2 artifact files, 3 shots, preview
    assert "s/clock/model-b/1/index.html" in gone.written  # its "previous" link moved
    assert build_site(run, catalogue, config, site).written == []


def test_highlighting_is_read_from_the_shared_cache(tmp_path: Path, monkeypatch) -> None:
    """Rendering highlights each page into ``<out>/cache/highlight``; a build of a
    run in that store then runs no pygments at all, into any site folder."""
    run, catalogue, config = make_run(tmp_path)
    cache = tmp_path / "outputs" / "cache" / "highlight"
    warmed = sum(highlight.warm(s.path, s.reply, cache) for s in run.samples())
    assert warmed > 0
    assert sum(highlight.warm(s.path, s.reply, cache) for s in run.samples()) == 0

    def no_pygments(name: str, text: str):
        raise AssertionError(f"highlighted {name} during the build")

    monkeypatch.setattr(highlight, "highlight_source", no_pygments)
    for site in (tmp_path / "site", tmp_path / "elsewhere"):
        build_site(run, catalogue, config, site)
        page = (site / "s/clock/model-a/1/index.html").read_text()
        assert '<div class="hl">' in page and "style.css" in page
        assert not (site / ".gallery" / "highlight").exists()

    # the cache is keyed by content: an edited file is highlighted again
    (run.path / "clock/model-a/1/artifact/style.css").write_text("body { color: red; }\n")
    with pytest.raises(AssertionError, match="highlighted style.css"):
        build_site(run, catalogue, config, tmp_path / "site")


# --- command line --------------------------------------------------------------------


def test_cli_build_and_serve_errors(tmp_path: Path) -> None:
    make_run(tmp_path)
    args = ["--config", str(tmp_path / "gallery.toml"), "--prompts", str(tmp_path / "prompts"),
            "--out", str(tmp_path / "outputs"), "--site", str(tmp_path / "site")]  # fmt: skip
    result = CliRunner().invoke(cli, ["build", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "site" / "index.html")
    assert (tmp_path / "site/index.html").is_file()
    missing = CliRunner().invoke(cli, ["serve", "--site", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "gallery build" in missing.output
    norun = CliRunner().invoke(cli, ["build", *args, "--run", "nope"])
    assert norun.exit_code == 2
