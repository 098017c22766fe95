"""`gallery serve`: the built site on localhost, with the arena's vote API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common, site_option
from gallery.errors import UsageError


@click.command()
@site_option("The built site to serve.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. 0.0.0.0 shares the site (and the arena) on the network: "
    "there are no accounts, so anyone who can reach it can vote.",
)
@common
def serve(paths: Workspace, site_dir: Path, port: int, host: str) -> None:
    """Serve the built site/ and print the URL (Ctrl-C stops).

    The site's arena page (arena.html) shows two samples of a prompt from two
    lanes, names hidden until you vote; votes are stored in the outputs folder's
    votes.jsonl (`gallery ratings` reads them).
    """
    from gallery.arena.service import Arena
    from gallery.records.store import Store
    from gallery.site.serve import make_server

    if not (site_dir / "index.html").is_file():
        raise UsageError(f"no site in {site_dir} (build one with `gallery build`)", field="--site")
    arena = None
    try:
        run_id = json.loads((site_dir / "arena.json").read_text(encoding="utf-8"))["run"]
    except (OSError, ValueError, KeyError, TypeError):
        click.echo("serve: no arena.json in the site (rebuild it to vote)", err=True)
    else:
        store = Store(paths.out)
        arena = Arena(store, store.open_run(run_id))
    try:
        server = make_server(site_dir, port, host, arena=arena)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}", field="--port"
        ) from None
    with server:
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        click.echo(f"http://{shown}:{server.server_address[1]}/")
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(
                f"serve: listening on {host}: anyone who can reach it can see the site and vote "
                "(no accounts)",
                err=True,
            )
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
