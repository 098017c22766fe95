"""Bradley–Terry ratings from pairwise votes, with intervals, and the checks' agreement.

Each vote between lanes i and j is an outcome for i: 1 (i won), 0 (j won) or ½
(a tie, or both bad: neither is preferred). The Bradley–Terry model says i beats j
with probability σ(θᵢ − θⱼ); the strengths θ maximise the likelihood of the votes
(``scipy.optimize.minimize``, L-BFGS, with a weak Gaussian prior on θ so a lane that
won every one of its few votes gets a large finite rating, not an infinite one).
Ratings are on the usual Elo scale: 400·log₁₀ of the odds, the lanes' mean at 1000.

Intervals come from a seeded bootstrap over votes (resample the votes with
replacement, fit again, take the 2.5th and 97.5th percentiles). With very few
votes every resample is alike (one vote resampled is that vote again), and the
bootstrap alone would call a rating from one vote exact; so an interval is never
narrower than the likelihood's own (±1.96 standard errors from the curvature of
the fit). Few votes give wide intervals, and the intervals say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from gallery.records.votes import Vote

ELO_SCALE = 400 / math.log(10)
ANCHOR = 1000.0
#: The prior's precision on θ (a Gaussian with standard deviation 1/sqrt of it).
PRIOR = 0.01
BOOTSTRAP = 400
SEED = 20251202


@dataclass
class Rating:
    model: str
    rating: float
    ci_low: float
    ci_high: float
    votes: int
    win_rate: float  # wins, ties and both-bad counted as half a win each, over votes


def _outcome(vote: Vote) -> float:
    return {"a": 1.0, "b": 0.0}.get(vote.winner, 0.5)


def fit(n: int, i: np.ndarray, j: np.ndarray, won: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Strengths θ (mean 0) of ``n`` lanes: in ``games[k]`` votes between ``i[k]`` and
    ``j[k]``, ``i[k]`` won ``won[k]`` (halves for ties and both-bad)."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[i] - theta[j]
        ll = won * log_expit(d) + (games - won) * log_expit(-d)
        g = won - games * expit(d)  # d(ll)/d(d)
        grad = np.bincount(i, g, minlength=n) - np.bincount(j, g, minlength=n)
        return -(ll.sum() - PRIOR / 2 * theta @ theta), -(grad - PRIOR * theta)

    theta = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B").x
    return theta - theta.mean()


def ratings(votes: Iterable[Vote], *, bootstrap: int = BOOTSTRAP, seed: int = SEED) -> list[Rating]:
    """Each voted lane's rating with its 95% interval, best first."""
    votes = list(votes)
    if not votes:
        return []
    lanes = sorted({v.a.model for v in votes} | {v.b.model for v in votes})
    index = {m: k for k, m in enumerate(lanes)}
    n = len(lanes)
    # Votes are summed per pair of lanes (i < j) and outcome: the fit sees a few cells,
    # not every vote, and a bootstrap resample is a recount of the cells.
    i_v = np.array([index[v.a.model] for v in votes])
    j_v = np.array([index[v.b.model] for v in votes])
    outcome = np.array([_outcome(v) for v in votes])  # for the lane on side a
    swap = i_v > j_v
    lo, hi = np.where(swap, j_v, i_v), np.where(swap, i_v, j_v)
    w_v = np.where(swap, 1 - outcome, outcome)  # for the lower-numbered lane
    pair = lo * n + hi
    cells, cell_of = np.unique(pair, return_inverse=True)
    ci, cj = cells // n, cells % n

    def counts(pick: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        weights = np.ones(len(votes)) if pick is None else np.bincount(pick, minlength=len(votes))
        games = np.bincount(cell_of, weights, minlength=len(cells))
        won = np.bincount(cell_of, weights * w_v, minlength=len(cells))
        return won, games

    won_all, games_all = counts(None)
    theta = fit(n, ci, cj, won_all, games_all)
    rng = np.random.default_rng(seed)
    draws = np.empty((bootstrap, n))
    for b in range(bootstrap):
        draws[b] = fit(n, ci, cj, *counts(rng.integers(0, len(votes), len(votes))))
    low, high = np.percentile(draws, [2.5, 97.5], axis=0) if bootstrap > 0 else (theta, theta)
    se = _standard_errors(n, ci, cj, games_all, theta)
    low, high = np.minimum(low, theta - 1.96 * se), np.maximum(high, theta + 1.96 * se)
    out = []
    for k, model in enumerate(lanes):
        mine = (i_v == k) | (j_v == k)
        won = np.where(i_v == k, outcome, 1 - outcome)
        out.append(
            Rating(
                model,
                round(float(ANCHOR + ELO_SCALE * theta[k]), 1),
                round(float(ANCHOR + ELO_SCALE * low[k]), 1),
                round(float(ANCHOR + ELO_SCALE * high[k]), 1),
                int(mine.sum()),
                round(float(won[mine].mean()), 4),
            )
        )
    return sorted(out, key=lambda r: -r.rating)


def _standard_errors(
    n: int, i: np.ndarray, j: np.ndarray, games: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Standard errors of θ from the curvature (Hessian) of the penalised likelihood."""
    p = expit(theta[i] - theta[j])
    weight = games * p * (1 - p)
    hessian = PRIOR * np.eye(n)
    np.add.at(hessian, (i, i), weight)
    np.add.at(hessian, (j, j), weight)
    np.add.at(hessian, (i, j), -weight)
    np.add.at(hessian, (j, i), -weight)
    return np.sqrt(np.clip(np.diag(np.linalg.inv(hessian)), 0, None))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def agreement(votes: Iterable[Vote], score: Callable[[Vote, str], float | None]) -> dict[str, Any]:
    """How often the side with the higher ``score`` is the side people preferred.

    Only votes with a winner count (a tie or both-bad prefers neither side), and
    only pairs where both sides have a score and the scores differ.
    """
    agree = pairs = 0
    for v in votes:
        if v.winner not in ("a", "b"):
            continue
        sa, sb = score(v, "a"), score(v, "b")
        if sa is None or sb is None or sa == sb:
            continue
        pairs += 1
        agree += (sa > sb) == (v.winner == "a")
    low, high = wilson(agree, pairs)
    return {
        "pairs": pairs,
        "agree": agree,
        "share": round(agree / pairs, 4) if pairs else None,
        "ci_low": low if pairs else None,
        "ci_high": high if pairs else None,
    }


def as_json(rated: list[Rating], agreements: dict[str, Any]) -> dict[str, Any]:
    return {"models": [asdict(r) for r in rated], "agreement": agreements}
