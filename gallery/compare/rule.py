"""One run against another: regressions, improvements, visual changes.

``compare_runs(base, head)`` matches samples by (prompt, model, index) and
reads only what is on disk (``verdict.json`` and ``shots/*.png``), so it
needs no browser and works on runs made anywhere. Rendering is deterministic
(virtual clock, seeded ``Math.random``), so an unchanged page gives exactly
zero pixel difference and any visual change is a real one.

Which changes fail CI (``Comparison.regressed``, exit 1 of ``gallery
compare``): a *required* check that passed in base and fails in head, and a
sample that passed in base and is missing (or not judged) in head. A newly
failing optional check (``required = false``) is reported as an optional
regression, but like everywhere else it does not decide pass/fail.

The vision judge's score (``judgement.json``) is compared too: a drop of more
than ``judge_threshold`` is a *judge drop*, reported always, and a regression
only when asked for (``fail_on_judge``: ``--fail-on-judge``): a model's
judgement is not a person's, and it is not allowed to fail CI by default.

This is the one regression rule of the project: ``gallery compare``, the
pytest plugin and the site's run page all read ``SampleDiff`` /
``Comparison`` from here. The baseline file is ``baseline.py``'s, the formats
are ``report.py``'s.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.errors import RecordError, UsageError
from gallery.records.fsutil import write_bytes
from gallery.records.schemas import load as load_record
from gallery.records.store import Run, SampleKey
from gallery.render import images

#: Per-pixel threshold as a share of 255 (Playwright's ``toHaveScreenshot`` ``threshold``).
PIXEL_THRESHOLD = 0.1
#: A screenshot whose share of changed pixels is above this counts as a visual change.
MAX_DIFF_RATIO = 0.001
#: A fall of the judge's score (0..1) larger than this is a judge drop.
JUDGE_THRESHOLD = 0.2


@dataclass
class CheckChange:
    """One check of one sample in both runs. ``None``: the check is absent from that run."""

    name: str
    before: bool | None
    after: bool | None
    required: bool
    detail: str = ""

    @property
    def regression(self) -> bool:
        return self.before is True and self.after is False

    @property
    def improvement(self) -> bool:
        return self.before is False and self.after is True


@dataclass
class ShotDiff:
    """One timed screenshot. ``status``: compared, missing (in head) or new (in head)."""

    name: str
    ratio: float
    changed: bool
    status: str = "compared"
    diff_image: Path | None = None


@dataclass
class SampleDiff:
    """One sample. ``status``: both, missing (base only), new (head only), unjudged (no head verdict)."""

    key: SampleKey
    status: str
    base_passed: bool | None = None
    head_passed: bool | None = None
    base_score: float | None = None
    head_score: float | None = None
    checks: list[CheckChange] = field(default_factory=list)
    shots: list[ShotDiff] = field(default_factory=list)
    #: why head could not judge it (``unjudged`` only): the browser or the harness failed
    unjudged_reason: str | None = None
    #: the vision judge's scores of each side's render (None: not judged)
    base_judge: float | None = None
    head_judge: float | None = None
    #: set by ``compare_runs``: the judge drop that counts, and whether it fails CI
    judge_threshold: float = JUDGE_THRESHOLD
    fail_on_judge: bool = False

    @property
    def regressions(self) -> list[CheckChange]:
        return [c for c in self.checks if c.regression]

    @property
    def improvements(self) -> list[CheckChange]:
        return [c for c in self.checks if c.improvement]

    @property
    def visual_changes(self) -> list[ShotDiff]:
        return [s for s in self.shots if s.changed]

    @property
    def score_change(self) -> float | None:
        if self.base_score is None or self.head_score is None:
            return None
        return round(self.head_score - self.base_score, 4)

    @property
    def judge_change(self) -> float | None:
        if self.base_judge is None or self.head_judge is None:
            return None
        return round(self.head_judge - self.base_judge, 4)

    @property
    def judge_drop(self) -> bool:
        """The judge's score fell by more than the threshold."""
        return judge_dropped(self.base_judge, self.head_judge, self.judge_threshold)

    @property
    def lost(self) -> bool:
        """It passed in base and head has nothing to judge it by."""
        return self.status in ("missing", "unjudged") and self.base_passed is True

    @property
    def regressed(self) -> bool:
        return (
            self.lost
            or any(c.regression and c.required for c in self.checks)
            or (self.fail_on_judge and self.judge_drop)
        )


@dataclass
class GroupDiff:
    """One prompt × model: how many samples passed before and now, and the mean score."""

    prompt: str
    model: str
    base_samples: int = 0
    head_samples: int = 0
    base_passed: int = 0
    head_passed: int = 0
    base_mean_score: float | None = None
    head_mean_score: float | None = None
    regressions: int = 0
    improvements: int = 0
    visual_changes: int = 0


@dataclass
class Comparison:
    """Every sample of both runs, with the thresholds used; reports are methods."""

    base: Run
    head: Run
    pixel_threshold: float
    max_diff_ratio: float
    samples: list[SampleDiff] = field(default_factory=list)
    judge_threshold: float = JUDGE_THRESHOLD
    fail_on_judge: bool = False

    def _pairs(self, attr: str, required: bool | None = None) -> list[tuple[SampleDiff, Any]]:
        return [
            (s, x)
            for s in self.samples
            for x in getattr(s, attr)
            if required is None or x.required is required
        ]

    @property
    def regressions(self) -> list[tuple[SampleDiff, CheckChange]]:
        return self._pairs("regressions", required=True)

    @property
    def optional_regressions(self) -> list[tuple[SampleDiff, CheckChange]]:
        return self._pairs("regressions", required=False)

    @property
    def improvements(self) -> list[tuple[SampleDiff, CheckChange]]:
        return self._pairs("improvements")

    @property
    def visual_changes(self) -> list[tuple[SampleDiff, ShotDiff]]:
        return self._pairs("visual_changes")

    @property
    def missing(self) -> list[SampleDiff]:
        return [s for s in self.samples if s.status in ("missing", "unjudged")]

    @property
    def judge_drops(self) -> list[SampleDiff]:
        return [s for s in self.samples if s.judge_drop]

    @property
    def new(self) -> list[SampleDiff]:
        return [s for s in self.samples if s.status == "new"]

    @property
    def regressed(self) -> bool:
        """True when CI should fail: see the module docstring."""
        return any(s.regressed for s in self.samples)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def groups(self) -> list[GroupDiff]:
        out: dict[tuple[str, str], GroupDiff] = {}
        scores: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for s in self.samples:
            gk = (s.key.prompt, s.key.model)
            g = out.setdefault(gk, GroupDiff(*gk))
            before, after = scores.setdefault(gk, ([], []))
            if s.status != "new":
                g.base_samples += 1
                g.base_passed += bool(s.base_passed)
                if s.base_score is not None:
                    before.append(s.base_score)
            if s.status != "missing":
                g.head_samples += 1
                g.head_passed += bool(s.head_passed)
                if s.head_score is not None:
                    after.append(s.head_score)
            g.regressions += sum(c.required for c in s.regressions) + s.lost
            g.improvements += len(s.improvements)
            g.visual_changes += len(s.visual_changes)
        for gk, g in out.items():
            before, after = scores[gk]
            g.base_mean_score = round(sum(before) / len(before), 4) if before else None
            g.head_mean_score = round(sum(after) / len(after), 4) if after else None
        return list(out.values())

    def summary(self) -> dict[str, Any]:
        return {
            "samples": len(self.samples),
            "regressed": self.regressed,
            "regressions": len(self.regressions),
            "lost_samples": sum(s.lost for s in self.samples),
            "optional_regressions": len(self.optional_regressions),
            "improvements": len(self.improvements),
            "visual_changes": len(self.visual_changes),
            "missing": len(self.missing),
            "new": len(self.new),
            "judge_drops": len(self.judge_drops),
        }


# --- comparing ----------------------------------------------------------------------


def _checks(verdict: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in (verdict or {}).get("checks") or [] if c.get("name")}


def _shots(path: Path) -> dict[str, Path]:
    d = path / "shots"
    return {p.name: p for p in sorted(d.glob("*.png"))} if d.is_dir() else {}


def _diff_shots(
    base: Path, head: Path, out: Path | None, threshold: int, max_ratio: float
) -> list[ShotDiff]:
    """Compare the timed screenshots by name; write a diff image for each changed one."""
    a, b = _shots(base), _shots(head)
    if not a:
        # A base without screenshots (a committed baseline keeps only verdicts, or
        # its page never ran): nothing to compare pixels with, and no change to report.
        return []
    result = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b or name not in a:
            status = "missing" if name not in b else "new"
            result.append(ShotDiff(name, 1.0, True, status))
            continue
        da, db = a[name].read_bytes(), b[name].read_bytes()
        ratio = 0.0 if da == db else images.diff_ratio(da, db, threshold)
        shot = ShotDiff(name, round(ratio, 6), ratio > max_ratio)
        if out is not None and shot.changed:
            shot.diff_image = out / name
            write_bytes(shot.diff_image, images.diff_image(da, db, threshold))
        elif out is not None:
            (out / name).unlink(missing_ok=True)  # stale from an earlier comparison
        result.append(shot)
    return result


def check_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[CheckChange]:
    """Every check named in either verdict, in ``after``'s order then ``before``'s."""
    was, now = _checks(before), _checks(after)
    changes = []
    for name in [*now, *(n for n in was if n not in now)]:
        b, h = was.get(name), now.get(name)
        ref = h or b
        changes.append(
            CheckChange(
                name,
                bool(b["passed"]) if b else None,
                bool(h["passed"]) if h else None,
                bool(ref.get("required", True)),
                str(ref.get("detail") or ""),
            )
        )
    return changes


def regressions(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[CheckChange]:
    """The regression rule, the one place it is written: a *required* check that
    passed in ``before`` and fails in ``after``. ``gallery compare``, the pytest
    plugin and the site all use it (with ``SampleDiff.lost`` for samples)."""
    return [c for c in check_changes(before, after) if c.regression and c.required]


def judge_dropped(before: float | None, after: float | None, threshold: float) -> bool:
    """The judge rule, the one place it is written: the vision judge's score of the
    same sample fell by more than ``threshold`` (both sides judged)."""
    return before is not None and after is not None and round(before - after, 4) > threshold


def read_verdict(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The sample's verdict, or (None, why not): none on disk, or not judged
    (``judged: false``: the browser or the harness failed, so it says nothing of the page)."""
    try:
        verdict = load_record(path / "verdict.json")
    except RecordError:
        return None, None  # not a verdict gallery wrote: nothing to compare with
    if verdict is None:
        return None, None
    if verdict.get("judged") is False:
        return None, str(verdict.get("reason") or "not judged")
    return verdict, None


def _sample_diff(
    key: SampleKey, base: Run, head: Run, diffs: Path | None, threshold: int, max_ratio: float
) -> SampleDiff:
    in_base, in_head = base.has_sample(key), head.has_sample(key)
    bpath, hpath = base.sample(key).path, head.sample(key).path
    bv = read_verdict(bpath)[0] if in_base else None
    hv, why_not = read_verdict(hpath) if in_head else (None, None)
    status = "both"
    if not in_head:
        status = "missing"
    elif not in_base:
        status = "new"
    elif hv is None and bv is not None:
        status = "unjudged"
    diff = SampleDiff(key, status, unjudged_reason=why_not if status == "unjudged" else None)
    if bv is not None:
        diff.base_passed, diff.base_score = bool(bv.get("passed")), bv.get("score")
    if hv is not None:
        diff.head_passed, diff.head_score = bool(hv.get("passed")), hv.get("score")
    diff.checks = check_changes(bv, hv)
    diff.base_judge = base.sample(key).judge_score if in_base else None
    diff.head_judge = head.sample(key).judge_score if in_head else None
    if in_base and in_head:
        diff.shots = _diff_shots(bpath, hpath, diffs, threshold, max_ratio)
    return diff


def compare_runs(
    base: Run,
    head: Run,
    *,
    pixel_threshold: float = PIXEL_THRESHOLD,
    max_diff_ratio: float = MAX_DIFF_RATIO,
    diff_dir: Path | None = None,
    write_diffs: bool = True,
    judge_threshold: float = JUDGE_THRESHOLD,
    fail_on_judge: bool = False,
) -> Comparison:
    """Compare every sample of ``base`` and ``head`` by (prompt, model, index).

    ``pixel_threshold`` (0..1 of 255): how far a channel must move for a pixel to
    count as changed. ``max_diff_ratio``: the share of changed pixels above which a
    screenshot is a visual change. Diff images go to ``<head sample>/diff/<shot>``,
    or ``diff_dir/<prompt>/<model>/<n>/<shot>`` when given; none when ``write_diffs``
    is false (the site build, which must not touch the runs). ``judge_threshold``:
    the fall of the judge's score (0..1) that is a judge drop; ``fail_on_judge``:
    a judge drop is a regression.
    """
    if not 0 <= pixel_threshold <= 1:
        raise UsageError("must be between 0 and 1", field="--pixel-threshold")
    if not 0 <= max_diff_ratio <= 1:
        raise UsageError("must be between 0 and 1", field="--max-diff-ratio")
    if not 0 <= judge_threshold <= 1:
        raise UsageError("must be between 0 and 1", field="--judge-threshold")
    threshold = round(pixel_threshold * 255)
    result = Comparison(
        base,
        head,
        pixel_threshold,
        max_diff_ratio,
        judge_threshold=judge_threshold,
        fail_on_judge=fail_on_judge,
    )
    keys = sorted({s.key for s in base.samples()} | {s.key for s in head.samples()})
    for key in keys:
        out = None
        if write_diffs:
            out = (Path(diff_dir) / key.label) if diff_dir else head.sample(key).path / "diff"
        diff = _sample_diff(key, base, head, out, threshold, max_diff_ratio)
        diff.judge_threshold, diff.fail_on_judge = judge_threshold, fail_on_judge
        if out is not None and out.is_dir() and not any(out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)
        result.samples.append(diff)
    return result
