"""`gallery prompts`, `gallery models`, `gallery doctor`: what is configured and what is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common, console


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@common
def prompts(paths: Workspace, as_json: bool) -> None:
    """List the prompt catalogue: id, title, checks and whether a reference exists.

    With --json, one JSON object per line: id, title, checks (name and
    whether it is required), interact (number of steps) and reference.
    """
    catalogue = paths.load_prompts()
    if as_json:
        for p in catalogue.values():
            row = {
                "id": p.id,
                "title": p.title,
                "checks": [{"name": c.name, "required": c.required} for c in p.checks],
                "interact": len(p.interact),
                "reference": bool(p.reference_path),
            }
            click.echo(json.dumps(row))
        return
    from rich.table import Table

    table = Table(title=f"prompts in {paths.prompts_dir}")
    table.add_column("id", no_wrap=True, min_width=max((len(i) for i in catalogue), default=2))
    table.add_column("title", overflow="fold")
    table.add_column("checks", overflow="fold")
    table.add_column("interact")
    table.add_column("reference")
    for p in catalogue.values():
        checks = ", ".join(c.name + ("" if c.required else "?") for c in p.checks)
        table.add_row(
            p.id, p.title, checks, str(len(p.interact)), "yes" if p.reference_path else "-"
        )
    console().print(table)
    click.echo("(? = reported, not required to pass)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@common
def models(paths: Workspace, as_json: bool) -> None:
    """List the configured models and whether each one's API key is set (never the key).

    With --json, one JSON object per line: name, model, endpoint, api,
    key_env, key (set, missing or not needed), default (a lane `gallery run` uses) and
    judge (the lane `[defaults] judge` names to score pages).
    """
    config = paths.load_config()
    rows = []
    for m in config.models.values():
        rows.append(
            {
                "name": m.name,
                "model": m.display if m.is_reference else m.model,
                "endpoint": "prompts/<id>.reference.html" if m.is_reference else m.base_url,
                "api": m.api,
                "key_env": m.api_key_env or None,
                "key": m.key_status,
                "default": m.name in config.defaults.models,
                "judge": m.name == config.defaults.judge,
            }
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    from rich.table import Table

    table = Table(title=f"models in {paths.config_path}")
    # Names are what people type into --model: never cut them; the endpoint
    # shows its host (the full URL is in --json).
    table.add_column("name", no_wrap=True, min_width=max((len(r["name"]) for r in rows), default=4))
    table.add_column("model", overflow="fold")
    table.add_column("endpoint", overflow="fold")
    table.add_column("api", no_wrap=True)
    key_width = max((len(r["key_env"] or "") for r in rows), default=10)
    table.add_column("key", no_wrap=True, min_width=max(key_width, 10))
    table.add_column("default", no_wrap=True)
    for r in rows:
        host = urlsplit(r["endpoint"]).netloc or r["endpoint"]
        key = r["key"] if not r["key_env"] else f"{r['key_env']}\n{r['key']}"
        default = "judge" if r["judge"] else ("yes" if r["default"] else "")
        table.add_row(r["name"], r["model"], host, r["api"], key, default)
    console().print(table)


@click.command()
@click.option(
    "--chromium", type=click.Path(path_type=Path, dir_okay=False), help="Chromium binary to use."
)
@common
def doctor(paths: Workspace, chromium: Path | None) -> None:
    """Check what gallery needs: Chromium, Playwright, config, prompts, keys, output dir.

    Exits 1 when something needed is missing (for example no browser).
    """
    from gallery.doctor import diagnose

    problems = 0
    for ok, what, detail in diagnose(paths, chromium):
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        click.echo(f"{mark}  {what}: {detail}")
        problems += ok is False
    if problems:
        click.echo(f"{problems} problem(s) found", err=True)
        sys.exit(1)
