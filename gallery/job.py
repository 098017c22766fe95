"""The whole job of ``gallery run``, callable from Python: generate → render → judge → build.

``run_job`` reads the config and the prompt catalogue once (through the
``Workspace``), runs the stages on one run, keeps ``run.json``'s status
true at every step, and returns what the command line prints. The status
says how far the job got, so a plain rerun after a crash continues the same
run (``generate.stage.INTERRUPTED``): ``running`` while replies are made,
``rendering`` while pages are rendered and checked (and scored by the vision
judge, when ``[defaults] judge`` names a lane whose key is set), ``building``
while the site is written, ``finished`` once the site is there. The site's
pages are written saying ``finished``, the status the run has the moment they
are all written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.arena.ratings import as_json
from gallery.arena.service import standings
from gallery.catalogue.config import Config
from gallery.catalogue.workspace import Workspace
from gallery.compare.report import site_comparison
from gallery.generate.stage import GenerateResult, Reporter, generate_run
from gallery.judging.stage import JudgeSummary, judge_run, unready
from gallery.records.store import Run, Sample, Store
from gallery.records.totals import lane_totals
from gallery.records.votes import VoteLog
from gallery.render.stage import RenderSummary, render_run, result_rows
from gallery.site.build import BuildReport, build_site


@dataclass
class LaneVerdicts:
    """One lane of a finished run: how many samples pass, and what they cost."""

    model: str
    label: str
    passed: int = 0
    total: int = 0
    cost_usd: float = 0.0
    cost_complete: bool = True


@dataclass
class JobResult:
    run: Run
    generated: GenerateResult
    rendered: RenderSummary
    site: BuildReport
    lanes: list[LaneVerdicts] = field(default_factory=list)
    #: the judge step: its summary, or why it was skipped (None: no judge configured)
    judged: JudgeSummary | None = None
    judge_skipped: str | None = None

    @property
    def failed(self) -> int:
        """Samples that did not pass (no verdict counts as not passing)."""
        return sum(lane.total - lane.passed for lane in self.lanes)


def lane_verdicts(run: Run, config: Config | None) -> list[LaneVerdicts]:
    """Per lane: passed/total samples (``result_rows``) and cost (``LaneTotals``)."""
    lanes: dict[str, LaneVerdicts] = {}
    for row in result_rows(run):
        name = row["model"]
        spec = config.models.get(name) if config else None
        lane = lanes.setdefault(name, LaneVerdicts(name, spec.display if spec else name))
        lane.total += 1
        lane.passed += bool(row["passed"])
    for name, totals in lane_totals(run).items():
        if name in lanes:
            lanes[name].cost_usd = totals.cost_usd
            lanes[name].cost_complete = totals.cost_complete
    return list(lanes.values())


def build(
    workspace: Workspace, run: Run, site_dir: Path, *, status: str | None = None
) -> BuildReport:
    """Build the site of ``run`` (the comparison with the baseline included); ``status``:
    the run's status once the build is done, if it is not the one on disk yet."""
    catalogue = workspace.load_prompts() if workspace.prompts_dir.is_dir() else {}
    config = workspace.load_config() if workspace.config_path.is_file() else None
    store = Store(workspace.out)
    comparison = site_comparison(store, run)
    votes = list(VoteLog(workspace.out))
    arena = as_json(*standings(store, votes)) if votes else None
    return build_site(
        run, catalogue, config, site_dir, compare=comparison, status=status, arena=arena
    )


def run_job(
    workspace: Workspace,
    *,
    site_dir: Path,
    chromium: str | None = None,
    render_concurrency: int | None = None,
    reporter: Reporter | None = None,
    on_generated: Callable[[GenerateResult], None] | None = None,
    on_rendered: Callable[[Sample, dict[str, Any]], None] | None = None,
    on_judged: Callable[[Sample, dict[str, Any]], None] | None = None,
    **generate_options: Any,
) -> JobResult:
    """Generate (or replay) the samples, render and check them, score them with the
    judge lane when one is configured and ready, build the site."""
    config, catalogue = workspace.load_config(), workspace.load_prompts()
    store = Store(workspace.out)
    generated = generate_run(config, catalogue, store, reporter=reporter, **generate_options)
    if on_generated is not None:
        on_generated(generated)
    run = generated.run
    run.update_manifest(status="rendering")
    rendered = render_run(
        run,
        catalogue,
        chromium=chromium,
        concurrency=render_concurrency,
        on_done=on_rendered,
    )
    judged, skipped = None, None
    if config.defaults.judge:
        lane = config.defaults.judge
        skipped = unready(config.models[lane])
        if skipped is None:
            judged = judge_run(run, catalogue, config, lane, on_done=on_judged)
    # On disk the run is "building" until its site is whole (a crash now is continued
    # by the next run); the pages it builds already say "finished", as they will be.
    run.update_manifest(status="building")
    site = build(workspace, run, site_dir, status="finished")
    run.update_manifest(status="finished")
    return JobResult(run, generated, rendered, site, lane_verdicts(run, config), judged, skipped)
