"""`gallery merge`: join the runs of a sharded CI matrix."""

from __future__ import annotations

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--into", "into", help="The run to merge into (created if new; default: a new run).")
@common
def merge(paths: Workspace, runs: tuple[str, ...], into: str | None) -> None:
    """Combine shard outputs (`--shard I/N`) into one run.

    RUNS are run ids or paths (for example the runs a CI matrix made, gathered
    into one outputs/runs/). Their sample folders (replies, pages, renders) are
    copied into one run and the manifests and totals joined; then `gallery
    build --run ID` makes its site. The same sample in two runs is an error.
    """
    from gallery.records.shard import merge_runs
    from gallery.records.store import Store

    result = merge_runs(Store(paths.out), list(runs), into)
    for line in result.notes:
        click.echo(f"note: {line}", err=True)
    totals = result.run.manifest().get("totals") or {}
    click.echo(
        f"run {result.run.id}: {result.added} sample(s) merged from {', '.join(result.sources)}"
        + (f", {result.already} already there" if result.already else "")
        + f"; {totals.get('samples', 0)} sample(s) in the run"
    )
