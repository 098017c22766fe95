"""The ``gallery`` command line: parse options, call the stage functions.

Everything of substance lives in the stage modules; this file only turns
options into calls and domain errors (``gallery.errors``) into one-line
messages with exit code 2. ``GALLERY_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from gallery import __version__
from gallery.catalogue.workspace import Workspace
from gallery.errors import GalleryError, NotBuiltError, UsageError


def console():
    """A rich console; wide and plain when output is not a terminal (logs, pipes, CI)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=100, no_color=True, highlight=False)


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
        paths = Workspace(config_path, prompts_dir, out_dir)
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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gallery")
def cli() -> None:
    """Reproduce and compare one-shot code-generation demos.

    Sends demo prompts to OpenAI-compatible models, runs every page they write
    in a sandboxed headless Chromium on a virtual clock, judges it with smoke
    checks and builds a static gallery site. See `gallery COMMAND --help`.
    """


# --- listings -----------------------------------------------------------------


@cli.command()
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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@common
def models(paths: Workspace, as_json: bool) -> None:
    """List the configured models and whether each one's API key is set (never the key).

    With --json, one JSON object per line: name, model, endpoint, api,
    key_env, key (set, missing or not needed) and default.
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
        table.add_row(r["name"], r["model"], host, r["api"], key, "yes" if r["default"] else "")
    console().print(table)


@cli.command()
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


# --- pipeline stages (filled in issue by issue) ----------------------------------


SHARD_OPTION = click.option(
    "--shard",
    metavar="I/N",
    help="Only shard I of N of the samples (a CI matrix; join the runs with `gallery merge`).",
)


def generate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `gallery generate` and `gallery run` share."""
    options = [
        click.option(
            "--model",
            "-m",
            "models",
            multiple=True,
            help="Model name from the config (repeatable).",
        ),
        click.option("--prompt", "-p", "prompts", multiple=True, help="Prompt id (repeatable)."),
        click.option("--samples", "-n", type=int, help="Samples per prompt and model."),
        click.option(
            "--concurrency", "-j", type=int, help="Requests in flight at once (all models)."
        ),
        click.option(
            "--fresh", is_flag=True, help="Call the models again instead of replaying the cache."
        ),
        click.option("--run", "run", help="Add to this run (id or path) instead of a new one."),
        click.option(
            "--system-prompt", help="System prompt for chat models (default: the config's)."
        ),
        SHARD_OPTION,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def generate_stage(paths: Workspace, **options: Any):
    """Run the generate stage with progress and a summary; shared by `generate` and `run`."""
    from gallery.cli.progress import reporter_for, summary_table
    from gallery.generate.stage import generate_run
    from gallery.records.store import Store
    from gallery.records.totals import lane_totals

    out = console()
    reporter = reporter_for(out, click.echo, sys.stdout.isatty())
    result = generate_run(
        paths.load_config(), paths.load_prompts(), Store(paths.out), reporter=reporter, **options
    )
    out.print(summary_table(result, lane_totals(result.run)))
    done = sum(lane.samples for lane in result.lanes.values())
    totals = result.manifest.get("totals") or {}
    spend = sum(lane.cost_usd for lane in result.lanes.values())
    click.echo(
        f"run {result.run.id}: {done} new sample(s) in {result.wall_s:.1f}s, {result.on_disk} kept "
        f"from before; spent ${spend:.4f}; {totals.get('samples', 0)} sample(s) in the run"
    )
    return result


@cli.command()
@generate_options
@click.option("--resume", is_flag=True, help="Continue the latest unfinished run.")
@click.option(
    "--site",
    "site_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="site",
    show_default=True,
    help="Where to build the static site.",
)
@click.option(
    "--chromium", type=click.Path(dir_okay=False), help="Chromium binary (default: discovered)."
)
@click.option("--strict", is_flag=True, help="Exit 1 when a sample fails a required check.")
@common
def run(
    paths: Workspace, resume: bool, site_dir: Path, chromium, strict: bool, **options: Any
) -> None:
    """Generate (or replay), render, check and build the site: the whole job.

    An interrupted run is continued by a plain rerun (or `--resume`): only the
    missing samples are produced. Cached replies are replayed at no cost, and
    pages are rendered again only when something that affects them changed.
    """
    from gallery.compare.report import site_comparison
    from gallery.records.store import Store
    from gallery.site.build import build_site

    result = generate_stage(paths, resume=resume, **options)
    # The job is not done until the site is built: a rerun after a crash in the
    # render stage continues this run (see pipeline.choose_run) instead of a new one.
    result.run.update_manifest(status="rendering")
    render_stage(paths, result.run, concurrency=options.get("concurrency") or 4, chromium=chromium)
    config = paths.load_config()
    comparison = site_comparison(Store(paths.out), result.run)
    report = build_site(result.run, paths.load_prompts(), config, site_dir, compare=comparison)
    result.run.update_manifest(status="finished")
    failed = print_verdict_summary(result.run, config)
    click.echo(f"site: {report.summary()}")
    click.echo(f"open {report.index.resolve()}")
    if strict and failed:
        sys.exit(1)


def print_verdict_summary(run, config) -> int:
    """Per lane: passed/total samples and cost; returns how many samples failed."""
    from rich.table import Table

    from gallery.render.stage import result_rows

    lanes: dict[str, dict[str, Any]] = {}
    for row in result_rows(run):
        lane = lanes.setdefault(
            row["model"], {"passed": 0, "total": 0, "cost": 0.0, "complete": True}
        )
        lane["total"] += 1
        lane["passed"] += bool(row["passed"])
    for sample in run.samples():
        cost = sample.reply.get("cost")
        lane = lanes[sample.key.model]
        if cost is None or not cost.get("complete", True):
            lane["complete"] = False
        lane["cost"] += (cost or {}).get("usd") or 0.0
    table = Table(title=f"run {run.id}")
    for col in ("model", "passed", "cost (USD)"):
        table.add_column(col)
    for name, lane in lanes.items():
        spec = config.models.get(name)
        label = spec.display if spec else name
        cost = f"{lane['cost']:.4f}" + ("" if lane["complete"] else " (incomplete)")
        table.add_row(label, f"{lane['passed']}/{lane['total']}", cost)
    console().print(table)
    return sum(lane["total"] - lane["passed"] for lane in lanes.values())


@cli.command()
@generate_options
@common
def generate(paths: Workspace, **options: Any) -> None:
    """Send the prompts to the models and store the replies (a new run, or --run RUN).

    Continues the latest run instead when it was interrupted. Cached replies
    are replayed at no cost unless --fresh; a model whose API key is not set
    is skipped unless all its replies are cached.
    """
    generate_stage(paths, **options)


@cli.command()
@click.option(
    "--run", "run_id", default="latest", show_default=True, help="Run id, 'latest' or a path."
)
@click.option(
    "--model", "-m", "model_names", multiple=True, help="Only this model's samples (repeatable)."
)
@click.option(
    "--prompt", "-p", "prompt_ids", multiple=True, help="Only this prompt's samples (repeatable)."
)
@click.option(
    "--concurrency", "-j", type=int, default=4, show_default=True, help="Pages rendered at once."
)
@click.option("--force", is_flag=True, help="Render again even when nothing changed.")
@click.option(
    "--chromium", type=click.Path(dir_okay=False), help="Chromium binary (default: discovered)."
)
@SHARD_OPTION
@common
def render(
    paths: Workspace,
    run_id: str,
    model_names,
    prompt_ids,
    concurrency: int,
    force: bool,
    chromium,
    shard: str | None,
) -> None:
    """Run every stored page in Chromium, screenshot it and judge it.

    Each page runs sandboxed (no network but npm-resolved CDN libraries) on a
    virtual clock. A sample is rendered again only when its page, its prompt's
    render settings or checks, or the Chromium version changed (use --force).
    """
    from gallery.records.shard import parse_shard
    from gallery.records.store import Store

    part = parse_shard(shard)
    run = Store(paths.out).open_run(run_id)
    render_stage(
        paths,
        run,
        concurrency=concurrency,
        chromium=chromium,
        force=force,
        models=model_names,
        prompts=prompt_ids,
        shard=part,
    )


def render_stage(
    paths: Workspace,
    run,
    *,
    concurrency: int,
    chromium=None,
    force: bool = False,
    models=(),
    prompts=(),
    shard=None,
):
    """Render a run with a line per sample; shared by `render`, `import` and `run`."""
    from gallery.render.stage import render_run

    catalogue = paths.load_prompts()
    for pid in prompts:
        if pid not in catalogue:
            raise UsageError(f"unknown prompt {pid!r}", field="--prompt")

    def select(sample) -> bool:
        return (
            (not models or sample.key.model in models)
            and (not prompts or sample.key.prompt in prompts)
            and (shard is None or shard.owns(sample.key))
        )

    def done(sample, verdict) -> None:
        if verdict.get("judged") is False:
            click.echo(f"  ----  {sample.key.label}  (not judged: {verdict.get('reason')})")
            return
        mark = "pass" if verdict["passed"] else "FAIL"
        failed = [c["name"] for c in verdict["checks"] if not c["passed"] and c["required"]]
        click.echo(f"  {mark}  {sample.key.label}" + (f"  ({', '.join(failed)})" if failed else ""))

    from gallery.render.browser import find_chromium

    find_chromium(chromium)  # a bad --chromium is one error line, before any output
    click.echo(f"render: run {run.id}")
    summary = render_run(
        run,
        catalogue,
        chromium=chromium,
        concurrency=concurrency,
        force=force,
        select=select,
        on_done=done,
    )
    hung = f", {len(summary.failed_pages)} hung or crashed" if summary.failed_pages else ""
    unjudged = f", {len(summary.unjudged)} not judged" if summary.unjudged else ""
    click.echo(
        f"render: {summary.rendered} rendered, {summary.skipped} unchanged, "
        f"{summary.no_page} without a page{hung}{unjudged}"
    )
    if summary.unjudged:
        click.echo(
            "render: not judged (the browser or the harness failed, not the page; "
            "the next run renders them again):"
        )
        for label, reason in summary.unjudged.items():
            click.echo(f"  {label}: {reason[:200]}")
    return summary


@cli.command()
@click.option(
    "--run", "run_id", default="latest", show_default=True, help="Run id, 'latest' or a path."
)
@click.option(
    "--site",
    "site_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="site",
    show_default=True,
    help="Where to write the static site.",
)
@common
def build(paths: Workspace, run_id: str, site_dir: Path) -> None:
    """Build the static gallery site from a run; prints the path of index.html.

    Incremental: only pages whose content changed are rewritten. The run page
    shows the comparison with the baseline (`gallery baseline set`) when one is recorded.
    """
    from gallery.compare.report import site_comparison
    from gallery.records.store import Store
    from gallery.site.build import build_site

    run = Store(paths.out).open_run(run_id)
    catalogue = paths.load_prompts() if paths.prompts_dir.is_dir() else {}
    config = paths.load_config() if paths.config_path.is_file() else None
    comparison = site_comparison(Store(paths.out), run)
    report = build_site(run, catalogue, config, site_dir, compare=comparison)
    click.echo(f"site for run {run.id}: {report.summary()}", err=True)
    click.echo(str(report.index))


@cli.command(name="import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prompt", "prompt_id", required=True, help="The prompt these pages answer.")
@click.option("--model", "label", required=True, help="A lane label for where the pages came from.")
@click.option("--run", "run_id", default=None, help="Add to this run (default: a new run).")
@click.option("--render", "do_render", is_flag=True, help="Render the imported pages at once.")
@common
def import_(
    paths: Workspace, files: tuple[Path, ...], prompt_id: str, label: str, run_id, do_render: bool
) -> None:
    """Bring pages made elsewhere (a chat UI, another tool) into a run as samples.

    Each FILE becomes one sample of the prompt in the lane LABEL, keeping the
    file name as the sample's source. Then `gallery render` judges them.
    """
    from gallery.catalogue.prompts import select as select_prompts
    from gallery.records.store import Store
    from gallery.render.stage import import_pages

    prompt = select_prompts(paths.load_prompts(), [prompt_id])[0]
    store = Store(paths.out)
    run = store.open_run(run_id) if run_id else store.new_run()
    samples = import_pages(run, files, prompt, label)
    for s in samples:
        click.echo(f"imported {s.reply['source']} -> {s.key.label}")
    click.echo(f"run {run.id}: {len(samples)} page(s) imported")
    if do_render:
        render_stage(paths, run, concurrency=4, models=(label,), prompts=(prompt.id,))


@cli.command()
@click.option(
    "--run", "run_id", default="latest", show_default=True, help="Run id, 'latest' or a path."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@common
def results(paths: Workspace, run_id: str, as_json: bool) -> None:
    """One row per sample: prompt, model, sample, passed, score, failing checks.

    The last column names the checks that failed (optional ones in brackets), or
    why there is no verdict. With --json, one JSON object per line: prompt,
    model, sample, source, status, passed, score, and checks as a name ->
    true/false map.
    """
    import json

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
        table.add_row(r["prompt"], r["model"], str(r["sample"]), fmt[r["passed"]], score, why)
    console().print(table)


@cli.command()
@click.argument("base", required=False)
@click.argument("head", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the whole comparison as JSON.")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write JUnit XML here: one testcase per sample check.",
)
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print a markdown summary (append it to $GITHUB_STEP_SUMMARY in CI).",
)
@click.option(
    "--pixel-threshold",
    type=float,
    default=0.1,
    show_default=True,
    help="How far a colour channel must move (share of 255) for a pixel to count as changed.",
)
@click.option(
    "--max-diff-ratio",
    type=float,
    default=0.001,
    show_default=True,
    help="Share of changed pixels above which a screenshot is a visual change.",
)
@click.option(
    "--diff-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write diff images here (default: diff/ in each of HEAD's sample folders).",
)
@common
def compare(
    paths: Workspace,
    base: str | None,
    head: str | None,
    as_json: bool,
    junit_path: Path | None,
    as_markdown: bool,
    pixel_threshold: float,
    max_diff_ratio: float,
    diff_dir: Path | None,
) -> None:
    """Regressions between two runs; exit 1 when a check that passed now fails.

    BASE and HEAD are run ids, `latest`, `baseline` or paths. BASE defaults to
    the baseline recorded by `gallery baseline set`, HEAD to the latest run.
    Exit 1 when a required check that passed in BASE fails in HEAD, or a
    sample that passed in BASE is missing from HEAD; 0 otherwise.
    """
    from gallery.compare.baseline import read_baseline
    from gallery.compare.report import dumps, markdown, text, write_junit
    from gallery.compare.rule import compare_runs
    from gallery.records.store import Store

    if as_json and as_markdown:
        raise UsageError("choose one of --json and --markdown", field="--json")
    store = Store(paths.out)

    def resolve(ref: str | None, what: str):
        if ref in (None, "baseline"):
            run = read_baseline(store)
            if run is None:
                raise UsageError(
                    f"no baseline recorded in {store.out / 'baseline.json'}: give BASE, "
                    "or record one with `gallery baseline set RUN`",
                    field=what,
                )
            return run
        return store.open_run(ref)

    base_run = resolve(base, "BASE")
    head_run = resolve(head, "HEAD") if head == "baseline" else store.open_run(head or "latest")
    comparison = compare_runs(
        base_run,
        head_run,
        pixel_threshold=pixel_threshold,
        max_diff_ratio=max_diff_ratio,
        diff_dir=diff_dir,
    )
    if junit_path is not None:
        write_junit(comparison, junit_path)
    if as_json:
        click.echo(dumps(comparison))
    elif as_markdown:
        click.echo(markdown(comparison))
    else:
        for line in text(comparison):
            click.echo(line)
    if comparison.exit_code:
        sys.exit(comparison.exit_code)


@cli.group()
def baseline() -> None:
    """The baseline run that `gallery compare` uses by default."""


@baseline.command(name="set")
@click.argument("run_id")
@common
def baseline_set(paths: Workspace, run_id: str) -> None:
    """Record RUN (an id, `latest` or a path) as the baseline, in OUT/baseline.json.

    Commit that file together with the run folder (`git add -f outputs/runs/RUN`)
    so CI compares against the same screenshots and verdicts.
    """
    from gallery.compare.baseline import baseline_path, set_baseline
    from gallery.records.store import Store

    store = Store(paths.out)
    run = store.open_run(run_id)
    data = set_baseline(store, run)
    click.echo(
        f"baseline: run {run.id} ({data['passed']}/{data['samples']} samples pass) "
        f"recorded in {baseline_path(store)}"
    )


@cli.group()
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


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--into", "into", help="The run to merge into (created if new; default: a new run).")
@common
def merge(paths: Workspace, runs: tuple[str, ...], into: str | None) -> None:
    """Combine shard outputs (`--shard I/N`) into one run.

    RUNS are run ids or paths (for example the runs a CI matrix made, gathered
    into one outputs/runs/). Their sample folders (replies, pages, renders) are
    copied into one run and the manifests and totals joined; then `gallery
    build --run ID` makes its site. The same sample in two runs is an error.
    """
    from gallery.records.shard import merge_runs
    from gallery.records.store import Store

    result = merge_runs(Store(paths.out), list(runs), into)
    for line in result.notes:
        click.echo(f"note: {line}", err=True)
    totals = result.run.manifest().get("totals") or {}
    click.echo(
        f"run {result.run.id}: {result.added} sample(s) merged from {', '.join(result.sources)}"
        + (f", {result.already} already there" if result.already else "")
        + f"; {totals.get('samples', 0)} sample(s) in the run"
    )


@cli.command()
@click.option(
    "--site",
    "site_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="site",
    show_default=True,
    help="The built site to serve.",
)
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
    from gallery.errors import UsageError
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
