"""`gallery run`, `generate`, `render`, `build`, `import`: the stages, one command each, and the whole job."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import (
    CHROMIUM_OPTION,
    RUN_OPTION,
    SHARD_OPTION,
    common,
    console,
    site_option,
)
from gallery.cli.judge import print_judge_summary, print_judged


def generate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `gallery generate` and `gallery run` share."""
    options = [
        click.option(
            "--model",
            "-m",
            "models",
            multiple=True,
            help="Model name from the config (repeatable).",
        ),
        click.option("--prompt", "-p", "prompts", multiple=True, help="Prompt id (repeatable)."),
        click.option("--samples", "-n", type=int, help="Samples per prompt and model."),
        click.option(
            "--concurrency", "-j", type=int, help="Requests in flight at once (all models)."
        ),
        click.option(
            "--fresh", is_flag=True, help="Call the models again instead of replaying the cache."
        ),
        click.option("--run", "run", help="Add to this run (id or path) instead of a new one."),
        click.option(
            "--system-prompt", help="System prompt for chat models (default: the config's)."
        ),
        SHARD_OPTION,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _reporter():
    from gallery.cli.progress import reporter_for

    return reporter_for(console(), click.echo, sys.stdout.isatty())


def print_generated(result) -> None:
    """The generate stage's summary table and one line; for `generate` and `run`."""
    from gallery.cli.progress import summary_table
    from gallery.records.totals import lane_totals

    console().print(summary_table(result, lane_totals(result.run)))
    done = sum(lane.samples for lane in result.lanes.values())
    totals = result.manifest.get("totals") or {}
    spend = sum(lane.cost_usd for lane in result.lanes.values())
    click.echo(
        f"run {result.run.id}: {done} new sample(s) in {result.wall_s:.1f}s, {result.on_disk} kept "
        f"from before; spent ${spend:.4f}; {totals.get('samples', 0)} sample(s) in the run"
    )


def print_rendered_sample(sample, verdict) -> None:
    if verdict.get("judged") is False:
        click.echo(f"  ----  {sample.key.label}  (not judged: {verdict.get('reason')})")
        return
    mark = "pass" if verdict["passed"] else "FAIL"
    failed = [c["name"] for c in verdict["checks"] if not c["passed"] and c["required"]]
    click.echo(f"  {mark}  {sample.key.label}" + (f"  ({', '.join(failed)})" if failed else ""))


def print_render_summary(summary) -> None:
    hung = f", {len(summary.failed_pages)} hung or crashed" if summary.failed_pages else ""
    unjudged = f", {len(summary.unjudged)} not judged" if summary.unjudged else ""
    click.echo(
        f"render: {summary.rendered} rendered, {summary.skipped} unchanged, "
        f"{summary.no_page} without a page{hung}{unjudged}"
    )
    if summary.unjudged:
        click.echo(
            "render: not judged (the browser or the harness failed, not the page; "
            "the next run renders them again):"
        )
        for label, reason in summary.unjudged.items():
            click.echo(f"  {label}: {reason[:200]}")


def print_lanes(run, lanes) -> None:
    """Per lane: passed/total samples and cost (``job.LaneVerdicts``)."""
    from rich.table import Table

    table = Table(title=f"run {run.id}")
    for col in ("model", "passed", "cost (USD)"):
        table.add_column(col)
    for lane in lanes:
        cost = f"{lane.cost_usd:.4f}" + ("" if lane.cost_complete else " (incomplete)")
        table.add_row(lane.label, f"{lane.passed}/{lane.total}", cost)
    console().print(table)


@click.command()
@generate_options
@click.option("--resume", is_flag=True, help="Continue the latest unfinished run.")
@site_option("Where to build the static site.")
@CHROMIUM_OPTION
@click.option("--strict", is_flag=True, help="Exit 1 when a sample fails a required check.")
@common
def run(
    paths: Workspace, resume: bool, site_dir: Path, chromium, strict: bool, **options: Any
) -> None:
    """Generate (or replay), render, check and build the site: the whole job.

    An interrupted run is continued by a plain rerun (or `--resume`): only the
    missing samples are produced. Cached replies are replayed at no cost, and
    pages are rendered again only when something that affects them changed.
    """
    from gallery.job import run_job
    from gallery.render.browser import find_chromium

    find_chromium(chromium)  # a bad --chromium is one error line, before any model call

    def generated(result) -> None:
        print_generated(result)
        click.echo(f"render: run {result.run.id}")

    result = run_job(
        paths,
        site_dir=site_dir,
        chromium=chromium,
        render_concurrency=None,  # one page per core: -j is the model requests' in flight
        reporter=_reporter(),
        on_generated=generated,
        on_rendered=print_rendered_sample,
        on_judged=print_judged,
        resume=resume,
        **options,
    )
    print_render_summary(result.rendered)
    if result.judged is not None:
        print_judge_summary(result.judged)
    elif result.judge_skipped:
        click.echo(f"judge: skipped ({result.judge_skipped})")
    print_lanes(result.run, result.lanes)
    click.echo(f"site: {result.site.summary()}")
    click.echo(f"open {result.site.index.resolve()}")
    if strict and result.failed:
        sys.exit(1)


@click.command()
@generate_options
@common
def generate(paths: Workspace, **options: Any) -> None:
    """Send the prompts to the models and store the replies (a new run, or --run RUN).

    Continues the latest run instead when it was interrupted. Cached replies
    are replayed at no cost unless --fresh; a model whose API key is not set
    is skipped unless all its replies are cached.
    """
    from gallery.generate.stage import generate_run
    from gallery.records.store import Store

    config, catalogue = paths.load_config(), paths.load_prompts()
    result = generate_run(config, catalogue, Store(paths.out), reporter=_reporter(), **options)
    print_generated(result)


@click.command()
@RUN_OPTION
@click.option(
    "--model", "-m", "model_names", multiple=True, help="Only this model's samples (repeatable)."
)
@click.option(
    "--prompt", "-p", "prompt_ids", multiple=True, help="Only this prompt's samples (repeatable)."
)
@click.option(
    "--concurrency",
    "-j",
    type=int,
    help="Pages rendered at once.  [default: one per CPU core]",
)
@click.option("--force", is_flag=True, help="Render again even when nothing changed.")
@CHROMIUM_OPTION
@SHARD_OPTION
@common
def render(
    paths: Workspace,
    run_id: str,
    model_names,
    prompt_ids,
    concurrency: int | None,
    force: bool,
    chromium,
    shard: str | None,
) -> None:
    """Run every stored page in Chromium, screenshot it and judge it.

    Each page runs sandboxed (no network but npm-resolved CDN libraries) on a
    virtual clock. A sample is rendered again only when its page, its prompt's
    render settings or checks, or the Chromium version changed (use --force).
    """
    from gallery.records.shard import parse_shard
    from gallery.records.store import Store
    from gallery.render.stage import Selection

    select = Selection(tuple(model_names), tuple(prompt_ids), parse_shard(shard))
    run = Store(paths.out).open_run(run_id)
    render_stage(paths, run, concurrency=concurrency, chromium=chromium, force=force, select=select)


def render_stage(
    paths: Workspace, run, *, concurrency: int | None, chromium=None, force=False, select=None
):
    """Render a run with a line per sample and a summary; for `render` and `import`."""
    from gallery.render.browser import find_chromium
    from gallery.render.stage import render_run

    catalogue = paths.load_prompts()
    if select is not None:
        select.check(catalogue)  # an unknown --prompt is one error line, before any output
    find_chromium(chromium)  # a bad --chromium is one error line, before any output
    click.echo(f"render: run {run.id}")
    summary = render_run(
        run,
        catalogue,
        chromium=chromium,
        concurrency=concurrency,
        force=force,
        select=select,
        on_done=print_rendered_sample,
    )
    print_render_summary(summary)
    return summary


@click.command()
@RUN_OPTION
@site_option("Where to write the static site.")
@common
def build(paths: Workspace, run_id: str, site_dir: Path) -> None:
    """Build the static gallery site from a run; prints the path of index.html.

    Incremental: only pages whose content changed are rewritten. The run page
    shows the comparison with the baseline (`gallery baseline set`) when one is recorded.
    """
    from gallery.job import build as build_run_site
    from gallery.records.store import Store

    run = Store(paths.out).open_run(run_id)
    report = build_run_site(paths, run, site_dir)
    click.echo(f"site for run {run.id}: {report.summary()}", err=True)
    click.echo(str(report.index))


@click.command(name="import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prompt", "prompt_id", required=True, help="The prompt these pages answer.")
@click.option("--model", "label", required=True, help="A lane label for where the pages came from.")
@click.option("--run", "run_id", default=None, help="Add to this run (default: a new run).")
@click.option("--render", "do_render", is_flag=True, help="Render the imported pages at once.")
@common
def import_(
    paths: Workspace, files: tuple[Path, ...], prompt_id: str, label: str, run_id, do_render: bool
) -> None:
    """Bring pages made elsewhere (a chat UI, another tool) into a run as samples.

    Each FILE becomes one sample of the prompt in the lane LABEL, keeping the
    file name as the sample's source. Then `gallery render` judges them.
    """
    from gallery.catalogue.prompts import select as select_prompts
    from gallery.generate.imported import import_pages
    from gallery.records.store import Store

    prompt = select_prompts(paths.load_prompts(), [prompt_id])[0]
    store = Store(paths.out)
    run = store.open_run(run_id) if run_id else store.new_run()
    samples = import_pages(run, files, prompt, label)
    for s in samples:
        click.echo(f"imported {s.reply['source']} -> {s.key.label}")
    click.echo(f"run {run.id}: {len(samples)} page(s) imported")
    if do_render:
        from gallery.render.stage import Selection

        render_stage(paths, run, concurrency=None, select=Selection((label,), (prompt.id,)))
