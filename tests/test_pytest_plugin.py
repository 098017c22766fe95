"""The pytest plugin through ``pytester``: stored samples as items, selection, re-rendering.

The plugin is loaded by its ``pytest11`` entry point, as in a user's session.
Hand-made runs (``tests/test_compare.py``'s helpers) cover outcomes, names,
``-k`` and ``-m``; one test renders a tiny real page to cover
``--gallery-rerender`` and the issue's "done when" for ``pytest --gallery latest``.
"""

from __future__ import annotations

import json
import shutil

import pytest
from test_compare import BROKEN, OK, PAGE, TINY_TOML, judge, new_run, tiny_prompt, write_sample

from gallery.records.store import Run, SampleKey

pytest_plugins = ["pytester"]


def gallery_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner pytest session in this process, without pytest-playwright.

    pytest-playwright keeps its soft-assertion scope in a module global that does
    not nest, so an in-process session inside this test cannot load it; the
    rerender test, which needs its fixtures, runs pytest in a subprocess instead.
    """
    return pytester.runpytest("-p", "no:playwright", *args)


@pytest.fixture
def run(pytester: pytest.Pytester) -> Run:
    """outputs/runs/r1 in the pytester folder: 2 pass, 1 fails a check, 1 is not judged."""
    run = new_run(pytester.path / "outputs", "r1", "2025-01-01T00:00:00+00:00")
    write_sample(run, "hexagon/model-a/1", OK)
    write_sample(run, "hexagon/model-a/2", {**OK, "runs": False, "canvas": False})
    write_sample(run, "hexagon/model.b/1", {**OK, "accessible": False}, optional=("accessible",))
    write_sample(run, "landing/model-a/1", OK, verdict=False)
    return run


def test_each_sample_is_an_item_failing_with_its_reasons(
    pytester: pytest.Pytester, run: Run
) -> None:
    result = gallery_pytest(pytester, "--gallery", "latest", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "gallery::hexagon/model-a/1 PASSED*",
            "gallery::hexagon/model-a/2 FAILED*",
            "gallery::hexagon/model.b/1 PASSED*",  # a failing optional check does not fail it
            "gallery::landing/model-a/1 FAILED*",
            "hexagon/model-a/2 (outputs/runs/r1/hexagon/model-a/2):",
            "failed checks:",
            "  runs: runs broke*",
            "  canvas: canvas broke*",
            "*not judged: no verdict.json*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_against_the_recorded_baseline_only_regressions_fail(
    pytester: pytest.Pytester, run: Run
) -> None:
    """With a baseline recorded, a sample failing as it failed there is xfail; one that
    lost a check it passed there fails, naming it; a sample the baseline lacks is
    judged on its own; ``--gallery-baseline none`` judges every sample on its own."""
    from gallery.compare.baseline import set_baseline
    from gallery.records.store import Store

    head = new_run(pytester.path / "outputs", "r2", "2025-01-02T00:00:00+00:00")
    write_sample(head, "hexagon/model-a/1", {**OK, "canvas": False})  # regressed
    write_sample(head, "hexagon/model-a/2", {**OK, "runs": False, "canvas": False})  # as before
    write_sample(head, "hexagon/model.b/1", OK)
    write_sample(head, "landing/model-a/1", OK)  # not judged in the baseline: on its own
    write_sample(head, "landing/model-a/2", {**OK, "runs": False})  # new and failing
    set_baseline(Store(pytester.path / "outputs"), run)

    result = gallery_pytest(pytester, "--gallery", "latest", "-v", "-rx")
    result.assert_outcomes(passed=2, failed=2, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "gallery: regressions against baseline r1",
            "gallery::hexagon/model-a/1 FAILED*",
            "gallery::hexagon/model-a/2 XFAIL*",
            "gallery::hexagon/model.b/1 PASSED*",
            "gallery::landing/model-a/1 PASSED*",
            "gallery::landing/model-a/2 FAILED*",
            "hexagon/model-a/1 (*):",
            "regressed against baseline r1 (passed there, fails now):",
            "  canvas: canvas broke*",
            "landing/model-a/2 (*):",
            "failed checks:",
            "XFAIL gallery::hexagon/model-a/2 - fails as in the baseline: runs: runs broke*",
        ]
    )
    alone = gallery_pytest(pytester, "--gallery", "latest", "--gallery-baseline", "none")
    alone.assert_outcomes(passed=2, failed=3)
    assert "regressions against" not in alone.stdout.str()
    # the baseline run itself is judged on its own
    gallery_pytest(pytester, "--gallery", "r1").assert_outcomes(passed=2, failed=2)
    bad = gallery_pytest(pytester, "--gallery", "latest", "--gallery-baseline", "nope")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--gallery-baseline: *nope*"])


def test_run_by_path_and_by_id(pytester: pytest.Pytester, run: Run) -> None:
    gallery_pytest(pytester, "--gallery", str(run.path)).assert_outcomes(passed=2, failed=2)
    elsewhere = pytester.path / "elsewhere"
    shutil.move(pytester.path / "outputs", elsewhere)
    gallery_pytest(pytester, "--gallery", "r1", "--gallery-out", str(elsewhere)).assert_outcomes(
        passed=2, failed=2
    )
    result = gallery_pytest(pytester, "--gallery", "nope", "--gallery-out", str(elsewhere))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gallery: no run 'nope'*"])


def test_k_and_markers_select(pytester: pytest.Pytester, run: Run) -> None:
    gallery_pytest(pytester, "--gallery", "latest", "-k", "model-a").assert_outcomes(
        passed=1, failed=2
    )
    gallery_pytest(pytester, "--gallery", "latest", "-k", "hexagon and not 2").assert_outcomes(
        passed=2
    )
    only = gallery_pytest(pytester, "--gallery", "latest", "-k", "hexagon/model-a/2")
    only.assert_outcomes(failed=1)
    gallery_pytest(pytester, "--gallery", "latest", "-m", "prompt_landing").assert_outcomes(
        failed=1
    )
    gallery_pytest(
        pytester, "--gallery", "latest", "--strict-markers", "-m", "model_model_b or model_model_a"
    ).assert_outcomes(passed=2, failed=2)
    gallery_pytest(pytester, "--gallery", "latest", "-m", "not model_model_a").assert_outcomes(
        passed=1
    )


def test_collect_only_node_ids(pytester: pytest.Pytester, run: Run) -> None:
    result = gallery_pytest(pytester, "--gallery", "latest", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "gallery::hexagon/model-a/1",
            "gallery::hexagon/model-a/2",
            "gallery::hexagon/model.b/1",
            "gallery::landing/model-a/1",
            "4 tests collected*",
        ]
    )


def test_plugin_leaves_other_sessions_alone(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    gallery_pytest(pytester).assert_outcomes(passed=1)  # no --gallery: only the project's tests
    gallery_pytest(pytester, "--gallery", "latest").assert_outcomes(passed=2, failed=2)
    both = gallery_pytest(pytester, "--gallery", "latest", "test_plain.py")  # named paths still run
    both.assert_outcomes(passed=3, failed=2)


def stored_verdict(passed: bool) -> str:
    """A verdict as ``gallery render`` writes it for the tiny prompt's three checks."""
    detail = "ok" if passed else "uncaught error: undefinedFunction is not defined"
    checks = [
        {
            "name": n,
            "kind": n,
            "passed": passed or n == "canvas",
            "required": True,
            "detail": detail,
        }
        for n in ("runs", "canvas", "clean-console")
    ]
    return json.dumps({"passed": passed, "score": 1.0 if passed else 0.3333, "checks": checks})


def test_rerender_and_done_when(pytester: pytest.Pytester) -> None:
    """Real Chromium: ``--gallery-rerender`` catches a page that no longer passes
    what its stored verdict says it passed; then the issue's "done when" for
    ``pytest --gallery latest``: after a rerun it fails on exactly the broken sample.

    The stored verdicts are written by hand (as if rendered before the page broke),
    so this test launches Chromium twice: the rerender session and the rerun.
    ``test_compare.py`` renders the passing page, the broken one and the revert.
    """
    from gallery.render.stage import render_run

    (pytester.path / "prompts").mkdir()
    (pytester.path / "prompts/tiny.toml").write_text(TINY_TOML)
    run = new_run(pytester.path / "outputs", "real", "2025-01-01T00:00:00+00:00")
    # 2 passed in the run and has broken since; 3 was always broken
    for n, html, passed in ((1, PAGE, True), (2, BROKEN, True), (3, BROKEN, False)):
        run.write_sample(
            SampleKey("tiny", "reference", n),
            {
                "reply.json": '{"status": "ok"}',
                "artifact/index.html": html,
                "verdict.json": stored_verdict(passed),
            },
        )

    result = pytester.runpytest_subprocess("--gallery", "latest", "--gallery-rerender", "-rx")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*tiny/reference/2*",
            "no longer passes after re-rendering:",
            "  runs: uncaught error*",
            "XFAIL gallery::tiny/reference/3 - fails as in the run: runs: uncaught error*",
        ]
    )
    before = gallery_pytest(pytester, "--gallery", "latest", "-v")  # the stored verdicts
    before.assert_outcomes(passed=2, failed=1)

    render_run(run, {"tiny": tiny_prompt()})  # the rerun
    after = gallery_pytest(pytester, "--gallery", "latest", "-v")
    after.assert_outcomes(passed=1, failed=2)

    def failing(result: pytest.RunResult) -> set[str]:
        return {ln.split()[0] for ln in result.outlines if ln.endswith("%]") and "FAILED" in ln}

    assert failing(after) - failing(before) == {"gallery::tiny/reference/2"}
    after.stdout.fnmatch_lines(["*tiny/reference/2*", "failed checks:", "  runs: uncaught error*"])


def test_fail_on_judge_fails_a_sample_whose_judge_score_fell(
    pytester: pytest.Pytester, run: Run
) -> None:
    from gallery.compare.baseline import set_baseline
    from gallery.records.store import Store

    head = new_run(pytester.path / "outputs", "r2", "2025-01-02T00:00:00+00:00")
    write_sample(head, "hexagon/model-a/1", OK)
    judge(run, "hexagon/model-a/1", 0.9)
    judge(head, "hexagon/model-a/1", 0.4)
    set_baseline(Store(pytester.path / "outputs"), run)
    one = ("--gallery", "latest", "-k", "hexagon and model-a and 1")
    gallery_pytest(pytester, *one).assert_outcomes(passed=1)  # a judge drop alone: not a failure
    strict = gallery_pytest(pytester, *one, "--gallery-fail-on-judge")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(
        ["*the vision judge's score fell from 0.90 in baseline r1 to 0.40*"]
    )
    loose = ("--gallery-fail-on-judge", "--gallery-judge-threshold", "0.6")
    gallery_pytest(pytester, *one, *loose).assert_outcomes(passed=1)
