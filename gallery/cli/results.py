"""`gallery results`: one row per sample of a run."""

from __future__ import annotations

import json

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import RUN_OPTION, common, console


@click.command()
@RUN_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@common
def results(paths: Workspace, run_id: str, as_json: bool) -> None:
    """One row per sample: prompt, model, sample, passed, score, judge, failing checks.

    The last column names the checks that failed (optional ones in brackets), or
    why there is no verdict. "judge" is the vision judge's score (0-1, `gallery
    judge`), "-" when the sample was not judged. With --json, one JSON object per
    line: prompt, model, sample, source, status, passed, score, checks as a name
    -> true/false map, and judge_score (null when not judged).
    """

    from rich.table import Table

    from gallery.records.store import Store
    from gallery.render.stage import result_rows

    rows = result_rows(Store(paths.out).open_run(run_id))
    if as_json:
        for row in rows:
            row.pop("required")
            click.echo(json.dumps(row))
        return
    table = Table(expand=False)
    for col, opts in (
        ("prompt", {"overflow": "fold", "max_width": 26}),
        ("model", {"overflow": "fold", "max_width": 20}),
        ("#", {"justify": "right"}),
        ("passed", {}),
        ("score", {"justify": "right"}),
        ("judge", {"justify": "right"}),
        ("failing checks", {"overflow": "fold", "ratio": 1}),
    ):
        table.add_column(col, **opts)
    fmt = {True: "yes", False: "no", None: "-"}
    for r in rows:
        score = "-" if r["score"] is None else f"{r['score']:.2f}"
        failing = [
            n if r["required"].get(n, True) else f"({n})"
            for n, ok in r["checks"].items()
            if ok is False
        ]
        why = ", ".join(failing) if r["passed"] is not None else r["status"]
        judged = "-" if r["judge_score"] is None else f"{r['judge_score']:.2f}"
        table.add_row(
            r["prompt"], r["model"], str(r["sample"]), fmt[r["passed"]], score, judged, why
        )
    console().print(table)
