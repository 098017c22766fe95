"""What ``gallery serve`` answers on ``/api/``: the next pair, and votes.

``Arena`` holds the served run and the outputs folder's vote log. It never
trusts a request: a vote is parsed against the ``Vote`` schema and checked
against the run it names (``records/votes.py``) before a byte is written, and
an error is one line for the voter to read.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from gallery.arena.pairs import candidates, next_pair
from gallery.arena.ratings import Rating, agreement, ratings
from gallery.errors import GalleryError
from gallery.records.store import Run, Store
from gallery.records.votes import Vote, VoteError, VoteLog, check_against, parse_vote, stamp


class Arena:
    """The arena of one run in one outputs folder."""

    def __init__(self, store: Store, run: Run, *, references: set[str] | None = None):
        self.store, self.run = store, run
        self.log = VoteLog(store.out)
        self.references = references if references is not None else _references(run)
        self._rng = random.Random()
        self._lock = threading.Lock()

    def pair(self, *, with_references: bool = False) -> dict[str, Any] | None:
        pool = candidates(self.run, references=self.references, with_references=with_references)
        votes = list(self.log)
        rated = {r.model: r.rating for r in ratings(votes, bootstrap=0)} if votes else {}
        with self._lock:
            pair = next_pair(pool, votes, rated, self._rng)
        return None if pair is None else {"run": self.run.id, **pair}

    def vote(self, body: bytes) -> Vote:
        """Validate and store one vote; ``VoteError`` (nothing written) when it is not one."""
        vote = parse_vote(body)
        run = self.run
        if vote.run is not None and vote.run != run.id:
            try:
                run = self.store.open_run(vote.run)
            except GalleryError:
                raise VoteError(f"run: no run {vote.run!r} in {self.store.out}") from None
        check_against(vote, run)
        stored = stamp(vote, run)
        self.log.append([stored])
        return stored


def _references(run: Run) -> set[str]:
    models = run.manifest().get("models") or []
    names = {m["name"] for m in models if isinstance(m, dict) and m.get("reference")}
    return names | {"reference"}


def scores(store: Store) -> tuple[Any, Any]:
    """(smoke score, judge score) of a vote's side, read from the run the vote names."""
    runs: dict[str, Run | None] = {}

    def sample(vote: Vote, side: str) -> Any:
        if vote.run not in runs:
            try:
                runs[vote.run] = store.open_run(vote.run) if vote.run else None
            except GalleryError:
                runs[vote.run] = None
        run = runs[vote.run]
        return None if run is None else run.sample(vote.keys[0 if side == "a" else 1])

    def smoke(vote: Vote, side: str) -> float | None:
        try:
            verdict = (s := sample(vote, side)) and s.verdict
        except GalleryError:
            return None
        if not verdict or verdict.get("judged") is False:
            return None
        return verdict.get("score")

    def judge(vote: Vote, side: str) -> float | None:
        s = sample(vote, side)
        return None if s is None else s.judge_score

    return smoke, judge


def standings(
    store: Store, votes: list[Vote], *, bootstrap: int | None = None
) -> tuple[list[Rating], dict[str, Any]]:
    """Ratings of the lanes and the agreement of the checks and the judge with the votes."""
    kw = {} if bootstrap is None else {"bootstrap": bootstrap}
    smoke, judge = scores(store)
    return ratings(votes, **kw), {
        "checks": agreement(votes, smoke),
        "judge": agreement(votes, judge),
    }
