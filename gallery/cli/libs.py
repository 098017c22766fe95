"""`gallery libs`: the offline cache of CDN libraries."""

from __future__ import annotations

import click

from gallery.catalogue.workspace import Workspace
from gallery.cli._common import common
from gallery.errors import UsageError


@click.group()
def libs() -> None:
    """The npm-backed cache of CDN libraries that pages load."""


@libs.command()
@common
def prefetch(paths: Workspace) -> None:
    """Warm the library cache with the common libraries (three, p5, matter-js, ...).

    Packages come from the npm registry (tarballs verified by their integrity
    hash) into the user cache dir; pages then load them with no network.
    """
    from gallery.render.libs import COMMON_LIBRARIES, LibCache
    from gallery.render.libs import prefetch as warm

    cache = LibCache()
    click.echo(f"libs: warming {cache.cache_dir}")
    results = warm(
        cache, COMMON_LIBRARIES, progress=lambda n, v: click.echo(f"  {n}: {v or 'FAILED'}")
    )
    failed = [n for n, v in results.items() if not isinstance(v, str)]
    if failed:
        raise UsageError(f"could not fetch: {', '.join(failed)} (is the npm registry reachable?)")
