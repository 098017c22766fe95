"""`gallery serve`: the built site on localhost."""

from __future__ import annotations

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
    help="Port on 127.0.0.1 (0: any free).",
)
@common
def serve(paths: Workspace, site_dir: Path, port: int) -> None:
    """Serve the built site/ on localhost and print the URL (Ctrl-C stops)."""
    from gallery.site.build import make_server

    if not (site_dir / "index.html").is_file():
        raise UsageError(f"no site in {site_dir} (build one with `gallery build`)", field="--site")
    try:
        server = make_server(site_dir, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", field="--port"
        ) from None
    with server:
        click.echo(f"http://127.0.0.1:{server.server_address[1]}/")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
