"""The labelled corpus (tests/fixtures/pages): every expected verdict holds.

All pages render once, together, in one Chromium (as a real run does); each
labelled check is then its own test, so a failure names the page and check.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gallery.aio import run_sync
from gallery.catalogue.prompts import STANDARD_CHECKS, parse_prompt
from gallery.checks.judge import judge
from gallery.render.libs import LibCache
from gallery.render.sandbox import Renderer

PAGES = Path(__file__).parent / "fixtures" / "pages"
EXPECTED: dict[str, Any] = (
    tomllib.loads((PAGES / "expected.toml").read_text())["pages"]
    if (PAGES / "expected.toml").exists()
    else {}
)


def prompt_for(name: str, entry: dict[str, Any]):
    """A prompt that asks for exactly the checks the label speaks of."""
    checks = [{"kind": k} for k in STANDARD_CHECKS if k in entry.get("expect", {})]
    checks += entry.get("checks", [])
    data = {"id": name, "title": name, "prompt": entry.get("description", name), "checks": checks}
    if entry.get("interact"):
        data["interact"] = entry["interact"]
    # Room to finish on a loaded machine; a page that hangs on purpose says less.
    data["render"] = {"budget": entry.get("budget", 25.0)}
    return parse_prompt(data, PAGES / f"{name}.html")


@pytest.fixture(scope="session")
def corpus_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("corpus")
    jobs = []
    for name, entry in EXPECTED.items():
        d = root / name
        d.mkdir()
        (d / "index.html").write_bytes((PAGES / f"{name}.html").read_bytes())
        jobs.append((name, d, prompt_for(name, entry)))

    async def run_all() -> dict[str, dict[str, Any]]:
        async with Renderer(libs=LibCache()) as renderer:
            sem = asyncio.Semaphore(4)

            async def one(name, d, prompt):
                async with sem:
                    result = await renderer.render(d, prompt)
                return name, {
                    "verdict": judge(result.observation, prompt.checks),
                    "obs": result.observation,
                }

            return dict(await asyncio.gather(*(one(*j) for j in jobs)))

    return run_sync(run_all())


CASES = [
    (name, check, want)
    for name, entry in EXPECTED.items()
    for expect in (entry.get("expect", {}), entry.get("expect_checks", {}))
    for check, want in expect.items()
]


def test_corpus_is_big_enough() -> None:
    assert len(EXPECTED) >= 30
    assert {p.stem for p in PAGES.glob("*.html")} == set(EXPECTED)


@pytest.mark.parametrize(("page", "check", "want"), CASES, ids=[f"{p}-{c}" for p, c, _ in CASES])
def test_expected_verdict(
    corpus_verdicts: dict[str, dict[str, Any]], page: str, check: str, want: bool
) -> None:
    result = corpus_verdicts[page]
    checks = {c["name"]: c for c in result["verdict"]["checks"]}  # standard checks: name == kind
    got = checks[check]
    assert got["passed"] is want, (
        f"{page}: {check} -> {got['detail']} (status {result['obs']['status']})"
    )


def test_a_tab_opened_by_a_click_is_recorded_and_the_page_still_judged(
    corpus_verdicts: dict[str, dict[str, Any]],
) -> None:
    # The tab's first request has no frame in Playwright; left unanswered, the page that
    # opened it often drew no frame again and was recorded "hung".
    obs = corpus_verdicts["new-tab-link"]["obs"]
    assert obs["status"] == "ok", obs["detail"]
    popup = {"url": "https://example.com/signup", "reason": "a popup outside the sandbox"}
    assert obs["requests"]["blocked"] == [popup]
