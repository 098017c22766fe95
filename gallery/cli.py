"""The ``gallery`` command line: parse options, call the stage functions.

Everything of substance lives in the stage modules; this file only turns
options into calls and domain errors (``gallery.errors``) into one-line
messages with exit code 2. ``GALLERY_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import GalleryError, NotBuiltError


@dataclass
class Paths:
    """Where this invocation reads and writes: every command takes all three."""

    config: Path
    prompts: Path
    out: Path

    def load_config(self):
        from .config import load_config

        return load_config(self.config)

    def load_prompts(self):
        from .prompts import load_catalogue

        return load_catalogue(self.prompts)


def console():
    """A rich console; wide and plain when output is not a terminal (logs, pipes, CI)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=200, no_color=True, highlight=False)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --config/--prompts/--out and turn GalleryError into a one-line exit 2."""

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
        paths = Paths(config_path, prompts_dir, out_dir)
        try:
            return func(paths, **kwargs)
        except GalleryError as exc:
            if os.environ.get("GALLERY_DEBUG"):
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; finished samples are kept, rerun to resume", 130)

    return wrapper


def not_built(stage: str, issue: str) -> None:
    raise NotBuiltError(f"`gallery {stage}` is not built yet ({issue}); nothing was changed")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gallery")
def cli() -> None:
    """Reproduce and compare one-shot code-generation demos.

    Sends demo prompts to OpenAI-compatible models, runs every page they write
    in a sandboxed headless Chromium on a virtual clock, judges it with smoke
    checks and builds a static gallery site. See `gallery COMMAND --help`.
    """


# --- listings -----------------------------------------------------------------


@cli.command()
@common
def prompts(paths: Paths) -> None:
    """List the prompt catalogue: id, title, checks and whether a reference exists."""
    from rich.table import Table

    catalogue = paths.load_prompts()
    table = Table(title=f"prompts in {paths.prompts}")
    for col in ("id", "title", "checks", "interact", "reference"):
        table.add_column(col)
    for p in catalogue.values():
        checks = ", ".join(c.name + ("" if c.required else "?") for c in p.checks)
        table.add_row(
            p.id, p.title, checks, str(len(p.interact)), "yes" if p.reference_path else "-"
        )
    console().print(table)
    click.echo("(? = reported, not required to pass)")


@cli.command()
@common
def models(paths: Paths) -> None:
    """List the configured models and whether each one's API key is set."""
    from rich.table import Table

    config = paths.load_config()
    table = Table(title=f"models in {paths.config}")
    for col in ("name", "model", "endpoint", "api", "key", "default"):
        table.add_column(col)
    for m in config.models.values():
        key = m.key_status if not m.api_key_env else f"{m.api_key_env}: {m.key_status}"
        endpoint = "prompts/<id>.reference.html" if m.is_reference else m.base_url
        model = m.display if m.is_reference else m.model
        table.add_row(
            m.name, model, endpoint, m.api, key, "yes" if m.name in config.defaults.models else ""
        )
    console().print(table)


@cli.command()
@click.option(
    "--chromium", type=click.Path(path_type=Path, dir_okay=False), help="Chromium binary to use."
)
@common
def doctor(paths: Paths, chromium: Path | None) -> None:
    """Check what gallery needs: Chromium, Playwright, config, prompts, keys, output dir.

    Exits 1 when something needed is missing (for example no browser).
    """
    from .doctor import diagnose

    problems = 0
    for ok, what, detail in diagnose(paths, chromium):
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        click.echo(f"{mark}  {what}: {detail}")
        problems += ok is False
    if problems:
        click.echo(f"{problems} problem(s) found", err=True)
        sys.exit(1)


# --- pipeline stages (filled in issue by issue) ----------------------------------


@cli.command()
@click.option(
    "--model", "-m", "model_names", multiple=True, help="Model name from the config (repeatable)."
)
@click.option("--prompt", "-p", "prompt_ids", multiple=True, help="Prompt id (repeatable).")
@click.option("--samples", "-n", type=int, help="Samples per prompt and model.")
@click.option("--concurrency", "-j", type=int, help="Requests and pages in flight at once.")
@common
def run(paths: Paths, **kwargs: Any) -> None:
    """Generate (or replay), render, check and build the site: the whole job."""
    not_built("run", "generation is issue #3, rendering #4, the site #5")


@cli.command()
@common
def generate(paths: Paths) -> None:
    """Send the prompts to the models and store the replies (default: latest run)."""
    not_built("generate", "issue #3")


@cli.command()
@common
def render(paths: Paths) -> None:
    """Run every stored page in Chromium, screenshot it and judge it."""
    not_built("render", "issue #4")


@cli.command()
@common
def build(paths: Paths) -> None:
    """Build the static gallery site from a run."""
    not_built("build", "issue #5")


@cli.command(name="import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prompt", "prompt_id", required=True, help="The prompt these pages answer.")
@click.option("--model", "label", required=True, help="A label for where the pages came from.")
@common
def import_(paths: Paths, files: tuple[Path, ...], prompt_id: str, label: str) -> None:
    """Bring pages made elsewhere (a chat UI, another tool) into a run as samples."""
    not_built("import", "issue #4")


@cli.command()
@click.option(
    "--run", "run_id", default="latest", show_default=True, help="Run id, 'latest' or a path."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample.")
@common
def results(paths: Paths, run_id: str, as_json: bool) -> None:
    """One row per sample: prompt, model, sample, passed, score, each check."""
    not_built("results", "issue #4")


@cli.command()
@click.argument("base", required=False)
@click.argument("head", required=False)
@common
def compare(paths: Paths, base: str | None, head: str | None) -> None:
    """Regressions between two runs; exit 1 when a check that passed now fails."""
    not_built("compare", "issue #6")


@cli.group()
def baseline() -> None:
    """The baseline run that `gallery compare` uses by default."""


@baseline.command(name="set")
@click.argument("run_id")
@common
def baseline_set(paths: Paths, run_id: str) -> None:
    """Record RUN as the baseline."""
    not_built("baseline set", "issue #6")


@cli.group()
def libs() -> None:
    """The npm-backed cache of CDN libraries that pages load."""


@libs.command()
@common
def prefetch(paths: Paths) -> None:
    """Warm the library cache with the common libraries (three, p5, matter-js, ...)."""
    not_built("libs prefetch", "issue #4")


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@common
def merge(paths: Paths, runs: tuple[str, ...]) -> None:
    """Combine shard outputs (`--shard I/N`) into one run."""
    not_built("merge", "issue #8")


@cli.command()
@click.option("--port", type=int, default=8000, show_default=True)
@common
def serve(paths: Paths, port: int) -> None:
    """Serve the built site/ on localhost and print the URL."""
    not_built("serve", "issue #5")
