"""The ``gallery`` command line: a click group over thin commands, one file per family.

Each command parses options and calls the library (``gallery.job`` and the
stage packages); ``_common`` turns domain errors into one-line messages and
exit codes. Files: ``catalogue`` (prompts, models, doctor), ``run`` (run,
generate, render, build, import), ``judge``, ``results``, ``compare`` (compare,
baseline), ``libs``, ``merge``, ``serve``, ``arena`` (votes, ratings); ``progress`` draws the generate
stage's progress.
"""

from __future__ import annotations

import click

from gallery import __version__
from gallery.cli import arena, catalogue, compare, judge, libs, merge, results, run, serve
from gallery.cli._common import _Group


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gallery")
def cli() -> None:
    """Reproduce and compare one-shot code-generation demos.

    Sends demo prompts to OpenAI-compatible models, runs every page they write
    in a sandboxed headless Chromium on a virtual clock, judges it with smoke
    checks and builds a static gallery site. See `gallery COMMAND --help`.
    """


for command in (
    catalogue.prompts,
    catalogue.models,
    catalogue.doctor,
    run.run,
    run.generate,
    run.render,
    run.build,
    run.import_,
    judge.judge,
    results.results,
    compare.compare,
    compare.baseline,
    libs.libs,
    merge.merge,
    serve.serve,
    arena.votes,
    arena.ratings,
):
    cli.add_command(command)
