"""Which two pages to show next: the pair a vote would tell the most about.

Lanes with fewer votes between them come first, then lanes whose ratings are
closest (a vote between two lanes far apart says little), ties broken at random.
The pair is two samples of one prompt both lanes answered with a page, never a
lane against itself; hand-written references take part only when asked for.
Left and right are drawn at random, so a side's place says nothing of its lane.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from gallery.records.store import Run
from gallery.records.votes import Vote


def candidates(
    run: Run, *, references: set[str], with_references: bool
) -> dict[str, dict[str, list[int]]]:
    """prompt -> lane -> sample indices with a page to show."""
    out: dict[str, dict[str, list[int]]] = {}
    for sample in run.samples():
        if not sample.runnable:
            continue
        if sample.key.model in references and not with_references:
            continue
        out.setdefault(sample.key.prompt, {}).setdefault(sample.key.model, []).append(
            sample.key.index
        )
    return out


def next_pair(
    pool: dict[str, dict[str, list[int]]],
    votes: Iterable[Vote],
    rated: dict[str, float],
    rng: random.Random,
) -> dict[str, Any] | None:
    """The next pair as ``{"prompt", "a": {"model", "sample"}, "b": {...}}`` (None: no pair)."""
    shared: dict[tuple[str, str], list[str]] = {}
    for prompt, lanes in pool.items():
        for x, y in combinations(sorted(lanes), 2):
            shared.setdefault((x, y), []).append(prompt)
    if not shared:
        return None
    seen = Counter(tuple(sorted((v.a.model, v.b.model))) for v in votes)

    def informative(pair: tuple[str, str]) -> tuple[int, float, float]:
        gap = abs(rated.get(pair[0], 1000.0) - rated.get(pair[1], 1000.0))
        return (seen[pair], gap, rng.random())

    x, y = min(shared, key=informative)
    prompt = rng.choice(shared[(x, y)])
    left, right = (x, y) if rng.random() < 0.5 else (y, x)
    return {
        "prompt": prompt,
        "a": {"model": left, "sample": rng.choice(pool[prompt][left])},
        "b": {"model": right, "sample": rng.choice(pool[prompt][right])},
    }
