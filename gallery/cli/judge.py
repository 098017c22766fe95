"""`gallery judge`: a vision model scores every rendered page against its prompt's rubric."""

from __future__ import annotations

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import RUN_OPTION, common


def print_judged(sample, record) -> None:
    if record.get("error"):
        click.echo(f"  ----  {sample.key.label}  (no score: {record['error'][:120]})")
        return
    how = " (replayed)" if record.get("replayed") else ""
    click.echo(f"  {record['score']:.2f}  {sample.key.label}{how}")


def print_judge_summary(summary) -> None:
    errors = f", {len(summary.errors)} without a score" if summary.errors else ""
    click.echo(
        f"judge {summary.lane}: {summary.judged} judged ({summary.replayed} replayed), "
        f"{summary.skipped} unchanged, {summary.not_rendered} not rendered{errors}; "
        f"{summary.requests} request(s), ${summary.cost_usd:.4f}"
    )


def judge_stage(paths: Workspace, run, lane: str, **options) -> object:
    """Judge a run with a line per sample and a summary; for `judge` and `run`."""
    from gallery.errors import UsageError
    from gallery.judging.stage import judge_run, unready

    config, catalogue = paths.load_config(), paths.load_prompts()
    if (why := unready(config.select([lane])[0])) is not None:
        raise UsageError(why, field="--judge")  # one line, before any output
    click.echo(f"judge: run {run.id} with {lane}")
    summary = judge_run(run, catalogue, config, lane, on_done=print_judged, **options)
    print_judge_summary(summary)
    return summary


@click.command()
@RUN_OPTION
@click.option(
    "--judge",
    "lane",
    help="The judge lane: a [models.NAME] vision endpoint (default: [defaults] judge).",
)
@click.option("--model", "-m", "model_names", multiple=True, help="Only this model's samples.")
@click.option("--prompt", "-p", "prompt_ids", multiple=True, help="Only this prompt's samples.")
@click.option("--concurrency", "-j", type=int, help="Judge requests in flight at once.")
@click.option("--fresh", is_flag=True, help="Ask the judge again instead of replaying the cache.")
@common
def judge(
    paths: Workspace, run_id: str, lane, model_names, prompt_ids, concurrency, fresh: bool
) -> None:
    """Score each rendered page against its prompt's rubric with a vision model.

    One request per sample: the prompt, its [[rubric]] checklist (a generic one
    when the prompt has none), the timed screenshots and the frames around each
    scripted input, the smoke checks and the page source. Writes judgement.json
    beside each verdict. Answers are cached: a rerun asks nothing and costs
    nothing (--fresh asks again). A model's judgement is not a person's.
    """
    from gallery.errors import UsageError
    from gallery.records.store import Store
    from gallery.render.stage import Selection

    config = paths.load_config()
    lane = lane or config.defaults.judge
    if not lane:
        raise UsageError(
            "no judge lane: pass --judge NAME or set [defaults] judge", field="--judge"
        )
    select = Selection(tuple(model_names), tuple(prompt_ids))
    select.check(paths.load_prompts())
    run = Store(paths.out).open_run(run_id)
    judge_stage(paths, run, lane, select=select, fresh=fresh, concurrency=concurrency)
