"""Lane totals: the one place samples are counted and their tokens and cost summed.

``run.json``'s ``totals``, the progress lines of ``gallery generate``, the
summary of ``gallery run`` and the site's leaderboard all add replies up with
``LaneTotals.add``, so they agree on what "the cost is complete" means: every
billed call has a priced cost (a failed call, an imported page and a
hand-written reference are not billed, so they never make it incomplete).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gallery.records.store import Run

#: The counters that add up across lanes (``run_totals``).
COUNTERS = ("samples", "ok", "no_artifact", "failed", "replayed")


@dataclass
class LaneTotals:
    """Counts for one model (lane), or for a whole run (``model == "*"``)."""

    model: str
    planned: int = 0
    samples: int = 0
    ok: int = 0
    no_artifact: int = 0
    failed: int = 0
    replayed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: replies that carried token counts / a priced cost (none: show "unknown", not 0)
    with_usage: int = 0
    priced: int = 0
    cost_usd: float = 0.0
    cost_complete: bool = True

    def add(self, reply: dict[str, Any]) -> None:
        self.samples += 1
        status = reply.get("status", "ok")
        self.ok += status == "ok"
        self.no_artifact += status == "no-artifact"
        self.failed += status == "failed"
        self.replayed += bool(reply.get("replayed"))
        usage = reply.get("usage")
        if isinstance(usage, dict) and usage:
            self.with_usage += 1
            self.prompt_tokens += usage.get("prompt_tokens") or 0
            self.completion_tokens += usage.get("completion_tokens") or 0
        cost = reply.get("cost")
        if not isinstance(cost, dict):
            # no pricing for a billed call: the spend is unknown, not zero
            if status != "failed" and not reply.get("imported") and not reply.get("reference"):
                self.cost_complete = False
        else:
            self.priced += 1
            self.cost_usd = round(self.cost_usd + (cost.get("usd") or 0.0), 8)
            self.cost_complete = self.cost_complete and bool(cost.get("complete", True))

    def merge(self, other: LaneTotals) -> None:
        for name in (*COUNTERS, "prompt_tokens", "completion_tokens", "with_usage", "priced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_usd = round(self.cost_usd + other.cost_usd, 8)
        self.cost_complete = self.cost_complete and other.cost_complete


def lane_totals(run: Run) -> dict[str, LaneTotals]:
    """Per-model totals over every sample of the run on disk."""
    lanes: dict[str, LaneTotals] = {}
    for sample in run.samples():
        lanes.setdefault(sample.key.model, LaneTotals(sample.key.model)).add(sample.reply)
    return lanes


def run_totals(run: Run, wall_s: float) -> dict[str, Any]:
    """``run.json`` totals, recomputed from the samples on disk (true after any resume)."""
    total = LaneTotals("*")
    for lane in lane_totals(run).values():
        total.merge(lane)
    return {
        **{name: getattr(total, name) for name in COUNTERS},
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "cost_usd": total.cost_usd,
        "cost_complete": total.cost_complete,
        "wall_s": round(wall_s, 3),
    }
