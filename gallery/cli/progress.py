"""Progress for the generate stage: a live rich display on a terminal, plain lines elsewhere.

On a TTY each model gets a progress bar with done/failed/replayed, tokens and
spend so far. In logs and CI (not a TTY) every sample is one line that a
script can grep, and nothing redraws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gallery.generate.stage import GenerateResult, Reporter
from gallery.records.store import Run, SampleKey
from gallery.records.totals import LaneTotals


def _money(usd: float, complete: bool = True) -> str:
    return f"${usd:.4f}" + ("" if complete else "+")


class LineReporter:
    """One line per sample: ``ok  prompt/model/1  1234 tok  5.2s  $0.0012  replayed``."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo

    def start(self, run: Run, planned: dict[str, int]) -> None:
        todo = sum(planned.values())
        self.echo(f"generate: run {run.id}: {todo} sample(s) to produce")

    def note(self, line: str) -> None:
        self.echo(line)

    def sample(self, key: SampleKey, reply: dict[str, Any], lane: LaneTotals) -> None:
        status = reply["status"]
        mark = {"ok": "ok", "no-artifact": "no-page", "failed": "FAILED"}.get(status, status)
        parts = [f"  {mark:<8}{key.label}"]
        usage = reply.get("usage") or {}
        if usage:
            approx = "~" if usage.get("estimated") else ""
            parts.append(f"{approx}{usage.get('completion_tokens', 0)} tok")
        latency = (reply.get("timing") or {}).get("latency_s")
        if latency is not None and not reply.get("replayed"):
            parts.append(f"{latency:.1f}s")
        cost = reply.get("cost")
        if cost is not None and not reply.get("replayed") and not reply.get("reference"):
            parts.append(_money(cost["usd"], cost["complete"]))
        if reply.get("replayed"):
            parts.append("replayed")
        if reply.get("reference"):
            parts.append("reference")
        if reply.get("truncated"):
            parts.append("truncated")
        if status == "failed":
            parts.append(reply.get("error") or "")
        elif status == "no-artifact":
            parts.append((reply.get("extract") or {}).get("reason") or "")
        self.echo("  ".join(p for p in parts if p))

    def finish(self) -> None:
        pass


class RichReporter:
    """A live progress bar per model (done/failed/replayed, tokens, spend)."""

    def __init__(self, console: Any):
        self.console = console
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def start(self, run: Run, planned: dict[str, int]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console.print(f"generate: run {run.id}", highlight=False)
        self.progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=self.console,
        )
        for name, total in planned.items():
            self.tasks[name] = self.progress.add_task(name, total=total, detail="")
        self.progress.start()

    def note(self, line: str) -> None:
        self.console.print(line, highlight=False)

    def sample(self, key: SampleKey, reply: dict[str, Any], lane: LaneTotals) -> None:
        detail = (
            f"failed {lane.failed}  replayed {lane.replayed}  "
            f"{lane.completion_tokens} tok  {_money(lane.cost_usd, lane.cost_complete)}"
        )
        self.progress.update(self.tasks[key.model], advance=1, detail=detail)
        if reply["status"] == "failed":
            self.progress.console.print(f"  failed {key.label}: {reply.get('error')}")

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def reporter_for(console: Any, echo: Callable[[str], None], tty: bool) -> Reporter:
    """The live display on a terminal, plain lines otherwise."""
    return RichReporter(console) if tty else LineReporter(echo)


def summary_table(result: GenerateResult, lanes: dict[str, LaneTotals]) -> Any:
    """Per model over the whole run: samples, ok, no page, failed, replayed, tokens, cost."""
    from rich.table import Table

    table = Table(title=f"run {result.run.id}")
    for col in ("model", "samples", "ok", "no page", "failed", "replayed", "tokens", "cost"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, lane in lanes.items():
        table.add_row(
            name,
            str(lane.samples),
            str(lane.ok),
            str(lane.no_artifact),
            str(lane.failed),
            str(lane.replayed),
            f"{lane.prompt_tokens}+{lane.completion_tokens}",
            _money(lane.cost_usd, lane.cost_complete),
        )
    return table
