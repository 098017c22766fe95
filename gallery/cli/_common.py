"""What every command shares: the workspace options, one-line errors, the console.

Library code raises ``gallery.errors.GalleryError``; only here does it become
``error: <message>`` on stderr and an exit code (2 for bad input). Set
``GALLERY_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from gallery.aio import Terminated, raise_terminated
from gallery.catalogue.workspace import Workspace
from gallery.errors import GalleryError


def console():
    """A rich console; wide and plain when output is not a terminal (logs, pipes, CI)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=100, no_color=True, highlight=False)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does, while it runs (see ``gallery.aio``).

    A cancelled CI job, ``timeout`` and ``docker stop`` send SIGTERM, whose default
    action ends Python at once: no ``finally`` ran, the browser's temporary folder
    was left behind and nothing was said. (Signals reach the main thread only.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --config/--prompts/--out and turn GalleryError into a one-line exit 2
    (Ctrl-C: exit 130, SIGTERM: 143, each with one line and what was kept)."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default="gallery.toml",
        show_default=True,
        help="Model endpoints, pricing and defaults.",
    )
    @click.option(
        "--prompts",
        "prompts_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default="prompts",
        show_default=True,
        help="Directory of prompt files (<id>.toml).",
    )
    @click.option(
        "--out",
        "out_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default="outputs",
        show_default=True,
        help="Where runs and the reply cache live.",
    )
    @functools.wraps(func)
    def wrapper(config_path: Path, prompts_dir: Path, out_dir: Path, **kwargs: Any) -> Any:
        paths = Workspace(config_path, prompts_dir, out_dir)
        try:
            with _sigterm_interrupts():
                return func(paths, **kwargs)
        except GalleryError as exc:
            if os.environ.get("GALLERY_DEBUG"):
                raise
            _fail(str(exc), exc.exit_code)
        except Terminated:
            _fail("terminated (SIGTERM); finished samples are kept, rerun to resume", 143)
        except KeyboardInterrupt:
            _fail("interrupted; finished samples are kept, rerun to resume", 130)

    return wrapper


class _OneLineUsageError(click.UsageError):
    """click's usage error (bad option value, unknown option or command), shown as one
    line like every other bad input, instead of click's usage block."""

    def __init__(self, original: click.UsageError):
        # format_message() names the option (a BadParameter's message alone does not)
        super().__init__(" ".join(original.format_message().split()), original.ctx)

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx else "gallery"
        click.echo(f"error: {self.message} (see `{where} --help`)", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise _OneLineUsageError(exc) from None


SHARD_OPTION = click.option(
    "--shard",
    metavar="I/N",
    help="Only shard I of N of the samples (a CI matrix; join the runs with `gallery merge`).",
)


def site_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--site DIR`` (default ``site``): where the static site is written or served from."""
    return click.option(
        "--site",
        "site_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default="site",
        show_default=True,
        help=help,
    )


#: ``--run RUN``: which run a command reads (default: the latest).
RUN_OPTION = click.option(
    "--run", "run_id", default="latest", show_default=True, help="Run id, 'latest' or a path."
)

#: ``--chromium PATH``: the browser to use instead of the one discovered.
CHROMIUM_OPTION = click.option(
    "--chromium", type=click.Path(dir_okay=False), help="Chromium binary (default: discovered)."
)
