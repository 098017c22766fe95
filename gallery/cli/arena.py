"""`gallery ratings` and `gallery votes import`: the arena's votes, read and added."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common, console


@click.group()
def votes() -> None:
    """People's arena votes (outputs/votes.jsonl)."""


@votes.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@common
def votes_import(paths: Workspace, file: Path) -> None:
    """Add votes saved by the arena page on a static host (its download link).

    Each vote is checked against the run it names; a vote already stored (the
    same id) is skipped, so importing a file twice adds nothing.
    """
    from gallery.records.store import Store
    from gallery.records.votes import VoteError, VoteLog, check_against, read_vote_file, stamp

    store = Store(paths.out)
    incoming = read_vote_file(file)
    log = VoteLog(paths.out)
    have = log.ids()
    new = []
    for n, vote in enumerate(incoming, 1):
        if vote.id and vote.id in have:
            continue
        if vote.run is None:
            raise VoteError(f"vote {n}: no run (which run's samples does it compare?)", source=file)
        try:
            run = store.open_run(vote.run)
            check_against(vote, run)
        except VoteError as exc:
            raise VoteError(f"vote {n}: {exc.message}", source=file) from None
        stored = stamp(vote, run)
        have.add(stored.id)
        new.append(stored)
    log.append(new)
    click.echo(f"votes: {len(new)} added, {len(incoming) - len(new)} already there ({log.path})")


@click.command()
@click.option("--prompt", "-p", "prompt_id", help="Only the votes on this prompt.")
@click.option("--run", "run_id", help="Only the votes on this run's samples.")
@click.option("--json", "as_json", is_flag=True, help="Print the ratings as one JSON object.")
@common
def ratings(paths: Workspace, prompt_id: str | None, run_id: str | None, as_json: bool) -> None:
    """Arena ratings per lane from people's votes, with 95% intervals.

    Bradley–Terry on the Elo scale (400·log10 of the odds, the lanes' mean at
    1000); a tie or "both bad" counts as half a win to each side; intervals from
    a seeded bootstrap over the votes (few votes: wide intervals). Below, how
    often the side with the higher smoke-check score, and the higher judge
    score, is the side people preferred.
    """
    from rich.table import Table

    from gallery.arena.ratings import as_json as ratings_json
    from gallery.arena.service import standings
    from gallery.records.store import Store
    from gallery.records.votes import VoteLog

    store = Store(paths.out)
    chosen = [
        v
        for v in VoteLog(paths.out)
        if (prompt_id is None or v.prompt == prompt_id) and (run_id is None or v.run == run_id)
    ]
    rated, agreement = standings(store, chosen)
    if as_json:
        click.echo(json.dumps(ratings_json(rated, agreement)))
        return
    scope = f" on {prompt_id}" if prompt_id else ""
    table = Table(title=f"arena ratings{scope}: {len(chosen)} vote(s)")
    for col in ("model", "rating", "95% interval", "votes", "win rate"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rated:
        table.add_row(
            r.model,
            f"{r.rating:.0f}",
            f"{r.ci_low:.0f}–{r.ci_high:.0f}",
            str(r.votes),
            f"{r.win_rate:.0%}",
        )
    console().print(table)
    for name, a in agreement.items():
        who = "smoke checks" if name == "checks" else "vision judge"
        if a["pairs"]:
            click.echo(
                f"{who}: agree with people on {a['share']:.0%} of {a['pairs']} voted pairs "
                f"(95% {a['ci_low']:.0%}–{a['ci_high']:.0%})"
            )
        else:
            click.echo(f"{who}: no voted pair with a winner where both sides have a score")
