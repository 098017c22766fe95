"""A ``Comparison`` as JSON, JUnit XML, GitHub markdown, plain text and a view for the site.

Kept apart from ``rule.py`` so the comparison logic stays short; these are
only formats. JUnit has one ``<testcase>`` per sample check (``classname`` =
``prompt.model``, ``name`` = ``sample N: check``) so CI dashboards list each
check; the markdown is a step summary that puts regressions first.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gallery.compare.baseline import read_baseline
from gallery.compare.rule import CheckChange, Comparison, SampleDiff, compare_runs
from gallery.errors import RunNotFound, UsageError
from gallery.records.fsutil import write_bytes
from gallery.records.store import Run, Store

MARK = {True: "✅", False: "❌", None: "—"}


def _pct(ratio: float) -> str:
    return f"{ratio:.2%}"


def _score(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _cell(text: Any) -> str:
    """Safe inside a markdown table cell: no pipes, newlines or raw HTML."""
    s = str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s if len(s) <= 200 else s[:199] + "…"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _lost_reason(s: SampleDiff) -> str:
    if s.status == "missing":
        return "missing from head"
    if s.unjudged_reason:
        return f"not judged in head: {s.unjudged_reason[:200]}"
    return "not judged in head (no verdict.json)"


def sample_json(s: SampleDiff) -> dict[str, Any]:
    k = s.key
    return {
        "sample": k.label,
        "prompt": k.prompt,
        "model": k.model,
        "index": k.index,
        "status": s.status,
        "regressed": s.regressed,
        "base": {"passed": s.base_passed, "score": s.base_score},
        "head": {"passed": s.head_passed, "score": s.head_score},
        "score_change": s.score_change,
        "judge": {"base": s.base_judge, "head": s.head_judge, "change": s.judge_change},
        "judge_drop": s.judge_drop,
        "regressions": [c.name for c in s.regressions if c.required],
        "optional_regressions": [c.name for c in s.regressions if not c.required],
        "improvements": [c.name for c in s.improvements],
        "checks": [vars(c).copy() for c in s.checks],
        "shots": [
            {**vars(x), "diff_image": str(x.diff_image) if x.diff_image else None} for x in s.shots
        ],
    }


def as_json(c: Comparison) -> dict[str, Any]:
    return {
        "base": {"id": c.base.id, "path": str(c.base.path)},
        "head": {"id": c.head.id, "path": str(c.head.path)},
        "settings": {
            "pixel_threshold": c.pixel_threshold,
            "max_diff_ratio": c.max_diff_ratio,
            "judge_threshold": c.judge_threshold,
            "fail_on_judge": c.fail_on_judge,
        },
        "summary": c.summary(),
        "samples": [sample_json(s) for s in c.samples],
        "groups": [vars(g).copy() for g in c.groups()],
    }


def markdown(c: Comparison) -> str:
    """A GitHub step summary: headline, then regressions, improvements, visual, missing/new."""
    sm = c.summary()
    verdict = "❌ regressions" if c.regressed else "✅ no regressions"
    out = [
        f"## gallery compare: `{c.base.id}` → `{c.head.id}` — {verdict}",
        "",
        f"{sm['samples']} samples · **{sm['regressions'] + sm['lost_samples']} regression(s)** · "
        f"{sm['optional_regressions']} optional · {sm['improvements']} improvement(s) · "
        f"{sm['visual_changes']} visual change(s) · {sm['missing']} missing · {sm['new']} new",
        "",
    ]
    lost = [s for s in c.samples if s.lost]
    if c.regressions or lost or c.optional_regressions:
        rows = [[f"`{s.key.label}`", ch.name, "required", ch.detail] for s, ch in c.regressions]
        rows += [[f"`{s.key.label}`", "(sample)", "required", _lost_reason(s)] for s in lost]
        rows += [
            [f"`{s.key.label}`", ch.name, "optional", ch.detail] for s, ch in c.optional_regressions
        ]
        out += ["### Regressions (passed before, fail now)", ""]
        out += _table(["sample", "check", "kind", "now"], rows)
    if c.judge_drops:
        fails = "fails CI (--fail-on-judge)" if c.fail_on_judge else "reported, does not fail CI"
        out += [
            f"### Judge drops (a vision model's score fell by more than {c.judge_threshold:g}; "
            f"{fails})",
            "",
        ]
        out += _table(
            ["sample", "judge before", "judge now"],
            [
                [f"`{s.key.label}`", _score(s.base_judge), _score(s.head_judge)]
                for s in c.judge_drops
            ],
        )
    if c.improvements:
        out += ["### Improvements (failed before, pass now)", ""]
        out += _table(
            ["sample", "check", "now"],
            [[f"`{s.key.label}`", ch.name, ch.detail] for s, ch in c.improvements],
        )
    if c.visual_changes:
        rows = [
            [
                f"`{s.key.label}`",
                shot.name,
                _pct(shot.ratio) if shot.status == "compared" else shot.status,
            ]
            for s, shot in c.visual_changes
        ]
        out += [f"### Visual changes (more than {_pct(c.max_diff_ratio)} of pixels)", ""]
        out += _table(["sample", "screenshot", "changed pixels"], rows)
    if c.missing or c.new:
        rows = [[f"`{s.key.label}`", _lost_reason(s), MARK[s.base_passed]] for s in c.missing]
        rows += [[f"`{s.key.label}`", "new in head", MARK[s.head_passed]] for s in c.new]
        out += ["### Missing and new samples", ""]
        out += _table(["sample", "what", "passed"], rows)
    changed = [s for s in c.samples if s.score_change]
    if changed:
        out += ["### Score changes", ""]
        rows = [
            [
                f"`{s.key.label}`",
                _score(s.base_score),
                _score(s.head_score),
                f"{s.score_change:+.2f}",
            ]
            for s in changed
        ]
        out += _table(["sample", "before", "now", "change"], rows)
    out += ["### Per prompt × model", ""]
    rows = [
        [
            g.prompt,
            g.model,
            f"{g.base_passed}/{g.base_samples}",
            f"{g.head_passed}/{g.head_samples}",
            f"{_score(g.base_mean_score)} → {_score(g.head_mean_score)}",
            g.regressions,
            g.visual_changes,
        ]
        for g in c.groups()
    ]
    out += _table(
        ["prompt", "model", "passed before", "passed now", "mean score", "regressions", "visual"],
        rows,
    )
    return "\n".join(out)


def _testcase(suite: ET.Element, s: SampleDiff, name: str) -> ET.Element:
    return ET.SubElement(
        suite,
        "testcase",
        classname=f"{s.key.prompt}.{s.key.model}",
        name=f"sample {s.key.index}: {name}",
        time="0",
    )


def _check_case(suite: ET.Element, s: SampleDiff, ch: CheckChange) -> str:
    """Add one check's testcase; returns its outcome: passed, failure or skipped."""
    case = _testcase(suite, s, ch.name)
    if ch.after is None:
        reason = "missing from head" if s.status == "missing" else "check absent from head"
        if s.status == "unjudged":
            reason = "not judged in head"
        if s.lost and ch.before is True and ch.required:
            ET.SubElement(case, "failure", message=f"regression: {reason}", type="regression")
            return "failure"
        ET.SubElement(case, "skipped", message=reason)
        return "skipped"
    if ch.after:
        return "passed"
    if not ch.required:
        what = "optional check newly fails" if ch.regression else "optional check fails"
        ET.SubElement(case, "skipped", message=f"{what}: {ch.detail}")
        return "skipped"
    kind = "regression" if ch.regression else "failing"
    prefix = "regression (passed in base)" if ch.regression else "fails"
    failure = ET.SubElement(case, "failure", message=f"{prefix}: {ch.detail}", type=kind)
    failure.text = f"{s.key.label}: {ch.name}: {ch.detail}"
    return "failure"


def junit(c: Comparison) -> bytes:
    """JUnit XML: one testcase per sample check; failures for required checks failing in head."""
    root = ET.Element("testsuites", name="gallery compare")
    suite = ET.SubElement(root, "testsuite", name=f"gallery compare {c.base.id}..{c.head.id}")
    props = ET.SubElement(suite, "properties")
    for k, v in (("base", c.base.id), ("head", c.head.id)):
        ET.SubElement(props, "property", name=k, value=v)
    counts = {"passed": 0, "failure": 0, "skipped": 0}
    for s in c.samples:
        if not s.checks:
            case = _testcase(suite, s, "(no verdict)")
            if s.lost:
                ET.SubElement(case, "failure", message=_lost_reason(s), type="regression")
                counts["failure"] += 1
            else:
                ET.SubElement(case, "skipped", message="not judged in either run")
                counts["skipped"] += 1
            continue
        for ch in s.checks:
            counts[_check_case(suite, s, ch)] += 1
    total = sum(counts.values())
    for el in (root, suite):
        el.set("tests", str(total))
        el.set("failures", str(counts["failure"]))
        el.set("errors", "0")
        el.set("skipped", str(counts["skipped"]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def site_view(c: Comparison) -> dict[str, Any]:
    """Plain data for ``run.html``: summary, then lists of dicts that render as tables."""
    lost = [
        {"sample": s.key.label, "check": "(sample)", "now": _lost_reason(s)}
        for s in c.samples
        if s.lost
    ]
    return {
        "baseline": c.base.id,
        "summary": c.summary(),
        "regressions": [
            {"sample": s.key.label, "check": ch.name, "now": ch.detail} for s, ch in c.regressions
        ]
        + lost,
        "optional regressions": [
            {"sample": s.key.label, "check": ch.name, "now": ch.detail}
            for s, ch in c.optional_regressions
        ],
        "improvements": [
            {"sample": s.key.label, "check": ch.name, "now": ch.detail} for s, ch in c.improvements
        ],
        "visual changes": [
            {"sample": s.key.label, "screenshot": shot.name, "changed pixels": _pct(shot.ratio)}
            for s, shot in c.visual_changes
        ],
        "missing": [s.key.label for s in c.missing],
        "new": [s.key.label for s in c.new],
        "judge drops": [
            {
                "sample": s.key.label,
                "judge before": _score(s.base_judge),
                "judge now": _score(s.head_judge),
            }
            for s in c.judge_drops
        ],
    }


def text(c: Comparison) -> list[str]:
    """Plain lines for a terminal or a CI log: one per change, naming sample and check."""
    lines = [f"compare: base {c.base.id} -> head {c.head.id} ({len(c.samples)} samples)"]
    for s, ch in c.regressions:
        lines.append(f"  REGRESSION  {s.key.label}  {ch.name}: {ch.detail}")
    for s in c.samples:
        if s.lost:
            lines.append(f"  REGRESSION  {s.key.label}  passed in base, {_lost_reason(s)}")
    for s, ch in c.optional_regressions:
        lines.append(f"  optional    {s.key.label}  {ch.name} (not required): {ch.detail}")
    for s, ch in c.improvements:
        lines.append(f"  improved    {s.key.label}  {ch.name}: {ch.detail}")
    for s, shot in c.visual_changes:
        what = f"{_pct(shot.ratio)} of pixels changed" if shot.status == "compared" else shot.status
        where = f" (diff: {shot.diff_image})" if shot.diff_image else ""
        lines.append(f"  visual      {s.key.label}  {shot.name}: {what}{where}")
    for s in c.missing:
        if not s.lost:
            lines.append(f"  missing     {s.key.label}  {_lost_reason(s)}")
    for s in c.new:
        lines.append(f"  new         {s.key.label}  passed: {MARK[s.head_passed]}")
    for s in c.samples:
        if s.score_change:
            lines.append(
                f"  score       {s.key.label}  {_score(s.base_score)} -> {_score(s.head_score)}"
            )
    for s in c.judge_drops:
        mark = "REGRESSION" if s.fail_on_judge else "judge drop"
        lines.append(
            f"  {mark:<10}  {s.key.label}  judge {_score(s.base_judge)} -> {_score(s.head_judge)}"
            " (a vision model's score)"
        )
    sm = c.summary()
    lines.append(
        f"{'REGRESSED' if c.regressed else 'ok'}: {sm['regressions'] + sm['lost_samples']} regression(s), "
        f"{sm['optional_regressions']} optional, {sm['improvements']} improvement(s), "
        f"{sm['visual_changes']} visual change(s), {sm['missing']} missing, {sm['new']} new, "
        f"{sm['judge_drops']} judge drop(s)"
    )
    return lines


def write_junit(c: Comparison, path: Path | str) -> None:
    write_bytes(Path(path), junit(c))


def dumps(comparison: Comparison) -> str:
    return json.dumps(as_json(comparison), indent=2, ensure_ascii=False)


def site_comparison(store: Store, run: Run) -> dict[str, Any] | None:
    """The comparison for the run page against the recorded baseline (``site_view``),
    or None when there is nothing to show: no baseline, a missing one, or the run itself."""
    try:
        base = read_baseline(store)
    except (RunNotFound, UsageError):
        return None
    if base is None or base.path.resolve() == run.path.resolve():
        return None
    return site_view(compare_runs(base, run, write_diffs=False))
