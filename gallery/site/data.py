"""What the site shows, computed from a run: lanes, samples, cells, leaderboard.

Everything here is plain data for the templates of ``site.py``: no HTML, no
files written. Every key of ``run.json``, ``reply.json``, ``observation.json``
and ``verdict.json`` is treated as optional, because a run may still be
generating or rendering while the site is built.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gallery.catalogue.config import Config
from gallery.catalogue.prompts import Prompt
from gallery.errors import RecordError
from gallery.records.schemas import current as current_judgement
from gallery.records.schemas import load as load_record
from gallery.records.store import Run, Sample, SampleKey
from gallery.records.totals import LaneTotals

REFERENCE_LABEL = "reference (hand-written)"


def _load(path: Path) -> Any:
    """A sample's record (validated), or None when it is missing or not one gallery
    wrote: the site shows such a sample as having none, and the build goes on."""
    try:
        return load_record(path)
    except (OSError, RecordError):
        return None


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator from n samples with c correct: 1 - C(n-c,k)/C(n,k)."""
    if n <= 0 or k <= 0 or k > n:
        raise ValueError(f"pass@k needs 0 < k <= n (n={n}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass
class Lane:
    """One model column of the gallery (or a hand-written reference lane)."""

    name: str
    display: str
    is_reference: bool = False
    model_id: str = ""
    imported: bool = False
    #: why the lane has no sample to show (None: it has some); set by ``collect``
    empty_reason: str | None = None


@dataclass
class SampleView:
    """One sample with everything the pages need, read once from disk."""

    key: SampleKey
    path: Path
    reply: dict[str, Any]
    verdict: dict[str, Any] | None
    observation: dict[str, Any] | None
    shots: list[str]
    has_preview: bool
    runnable: bool
    lane: Lane
    #: the vision judge's scores of this render (None: not judged, or judged an older render)
    judgement: dict[str, Any] | None = None

    @property
    def judge_score(self) -> float | None:
        """The judge's share of the rubric's points (None: no score, or an error)."""
        score = (self.judgement or {}).get("score")
        return float(score) if isinstance(score, int | float) else None

    @property
    def url(self) -> str:
        """Folder of the sample's page and assets, relative to the site root."""
        k = self.key
        return f"s/{quote(k.prompt)}/{quote(k.model)}/{k.index}/"

    @property
    def status(self) -> str:
        return self.reply.get("status") or "ok"

    @property
    def passed(self) -> bool:
        return bool(self.verdict and self.verdict.get("passed"))

    @property
    def score(self) -> float:
        return float((self.verdict or {}).get("score") or 0.0)

    @property
    def not_judged(self) -> str | None:
        """Why the render could not judge the page (the browser or harness failed), or None."""
        if self.verdict is not None and self.verdict.get("judged") is False:
            return str(self.verdict.get("reason") or "not judged")
        return None

    @property
    def judged(self) -> bool:
        """Counts in pass rates: it has a verdict of its page, or the request itself failed."""
        return (self.verdict is not None and self.not_judged is None) or self.status == "failed"

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list((self.verdict or {}).get("checks") or [])

    @property
    def state(self) -> tuple[str, str]:
        """(css class, short label) for the verdict badge."""
        if self.status == "failed":
            return "err", "request failed"
        if self.verdict is None:
            if self.status == "no-artifact" or not self.runnable:
                return "warn", "no page"
            return "none", "not rendered"
        if self.not_judged is not None:
            return "none", "not judged"
        return ("ok", "pass") if self.passed else ("bad", "fail")

    @property
    def why(self) -> str:
        """One line saying why there is nothing to look at, or ''."""
        if self.status == "failed":
            return str(self.reply.get("error") or "the request failed")
        if self.status == "no-artifact" or not self.runnable:
            return str((self.reply.get("extract") or {}).get("reason") or "no runnable page")
        if self.not_judged is not None:
            return (
                f"not judged (the browser or the harness failed, not the page): {self.not_judged}"
            )
        obs = self.observation or {}
        if obs.get("status") not in (None, "ok"):
            return f"page {obs.get('status')}: {obs.get('detail') or ''}".strip(": ")
        if self.verdict is None:
            return "not rendered yet"
        return ""

    @property
    def image(self) -> str | None:
        """The best still or animated picture of the page, relative to the sample folder."""
        if self.has_preview:
            return "preview.webp"
        return f"shots/{self.shots[-1]}" if self.shots else None

    @property
    def link_class(self) -> str:
        return "ok" if self.passed else ("bad" if self.judged else "none")

    def sort_key(self) -> tuple:
        """Best first: passed, then score, then the lowest index."""
        return (not self.passed, -self.score, self.key.index)

    def usage(self, name: str) -> int | None:
        v = (self.reply.get("usage") or {}).get(name)
        return v if isinstance(v, int | float) else None

    def timing(self, name: str) -> float | None:
        v = (self.reply.get("timing") or {}).get(name)
        return v if isinstance(v, int | float) else None


def read_sample(sample: Sample, lane: Lane) -> SampleView:
    shots_dir = sample.path / "shots"
    shots = sorted(p.name for p in shots_dir.glob("*.png")) if shots_dir.is_dir() else []
    verdict = _load(sample.path / "verdict.json")
    judgement = current_judgement(_load(sample.path / "judgement.json"), verdict)
    return SampleView(
        key=sample.key,
        path=sample.path,
        reply=_load(sample.path / "reply.json") or {},
        verdict=verdict,
        observation=_load(sample.path / "observation.json"),
        shots=shots,
        has_preview=(sample.path / "preview.webp").is_file(),
        runnable=sample.runnable,
        lane=lane,
        judgement=judgement,
    )


@dataclass
class Cell:
    """One prompt × lane square: its samples, best first."""

    prompt: str
    lane: Lane
    samples: list[SampleView]

    @property
    def best(self) -> SampleView | None:
        return self.samples[0] if self.samples else None

    @property
    def n_passed(self) -> int:
        return sum(s.passed for s in self.samples)

    @property
    def n_judged(self) -> int:
        return sum(s.judged for s in self.samples)

    @property
    def judge_scores(self) -> list[float]:
        return [v for s in self.samples if (v := s.judge_score) is not None]

    def check_names(self, passed: bool) -> list[str]:
        names = {c.get("name") for s in self.samples for c in s.checks if c.get("passed") is passed}
        return sorted(n for n in names if n)


@dataclass
class Standing:
    """A lane's row on the leaderboard: pass rates and pass@k from verdicts, with its totals."""

    lane: Lane
    samples: int = 0
    judged: int = 0
    passed: int = 0
    pass_rate: float | None = None
    pass1: float | None = None
    passk: float | None = None
    k: int | None = None
    mean_score: float | None = None
    median_latency: float | None = None
    median_ttft: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    cost_complete: bool = True
    rank: int | None = None
    #: the vision judge: mean score over judged samples, and best-of-n (per prompt, the
    #: best judged sample's score, averaged over prompts)
    judge_mean: float | None = None
    judge_best: float | None = None
    judge_n: int = 0


def lane_stats(lane: Lane, cells: list[Cell]) -> Standing:
    st = Standing(lane)
    samples = [s for c in cells for s in c.samples]
    judged = [s for s in samples if s.judged]
    st.samples, st.judged, st.passed = len(samples), len(judged), sum(s.passed for s in judged)
    if judged:
        st.pass_rate = st.passed / len(judged)
        st.mean_score = sum(s.score for s in judged) / len(judged)
        per_prompt = [(c.n_judged, c.n_passed) for c in cells if c.n_judged]
        st.pass1 = sum(c / n for n, c in per_prompt) / len(per_prompt)
        st.k = min(n for n, _ in per_prompt)
        st.passk = sum(pass_at_k(n, c, st.k) for n, c in per_prompt) / len(per_prompt)
    scores = [v for c in cells for v in c.judge_scores]
    if scores:
        st.judge_n, st.judge_mean = len(scores), sum(scores) / len(scores)
        best = [max(c.judge_scores) for c in cells if c.judge_scores]
        st.judge_best = sum(best) / len(best)
    for attr, name in (("median_latency", "latency_s"), ("median_ttft", "ttft_s")):
        values = [v for s in samples if (v := s.timing(name)) is not None]
        setattr(st, attr, statistics.median(values) if values else None)
    totals = LaneTotals(lane.name)  # tokens and cost: the rule every total uses
    for s in samples:
        totals.add(s.reply)
    if totals.with_usage:
        st.tokens_in, st.tokens_out = totals.prompt_tokens, totals.completion_tokens
    if totals.priced:
        st.cost = totals.cost_usd
    st.cost_complete = totals.cost_complete
    return st


@dataclass
class SiteData:
    run: Run
    manifest: dict[str, Any]
    prompts: list[Prompt]
    lanes: list[Lane]
    samples: list[SampleView]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    stats: list[Standing] = field(default_factory=list)
    check_names: list[str] = field(default_factory=list)

    def entry(self, lane: str) -> dict[str, Any]:
        """The lane's entry in ``run.json`` ``models``, or {}."""
        for m in self.manifest.get("models") or []:
            if isinstance(m, dict) and m.get("name") == lane:
                return m
        return {}

    def cell(self, prompt: str, lane: str) -> Cell | None:
        return self.cells.get((prompt, lane))

    @property
    def judges(self) -> list[str]:
        """Who judged this run's pages ("lane (model)"), for the notes beside the scores."""
        names = {
            f"{j.get('judge')} ({j.get('model')})" if j.get("model") else str(j.get("judge"))
            for v in self.samples
            if (j := v.judgement) and v.judge_score is not None
        }
        return sorted(names)

    @property
    def ranked(self) -> list[Standing]:
        return [s for s in self.stats if not s.lane.is_reference]

    @property
    def references(self) -> list[Standing]:
        return [s for s in self.stats if s.lane.is_reference]


def _lanes(manifest: dict[str, Any], config: Config | None, found: list[str]) -> list[Lane]:
    entries = {
        m["name"]: m for m in manifest.get("models") or [] if isinstance(m, dict) and "name" in m
    }
    names = list(dict.fromkeys([*entries, *found]))
    lanes = []
    for name in names:
        entry = entries.get(name, {})
        spec = config.models.get(name) if config else None
        ref = bool(entry.get("reference")) or bool(spec and spec.is_reference)
        display = spec.display if spec else (REFERENCE_LABEL if ref else name)
        model_id = str(entry.get("model_id") or (spec.model if spec else ""))
        lane = Lane(name, display, ref, model_id, bool(entry.get("imported")))
        if name not in found:
            skipped = entry.get("skipped")
            lane.empty_reason = (
                f"skipped: {skipped}"
                if isinstance(skipped, str) and skipped
                else "no samples: not requested in this run, or not generated yet"
            )
        lanes.append(lane)
    return sorted(lanes, key=lambda lane: not lane.is_reference)


def _placeholder_prompt(pid: str) -> Prompt:
    return Prompt(id=pid, title=pid, prompt="")


def collect(run: Run, catalogue: dict[str, Prompt], config: Config | None) -> SiteData:
    """Read the whole run once and arrange it for the pages."""
    manifest = run.manifest()
    raw = list(run.samples())
    lanes = _lanes(manifest, config, [s.key.model for s in raw])
    by_name = {lane.name: lane for lane in lanes}
    views = [read_sample(s, by_name[s.key.model]) for s in raw]
    for v in views:
        if v.reply.get("reference") and not v.lane.is_reference:
            v.lane.is_reference, v.lane.display = True, REFERENCE_LABEL
        v.lane.imported = v.lane.imported or bool(v.reply.get("imported"))
    for lane in lanes:
        mine = [v for v in views if v.lane is lane]
        if mine and all(v.status == "failed" for v in mine):
            lane.empty_reason = f"all {len(mine)} request(s) failed to generate"
    lanes.sort(key=lambda lane: not lane.is_reference)
    listed = [p["id"] for p in manifest.get("prompts") or []]
    pids = list(dict.fromkeys([*(p for p in catalogue if p in listed or not listed), *listed]))
    pids += [p for p in dict.fromkeys(v.key.prompt for v in views) if p not in pids]
    used = {v.key.prompt for v in views} | set(listed)
    prompts = [catalogue.get(p) or _placeholder_prompt(p) for p in pids if p in used]
    order = {p.id: i for i, p in enumerate(prompts)}
    lane_order = {lane.name: i for i, lane in enumerate(lanes)}
    views.sort(key=lambda v: (order[v.key.prompt], lane_order[v.key.model], v.key.index))
    data = SiteData(run, manifest, prompts, lanes, views)
    for v in views:
        data.cells.setdefault(
            (v.key.prompt, v.key.model), Cell(v.key.prompt, v.lane, [])
        ).samples.append(v)
    for cell in data.cells.values():
        cell.samples.sort(key=SampleView.sort_key)
    data.stats = [
        lane_stats(lane, [c for c in data.cells.values() if c.lane is lane]) for lane in lanes
    ]
    ranked = sorted(
        data.ranked,
        key=lambda s: (s.pass1 is None, -(s.pass1 or 0), -(s.mean_score or 0), s.lane.name),
    )
    for i, st in enumerate(ranked, 1):
        st.rank = i
    data.stats = ranked + data.references
    data.check_names = sorted({c.get("name") for v in views for c in v.checks if c.get("name")})
    return data
