"""`gallery compare` and `gallery baseline`: regressions between runs, for people and CI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common
from gallery.errors import UsageError


@click.command()
@click.argument("base", required=False)
@click.argument("head", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the whole comparison as JSON.")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write JUnit XML here: one testcase per sample check.",
)
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print a markdown summary (append it to $GITHUB_STEP_SUMMARY in CI).",
)
@click.option(
    "--pixel-threshold",
    type=float,
    default=0.1,
    show_default=True,
    help="How far a colour channel must move (share of 255) for a pixel to count as changed.",
)
@click.option(
    "--max-diff-ratio",
    type=float,
    default=0.001,
    show_default=True,
    help="Share of changed pixels above which a screenshot is a visual change.",
)
@click.option(
    "--judge-threshold",
    type=float,
    default=0.2,
    show_default=True,
    help="A fall of the vision judge's score (0-1) larger than this is reported.",
)
@click.option(
    "--fail-on-judge",
    is_flag=True,
    help="Exit 1 on a judge drop too (a model's judgement: off by default).",
)
@click.option(
    "--diff-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write diff images here (default: diff/ in each of HEAD's sample folders).",
)
@common
def compare(
    paths: Workspace,
    base: str | None,
    head: str | None,
    as_json: bool,
    junit_path: Path | None,
    as_markdown: bool,
    pixel_threshold: float,
    max_diff_ratio: float,
    judge_threshold: float,
    fail_on_judge: bool,
    diff_dir: Path | None,
) -> None:
    """Regressions between two runs; exit 1 when a check that passed now fails.

    BASE and HEAD are run ids, `latest`, `baseline` or paths. BASE defaults to
    the baseline recorded by `gallery baseline set`, HEAD to the latest run.
    Exit 1 when a required check that passed in BASE fails in HEAD, or a
    sample that passed in BASE is missing from HEAD (or, with --fail-on-judge,
    when the vision judge's score of a sample falls by more than
    --judge-threshold); 0 otherwise. Judge drops are always reported.
    """
    from gallery.compare.baseline import read_baseline
    from gallery.compare.report import dumps, markdown, text, write_junit
    from gallery.compare.rule import compare_runs
    from gallery.records.store import Store

    if as_json and as_markdown:
        raise UsageError("choose one of --json and --markdown", field="--json")
    store = Store(paths.out)

    def resolve(ref: str | None, what: str):
        if ref in (None, "baseline"):
            run = read_baseline(store)
            if run is None:
                raise UsageError(
                    f"no baseline recorded in {store.out / 'baseline.json'}: give BASE, "
                    "or record one with `gallery baseline set RUN`",
                    field=what,
                )
            return run
        return store.open_run(ref)

    base_run = resolve(base, "BASE")
    head_run = resolve(head, "HEAD") if head == "baseline" else store.open_run(head or "latest")
    comparison = compare_runs(
        base_run,
        head_run,
        pixel_threshold=pixel_threshold,
        max_diff_ratio=max_diff_ratio,
        diff_dir=diff_dir,
        judge_threshold=judge_threshold,
        fail_on_judge=fail_on_judge,
    )
    if junit_path is not None:
        write_junit(comparison, junit_path)
    if as_json:
        click.echo(dumps(comparison))
    elif as_markdown:
        click.echo(markdown(comparison))
    else:
        for line in text(comparison):
            click.echo(line)
    if comparison.exit_code:
        sys.exit(comparison.exit_code)


@click.group()
def baseline() -> None:
    """The baseline run that `gallery compare` uses by default."""


@baseline.command(name="set")
@click.argument("run_id")
@common
def baseline_set(paths: Workspace, run_id: str) -> None:
    """Record RUN (an id, `latest` or a path) as the baseline, in OUT/baseline.json.

    Commit that file together with the run folder (`git add -f outputs/runs/RUN`)
    so CI compares against the same screenshots and verdicts.
    """
    from gallery.compare.baseline import baseline_path, set_baseline
    from gallery.records.store import Store

    store = Store(paths.out)
    run = store.open_run(run_id)
    data = set_baseline(store, run)
    click.echo(
        f"baseline: run {run.id} ({data['passed']}/{data['samples']} samples pass) "
        f"recorded in {baseline_path(store)}"
    )
