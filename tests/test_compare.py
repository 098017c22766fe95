"""``gallery compare`` and the baseline: hand-made pairs of runs, then real renders.

Most tests write runs by hand (``reply.json``, ``verdict.json`` and Pillow
screenshots in the store's layout), so they need no browser. The last ones
render a tiny real page: twice unchanged (exactly zero visual difference), and
once with its script broken (exit 1 naming the sample and check), then reverted.
"""

from __future__ import annotations

import io
import json
import shutil
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gallery.catalogue.prompts import parse_prompt
from gallery.cli import cli
from gallery.compare.baseline import read_baseline
from gallery.compare.report import site_comparison
from gallery.compare.rule import compare_runs
from gallery.records.fsutil import write_json
from gallery.records.store import Run, SampleKey, Store
from gallery.site.build import build_site

SHOTS = ("000.50s.png", "002.00s.png")


def shot(x: int = 20, *, bg: tuple[int, int, int] = (20, 30, 60), dot: bool = False) -> bytes:
    """A 160x90 frame with a ball at ``x``; ``dot`` adds one changed pixel."""
    img = Image.new("RGB", (160, 90), bg)
    ImageDraw.Draw(img).ellipse((x, 30, x + 30, 60), fill=(255, 200, 0))
    if dot:
        img.putpixel((0, 0), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def write_sample(
    run: Run,
    label: str,
    checks: dict[str, bool],
    *,
    optional: tuple[str, ...] = (),
    shots: dict[str, bytes] | None = None,
    verdict: bool = True,
) -> None:
    """A sample ``prompt/model/n`` with a verdict built from ``checks`` and two screenshots."""
    prompt, model, n = label.split("/")
    rows = [
        {
            "name": name,
            "kind": name,
            "passed": ok,
            "required": name not in optional,
            "detail": f"{name} {'ok' if ok else 'broke: <b>x</b> | y'}",
        }
        for name, ok in checks.items()
    ]
    files: dict[str, Any] = {
        "reply.json": json.dumps({"status": "ok", "prompt": prompt, "model": model}),
        "artifact/index.html": "<p>hi</p>",
    }
    if verdict:
        files["verdict.json"] = json.dumps(
            {
                "passed": all(r["passed"] for r in rows if r["required"]),
                "score": round(sum(r["passed"] for r in rows) / len(rows), 4),
                "checks": rows,
            }
        )
    for name, data in (shots if shots is not None else {s: shot() for s in SHOTS}).items():
        files[f"shots/{name}"] = data
    run.write_sample(SampleKey(prompt, model, int(n)), files)


def new_run(out: Path, run_id: str, started: str) -> Run:
    run = Store(out).new_run(run_id)
    run.save_manifest({"id": run_id, "started_at": started, "status": "finished"})
    return run


OK = {"runs": True, "canvas": True, "clean-console": True}


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Run, Run]:
    """Two identical runs of three samples; tests then change ``head``."""
    out = tmp_path / "outputs"
    base = new_run(out, "base", "2025-01-01T00:00:00+00:00")
    head = new_run(out, "head", "2025-01-02T00:00:00+00:00")
    for run in (base, head):
        write_sample(run, "hexagon/model-a/1", OK)
        write_sample(run, "hexagon/model-a/2", {**OK, "runs": False})
        write_sample(run, "landing/model-b/1", {**OK, "accessible": True}, optional=("accessible",))
    return base, head


def invoke(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["compare", "--out", str(tmp_path / "outputs"), *args])


def test_identical_runs_exit_0_with_zero_visual_difference(
    tmp_path: Path, pair: tuple[Run, Run]
) -> None:
    base, head = pair
    c = compare_runs(base, head, pixel_threshold=0)
    assert not c.regressed and c.exit_code == 0
    assert c.regressions == c.improvements == c.visual_changes == c.missing == c.new == []
    assert all(s.ratio == 0.0 for d in c.samples for s in d.shots)
    assert len(c.samples) == 3 and all(len(d.shots) == 2 for d in c.samples)
    result = invoke(tmp_path, "base", "head")
    assert result.exit_code == 0, result.output
    assert "ok: 0 regression(s)" in result.output


def test_a_baseline_kept_without_screenshots_compares_verdicts_only(
    pair: tuple[Run, Run],
) -> None:
    """The committed baseline keeps verdicts, not images: no pixels to compare, no
    visual change reported; verdict regressions are still found."""
    import shutil

    base, head = pair
    for shots in base.path.glob("*/*/*/shots"):
        shutil.rmtree(shots)
    write_sample(head, "hexagon/model-a/1", {**OK, "canvas": False})
    c = compare_runs(base, head)
    assert c.visual_changes == [] and all(d.shots == [] for d in c.samples)
    assert [(s.key.label, ch.name) for s, ch in c.regressions] == [("hexagon/model-a/1", "canvas")]


def test_regression_exit_1_names_sample_and_check(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/1", {**OK, "clean-console": False})
    c = compare_runs(base, head)
    assert [(s.key.label, ch.name) for s, ch in c.regressions] == [
        ("hexagon/model-a/1", "clean-console")
    ]
    assert c.samples[0].score_change == pytest.approx(-1 / 3, abs=1e-3)
    result = invoke(tmp_path, "base", "head")
    assert result.exit_code == 1
    assert "REGRESSION  hexagon/model-a/1  clean-console: clean-console broke" in result.output
    # HEAD defaults to the latest run
    assert invoke(tmp_path, "base").exit_code == 1


def test_improvement_and_score_change(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/2", OK)
    c = compare_runs(base, head)
    assert [(s.key.label, ch.name) for s, ch in c.improvements] == [("hexagon/model-a/2", "runs")]
    assert not c.regressed
    group = next(g for g in c.groups() if g.prompt == "hexagon")
    assert (group.base_passed, group.head_passed, group.head_samples) == (1, 2, 2)
    result = invoke(tmp_path, "base", "head")
    assert result.exit_code == 0 and "improved    hexagon/model-a/2  runs" in result.output


def test_optional_check_regression_is_reported_not_failed(
    tmp_path: Path, pair: tuple[Run, Run]
) -> None:
    base, head = pair
    write_sample(head, "landing/model-b/1", {**OK, "accessible": False}, optional=("accessible",))
    c = compare_runs(base, head)
    assert c.regressions == [] and len(c.optional_regressions) == 1
    assert not c.regressed
    result = invoke(tmp_path, "base", "head")
    assert result.exit_code == 0 and "optional    landing/model-b/1  accessible" in result.output


def test_visual_change_writes_a_diff_image(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    moved = {SHOTS[0]: shot(), SHOTS[1]: shot(x=90)}
    write_sample(head, "hexagon/model-a/1", OK, shots=moved)
    # below the per-pixel threshold (a background shift of 10/255) and below the ratio (1 pixel)
    write_sample(
        head,
        "landing/model-b/1",
        {**OK, "accessible": True},
        optional=("accessible",),
        shots={SHOTS[0]: shot(bg=(30, 40, 70)), SHOTS[1]: shot(dot=True)},
    )
    c = compare_runs(base, head)
    assert [(s.key.label, v.name) for s, v in c.visual_changes] == [("hexagon/model-a/1", SHOTS[1])]
    changed = c.visual_changes[0][1]
    assert changed.ratio > 0.05
    assert changed.diff_image == head.path / "hexagon/model-a/1/diff" / SHOTS[1]
    assert Image.open(changed.diff_image).size == (160, 90)
    landing = next(s for s in c.samples if s.key.prompt == "landing")
    assert landing.shots[0].ratio == 0.0 and 0 < landing.shots[1].ratio < 0.001
    # stricter thresholds see both; a visual change alone is not a regression
    strict = compare_runs(
        base, head, pixel_threshold=0.01, max_diff_ratio=0, diff_dir=tmp_path / "d"
    )
    assert len(strict.visual_changes) == 3 and not strict.regressed
    assert (tmp_path / "d/landing/model-b/1" / SHOTS[0]).is_file()
    result = invoke(tmp_path, "base", "head", "--max-diff-ratio", "0.5")
    assert result.exit_code == 0 and "visual" not in result.output.replace("visual change(s)", "")
    # once the page is back, the stale diff image goes
    write_sample(head, "hexagon/model-a/1", OK)
    (head.path / "hexagon/model-a/1/diff").mkdir()
    (head.path / "hexagon/model-a/1/diff" / SHOTS[1]).write_bytes(b"stale")
    assert compare_runs(base, head).visual_changes == []
    assert not (head.path / "hexagon/model-a/1/diff").exists()


def test_missing_and_new_samples(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    shutil.rmtree(head.path / "hexagon/model-a/2")  # failed in base: reported, not a regression
    write_sample(head, "hexagon/model-c/1", OK)
    c = compare_runs(base, head)
    assert [s.key.label for s in c.missing] == ["hexagon/model-a/2"]
    assert [s.key.label for s in c.new] == ["hexagon/model-c/1"]
    assert not c.regressed
    assert invoke(tmp_path, "base", "head").exit_code == 0
    shutil.rmtree(head.path / "hexagon/model-a/1")  # passed in base: a regression
    result = invoke(tmp_path, "base", "head")
    assert result.exit_code == 1
    assert "REGRESSION  hexagon/model-a/1  passed in base, missing from head" in result.output
    assert "new         hexagon/model-c/1" in result.output


def test_unjudged_head_sample_that_passed_is_a_regression(
    tmp_path: Path, pair: tuple[Run, Run]
) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/1", OK, verdict=False)
    c = compare_runs(base, head)
    assert c.samples[0].status == "unjudged" and c.regressed


def test_json_output(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/1", {**OK, "runs": False})
    result = invoke(tmp_path, "base", "head", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["base"]["id"] == "base" and data["summary"]["regressions"] == 1
    first = data["samples"][0]
    assert first["sample"] == "hexagon/model-a/1" and first["regressions"] == ["runs"]
    assert data["settings"] == {
        "pixel_threshold": 0.1,
        "max_diff_ratio": 0.001,
        "judge_threshold": 0.2,
        "fail_on_judge": False,
    }
    bad = invoke(tmp_path, "base", "head", "--pixel-threshold", "25")
    assert bad.exit_code == 2 and "--pixel-threshold: must be between 0 and 1" in bad.output


def test_junit_is_valid_and_has_one_case_per_check(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/1", {**OK, "runs": False})
    shutil.rmtree(head.path / "landing/model-b/1")
    out = tmp_path / "reports/junit.xml"
    result = invoke(tmp_path, "base", "head", "--junit", str(out))
    assert result.exit_code == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 3 + 3 + 4  # every check of every sample
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    regression = by_name[("hexagon.model-a", "sample 1: runs")].find("failure")
    assert regression is not None and regression.get("type") == "regression"
    assert "broke" in regression.get("message")
    old_failure = by_name[("hexagon.model-a", "sample 2: runs")].find("failure")
    assert old_failure is not None and old_failure.get("type") == "failing"
    assert by_name[("hexagon.model-a", "sample 1: canvas")].find("failure") is None
    lost = by_name[("landing.model-b", "sample 1: runs")].find("failure")
    assert lost is not None and "missing" in lost.get("message")
    assert by_name[("landing.model-b", "sample 1: accessible")].find("skipped") is not None
    failures = sum(c.find("failure") is not None for c in cases)
    skipped = sum(c.find("skipped") is not None for c in cases)
    assert suite.get("tests") == "10" and suite.get("failures") == str(failures) == "5"
    assert suite.get("skipped") == str(skipped) == "1"


def test_markdown_summary(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    base, head = pair
    write_sample(head, "hexagon/model-a/1", {**OK, "canvas": False}, shots={SHOTS[0]: shot(x=80)})
    write_sample(head, "hexagon/model-a/2", OK)
    result = invoke(tmp_path, "base", "head", "--markdown")
    assert result.exit_code == 1
    md = result.output
    assert md.startswith("## gallery compare: `base` → `head` — ❌ regressions")
    assert (
        "| `hexagon/model-a/1` | canvas | required | canvas broke: &lt;b&gt;x&lt;/b&gt; \\| y |"
        in md
    )
    order = [md.index(h) for h in ("### Regressions", "### Improvements", "### Visual changes")]
    assert order == sorted(order)
    assert "| `hexagon/model-a/1` | 002.00s.png | missing |" in md
    assert "| hexagon | model-a | 1/2 | 1/2 |" in md
    assert invoke(tmp_path, "base", "head", "--markdown", "--json").exit_code == 2


def test_baseline_set_and_default_base(tmp_path: Path, pair: tuple[Run, Run]) -> None:
    out = tmp_path / "outputs"
    result = invoke(tmp_path)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "gallery baseline set" in result.output
    base, head = pair
    set_result = CliRunner().invoke(cli, ["baseline", "set", "base", "--out", str(out)])
    assert set_result.exit_code == 0, set_result.output
    data = json.loads((out / "baseline.json").read_text())
    assert data["run"] == "base" and data["samples"] == 3 and data["passed"] == 2
    assert "set_at" in data
    assert read_baseline(Store(out)).id == "base"
    write_sample(head, "hexagon/model-a/1", {**OK, "runs": False})
    result = invoke(tmp_path)  # baseline -> latest
    assert result.exit_code == 1 and "base -> head" in result.output
    assert invoke(tmp_path, "baseline", "base").exit_code == 0
    # a path works too, and a baseline whose run is gone is a one-line exit 2
    assert invoke(tmp_path, str(base.path), str(head.path)).exit_code == 1
    write_json(out / "baseline.json", {"run": "gone"})
    result = invoke(tmp_path)
    assert result.exit_code == 2 and "baseline run 'gone'" in result.output
    bad = CliRunner().invoke(cli, ["baseline", "set", "nope", "--out", str(out)])
    assert bad.exit_code == 2 and "no run 'nope'" in bad.output


def test_run_page_shows_the_comparison_with_the_baseline(
    tmp_path: Path, pair: tuple[Run, Run]
) -> None:
    base, head = pair
    store = Store(tmp_path / "outputs")
    assert site_comparison(store, head) is None
    write_sample(head, "hexagon/model-a/1", {**OK, "canvas": False})
    CliRunner().invoke(cli, ["baseline", "set", "base", "--out", str(store.out)])
    comparison = site_comparison(store, head)
    assert comparison["baseline"] == "base" and comparison["summary"]["regressions"] == 1
    assert site_comparison(store, base) is None  # the baseline itself
    build_site(head, {}, None, tmp_path / "site", compare=comparison)
    page = (tmp_path / "site/run.html").read_text()
    assert "Comparison with baseline <code>base</code>" in page
    assert "hexagon/model-a/1" in page and "canvas broke" in page
    assert not (head.path / "hexagon/model-a/1/diff").exists()  # the site build writes no diffs
    result = CliRunner().invoke(
        cli,
        ["build", "--out", str(store.out), "--site", str(tmp_path / "site2"), "--run", "head"],
    )
    assert result.exit_code == 0, result.output
    assert "canvas broke" in (tmp_path / "site2/run.html").read_text()


# --- real renders ----------------------------------------------------------------------

#: A canvas page whose ball moves for 200 virtual ms, then rests: the same pixels
#: however the renderer steps the clock (every frame, or sampled when the machine
#: is so busy that the page looks heavy), so the zero-difference check below is
#: about determinism, not about the machine's load.
PAGE = """<!doctype html><html lang="en"><head><title>tiny</title></head>
<body style="margin:0;background:#124"><canvas id="c" width="320" height="180"></canvas><script>
const ctx = document.getElementById('c').getContext('2d');
function frame(ts) {
  const x = 20 + Math.min(ts || 0, 200) * 1.2;
  ctx.fillStyle = '#124'; ctx.fillRect(0, 0, 320, 180);
  ctx.fillStyle = '#fc0'; ctx.beginPath(); ctx.arc(x, 90, 16, 0, 7); ctx.fill();
  if (!(ts >= 200)) requestAnimationFrame(frame);
}
frame(0);
</script></body></html>"""

BROKEN = PAGE.replace("frame(0);", "undefinedFunction();\nframe(0);")
assert BROKEN != PAGE


#: A short observation (half a virtual second) keeps the real renders cheap on a busy machine.
TINY_TOML = """id = "tiny"
title = "tiny"
prompt = "x"
[render]
viewport = [320, 180]
screenshots = [0.25, 0.5]
preview_frames = 2
[[checks]]
kind = "runs"
[[checks]]
kind = "canvas"
[[checks]]
kind = "clean-console"
"""


def tiny_prompt():
    return parse_prompt(tomllib.loads(TINY_TOML), Path("tiny.toml"))


def rendered_copy(src: Run, store: Store, run_id: str, day: int, page: str, catalogue: dict) -> Run:
    """A copy of ``src`` with the page replaced, rendered again from scratch (``force``)."""
    from gallery.render.stage import render_run

    run = store.new_run(run_id)
    shutil.copytree(src.path, run.path, dirs_exist_ok=True)
    run.update_manifest(id=run_id, started_at=f"2025-01-0{day}T00:00:00+00:00")
    (run.path / "tiny/reference/1/artifact/index.html").write_text(page)
    render_run(run, catalogue, force=True)
    return run


def test_breaking_a_page_fails_compare_and_reverting_passes(tmp_path: Path) -> None:
    """The issue's "done when": break a page's script -> exit 1 naming it; revert -> exit 0."""
    from gallery.render.stage import render_run

    catalogue = {"tiny": tiny_prompt()}
    store = Store(tmp_path / "outputs")
    first = new_run(store.out, "first", "2025-01-01T00:00:00+00:00")
    first.write_sample(
        SampleKey("tiny", "reference", 1),
        {"reply.json": '{"status": "ok"}', "artifact/index.html": PAGE},
    )
    render_run(first, catalogue)
    assert first.sample(SampleKey("tiny", "reference", 1)).verdict["passed"]
    # rendering also highlighted the page for the site, into the store's shared cache
    from gallery.render.highlight import Highlighter

    key = Highlighter.key("index.html", PAGE)
    assert (store.out / "cache" / "highlight" / key[:2] / f"{key}.html").is_file()

    broken = rendered_copy(first, store, "broken", 2, BROKEN, catalogue)
    result = invoke(tmp_path, "first", "broken")
    assert result.exit_code == 1, result.output
    assert "REGRESSION  tiny/reference/1  runs: uncaught error" in result.output
    assert "REGRESSION  tiny/reference/1  clean-console" in result.output
    assert (broken.path / "tiny/reference/1/diff/000.50s.png").is_file()  # the ball is gone

    # reverted: rendered again from scratch, the same page gives exactly the same pixels
    reverted = rendered_copy(first, store, "reverted", 3, PAGE, catalogue)
    result = invoke(tmp_path, "first", "--pixel-threshold", "0", "--max-diff-ratio", "0")
    assert result.exit_code == 0, result.output
    c = compare_runs(first, reverted, pixel_threshold=0)
    shots = c.samples[0].shots
    assert [s.name for s in shots] == ["000.25s.png", "000.50s.png"]
    assert all(s.ratio == 0.0 and not s.changed for s in shots)


def judge(run: Run, label: str, score: float | None, error: str | None = None) -> None:
    """A vision judge's ``judgement.json`` for the sample's current render."""
    prompt, model, n = label.split("/")
    sample = run.sample(SampleKey(prompt, model, int(n)))
    write_json(
        sample.path / "judgement.json",
        {
            "judge": "vision",
            "model": "vl",
            "request_hash": "h",
            "render_hash": (sample.verdict or {}).get("render_hash"),
            "score": score,
            "error": error,
        },
    )


def test_a_judge_drop_is_reported_and_fails_only_when_asked(
    tmp_path: Path, pair: tuple[Run, Run]
) -> None:
    base, head = pair
    judge(base, "hexagon/model-a/1", 0.9)
    judge(head, "hexagon/model-a/1", 0.5)  # fell by 0.4
    judge(base, "landing/model-b/1", 0.8)
    judge(head, "landing/model-b/1", 0.7)  # fell by 0.1: within the threshold
    judge(base, "hexagon/model-a/2", 0.6)
    judge(head, "hexagon/model-a/2", None, error="malformed reply")  # no score: no drop
    plain = invoke(tmp_path, "base", "head")
    assert plain.exit_code == 0, plain.output
    assert "judge drop  hexagon/model-a/1  judge 0.90 -> 0.50" in plain.output
    assert "landing/model-b/1  judge" not in plain.output
    assert "1 judge drop(s)" in plain.output
    strict = invoke(tmp_path, "base", "head", "--fail-on-judge")
    assert strict.exit_code == 1
    assert "REGRESSION  hexagon/model-a/1  judge 0.90 -> 0.50" in strict.output
    loose = invoke(tmp_path, "base", "head", "--fail-on-judge", "--judge-threshold", "0.5")
    assert loose.exit_code == 0 and "0 judge drop(s)" in loose.output
    data = json.loads(invoke(tmp_path, "base", "head", "--json").output)
    by = {s["sample"]: s for s in data["samples"]}
    assert by["hexagon/model-a/1"]["judge"] == {"base": 0.9, "head": 0.5, "change": -0.4}
    assert by["hexagon/model-a/1"]["judge_drop"] is True
    assert by["hexagon/model-a/2"]["judge"]["head"] is None
    assert data["settings"]["judge_threshold"] == 0.2 and data["summary"]["judge_drops"] == 1
    md = invoke(tmp_path, "base", "head", "--markdown").output
    assert "### Judge drops" in md and "does not fail CI" in md
    bad = invoke(tmp_path, "base", "head", "--judge-threshold", "2")
    assert bad.exit_code == 2 and "--judge-threshold: must be between 0 and 1" in bad.output
