"""The static gallery: ``build_site(run, ...)`` writes ``site/`` from a run.

Layout (relative links only, so it opens from ``file://`` and any static host)::

    index.html                      grid of prompts x lanes, filters, leaderboard
    run.html                        the run's manifest (and what changed, when known)
    p/<prompt>.html                 one prompt: text, source, every lane's samples
    s/<prompt>/<model>/<n>/         one sample: index.html, artifact/, shots/, preview.webp
    static/                         style.css, app.js, pygments.css

Rebuilds are incremental: a page is written only when its bytes change, an
artifact or image is copied only when its size or mtime differ, and files of
samples that no longer exist are removed. Model text is always escaped
(jinja2 autoescape); the only markup passed through is pygments' output.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from pygments.formatters import HtmlFormatter

from gallery.catalogue.config import Config
from gallery.catalogue.prompts import Prompt
from gallery.errors import UsageError
from gallery.records.fsutil import write_bytes
from gallery.records.store import SOURCES_DIR, Run
from gallery.render.highlight import Highlighter, cache_for_run, highlight_source, source_files
from gallery.site.data import SampleView, SiteData, collect

#: What ``gallery serve`` sends with every file of a sample's page: the same sandbox
#: as the live preview's iframe. (Static hosts should send it for ``*/artifact/*``.)
STATIC_FILES = ("style.css", "app.js", "arena.js", "favicon.svg")
PYGMENTS_LIGHT, PYGMENTS_DARK = "default", "github-dark"


@dataclass
class BuildReport:
    """What a build did. ``written`` lists files (relative to the site) whose bytes changed."""

    dest: Path
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    copied: int = 0
    removed: int = 0

    @property
    def index(self) -> Path:
        return self.dest / "index.html"

    def summary(self) -> str:
        return (
            f"{len(self.written)} written, {self.unchanged} unchanged, "
            f"{self.copied} copied, {self.removed} removed"
        )


# --- formatting filters -------------------------------------------------------


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def _usd(v: float | None) -> str:
    if v is None:
        return "—"
    return f"${v:.4f}" if v < 1 else f"${v:.2f}"


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _pretty(v: Any) -> str:
    return json.dumps(v, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _when(v: Any) -> str:
    """An ISO timestamp as ``2025-01-01 00:00 UTC``; anything else as given."""
    if not v:
        return "—"
    try:
        t = datetime.fromisoformat(str(v))
    except ValueError:
        return str(v)
    if t.utcoffset() is None:
        return t.strftime("%Y-%m-%d %H:%M")
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shot_time(name: str) -> str:
    """``000.50s.png`` -> ``0.50 s``."""
    stem = name.removesuffix(".png").removesuffix("s")
    try:
        return f"{float(stem):.2f} s"
    except ValueError:
        return name


def _keys_of(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _sortval(v: Any) -> str:
    """A data-v attribute for the sortable table: numbers as numbers, missing last."""
    return "" if v is None else repr(float(v))


def _make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("gallery.site", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=_pct,
        secs=_secs,
        usd=_usd,
        num=_num,
        pretty=_pretty,
        sortval=_sortval,
        shot_time=_shot_time,
        keys_of=_keys_of,
        when=_when,
    )
    env.tests["mapping"] = lambda v: isinstance(v, dict)
    env.tests["table"] = lambda v: (
        isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
    )
    return env


ENV = _make_env()


# --- incremental writer -------------------------------------------------------


class _Writer:
    """Writes only what changed and remembers every file the site should hold."""

    def __init__(self, dest: Path):
        self.dest = dest
        self.report = BuildReport(dest)
        self.keep: set[Path] = set()

    def write(self, rel: str, data: str | bytes) -> None:
        body = data.encode() if isinstance(data, str) else data
        path = self.dest / rel
        self.keep.add(path)
        try:
            if path.read_bytes() == body:
                self.report.unchanged += 1
                return
        except OSError:
            pass
        write_bytes(path, body)
        self.report.written.append(rel)

    def copy(self, src: Path, rel: str) -> None:
        path = self.dest / rel
        self.keep.add(path)
        s = src.stat()
        try:
            d = path.stat()
            if d.st_size == s.st_size and d.st_mtime_ns == s.st_mtime_ns:
                return
        except OSError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.rmtree(path)
        shutil.copyfile(src, path)  # the site's own permissions, the source's mtime
        os.utime(path, ns=(s.st_atime_ns, s.st_mtime_ns))
        self.report.copied += 1

    def copy_tree(self, src: Path, rel: str, skip: str | None = None) -> None:
        for f in sorted(src.rglob("*")):
            parts = f.relative_to(src).parts
            if f.is_file() and not f.is_symlink() and parts[0] != skip:
                self.copy(f, f"{rel}/{'/'.join(parts)}")

    def prune(self, *subdirs: str) -> None:
        """Remove files under ``subdirs`` that this build did not produce, then empty folders."""
        keep = {str(p) for p in self.keep}
        for sub in subdirs:
            top = self.dest / sub
            if not top.is_dir():
                continue
            for folder, dirs, files in os.walk(top, topdown=False):
                for name in files:
                    path = os.path.join(folder, name)
                    if path not in keep:
                        os.unlink(path)
                        self.report.removed += 1
                for name in dirs:
                    path = os.path.join(folder, name)
                    if os.path.islink(path):
                        if path not in keep:
                            os.unlink(path)
                            self.report.removed += 1
                    elif not os.listdir(path):
                        os.rmdir(path)


# --- source files -------------------------------------------------------------


def _sources(
    view: SampleView, hl: Any = None, files: list[tuple[str, str, bool]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(page files, other sources) as [{name, html, size}], page entry first."""
    hl = hl or highlight_source
    web: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for name, text, is_extra in source_files(view.path, view.reply) if files is None else files:
        (extra if is_extra else web).append(
            {"name": name, "html": hl(name, text), "size": len(text)}
        )
    return web, extra


# --- pages ----------------------------------------------------------------------


def _render(name: str, root: str, **ctx: Any) -> str:
    return ENV.get_template(name).render(root=root, **ctx)


def _pygments_css() -> str:
    light = HtmlFormatter(style=PYGMENTS_LIGHT).get_style_defs(".hl")
    dark = HtmlFormatter(style=PYGMENTS_DARK).get_style_defs(".hl")
    return (
        f"/* pygments {PYGMENTS_LIGHT} (light) and {PYGMENTS_DARK} (dark) */\n{light}\n"
        f"@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
    )


def _sample_assets(w: _Writer, view: SampleView) -> None:
    base = view.url
    if view.runnable:
        w.copy_tree(view.path / "artifact", base + "artifact", skip=SOURCES_DIR)
    for shot in view.shots:
        w.copy(view.path / "shots" / shot, f"{base}shots/{shot}")
    if view.has_preview:
        w.copy(view.path / "preview.webp", base + "preview.webp")


def _siblings(data: SiteData, view: SampleView) -> list[SampleView]:
    cell = data.cell(view.key.prompt, view.key.model)
    return sorted(cell.samples, key=lambda v: v.key.index) if cell else [view]


def _sample_page(
    w: _Writer,
    data: SiteData,
    i: int,
    prompt: Prompt,
    hl: Any = None,
    files: list[tuple[str, str, bool]] | None = None,
) -> None:
    view = data.samples[i]
    _sample_assets(w, view)
    web, extra = _sources(view, hl, files)
    html = _render(
        "sample.html",
        "../../../../",
        data=data,
        s=view,
        prompt=prompt,
        siblings=_siblings(data, view),
        prev=data.samples[i - 1] if i > 0 else None,
        next=data.samples[i + 1] if i + 1 < len(data.samples) else None,
        web_sources=web,
        extra_sources=extra,
        obs=view.observation or {},
        reply=view.reply,
    )
    w.write(view.url + "index.html", html)


# --- incremental state ------------------------------------------------------------

#: Inside the site: the build state, and the highlight cache of a run outside a store
#: (no page links to them).
STATE_DIR = ".gallery"


@functools.cache
def _build_key() -> str:
    """Everything besides a sample's own data that shapes its page: this code, the
    templates, the versions of jinja2 and pygments. A change rebuilds every page."""
    import jinja2
    import pygments

    from gallery import __version__
    from gallery.site import data as site_data

    h = hashlib.sha256(f"{__version__}\0{jinja2.__version__}\0{pygments.__version__}".encode())
    for module in (__file__, site_data.__file__):
        h.update(Path(module).read_bytes())
    templates = resources.files("gallery.site") / "templates"
    for entry in sorted(templates.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            h.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return h.hexdigest()


def _tree_signature(root: Path) -> list[tuple[str, int, int, bool]]:
    """(relative path, size, mtime, is a symlink) of every file under ``root``,
    temp entries (dot names) skipped, in a stable order."""
    out: list[tuple[str, int, int, bool]] = []

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, rel + "/")
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            out.append((rel, st.st_size, st.st_mtime_ns, entry.is_symlink()))

    walk(str(root), "")
    return out


def _asset_paths(view: SampleView, signature: list[tuple[str, int, int, bool]]) -> list[str]:
    """The site files ``_sample_assets`` makes for a sample, from its signature alone."""
    runnable = any(rel == "artifact/index.html" for rel, *_ in signature)
    out = []
    for rel, _size, _mtime, link in signature:
        if rel.startswith("artifact/"):
            if runnable and not link and not rel.startswith(f"artifact/{SOURCES_DIR}/"):
                out.append(view.url + rel)
        elif rel == "preview.webp" or (
            rel.startswith("shots/") and rel.endswith(".png") and rel.count("/") == 1
        ):
            out.append(view.url + rel)
    return out


def _fingerprint(
    data: SiteData, i: int, prompt: Prompt, signature: list[tuple[str, int, int, bool]]
) -> str:
    """What a sample's page is made of: if this is unchanged, so is the page."""
    view = data.samples[i]
    near = [data.samples[j].key if 0 <= j < len(data.samples) else None for j in (i - 1, i + 1)]
    parts = [
        _build_key(),
        data.run.id,
        repr(prompt),
        repr(view.lane),
        repr(near),
        repr([(o.key, o.link_class, o.state) for o in _siblings(data, view)]),
        repr(signature),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _load_state(dest: Path) -> dict[str, Any]:
    try:
        state = json.loads((dest / STATE_DIR / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    pages = state.get("pages") if isinstance(state, dict) else None
    return pages if isinstance(pages, dict) else {}


def _save_state(dest: Path, pages: dict[str, Any]) -> None:
    path = dest / STATE_DIR / "build.json"
    with contextlib.suppress(OSError):  # the next build is a full one
        write_bytes(path, json.dumps({"version": 1, "pages": pages}).encode())


def _arena_data(data: SiteData, rated: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the arena page needs to pick a pair on its own (on a static host)."""
    samples: dict[str, dict[str, list[int]]] = {}
    for v in data.samples:
        if v.runnable:
            samples.setdefault(v.key.prompt, {}).setdefault(v.key.model, []).append(v.key.index)
    return {
        "run": data.run.id,
        "prompts": {p.id: {"title": p.title, "text": p.prompt} for p in data.prompts},
        "lanes": {
            lane.name: {"display": lane.display, "reference": lane.is_reference}
            for lane in data.lanes
        },
        "samples": samples,
        "ratings": {name: r["rating"] for name, r in rated.items()},
    }


def build_site(
    run: Run,
    catalogue: dict[str, Prompt],
    config: Config | None,
    dest: Path,
    *,
    compare: dict | None = None,
    highlight_cache: Path | None = None,
    status: str | None = None,
    arena: dict[str, Any] | None = None,
) -> BuildReport:
    """Build (or refresh) the static site for ``run`` in ``dest``; returns what changed.

    ``arena``: the lanes' arena ratings and the checks' agreement with the votes
    (``arena.ratings.as_json``), shown on the leaderboard.

    Highlighted sources come from ``highlight_cache``, by default the store's
    shared cache (which rendering fills), else the site's own (see highlight.py).
    """
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {dest}: {exc.strerror}", field="--site") from None
    w = _Writer(dest)
    data = collect(run, catalogue, config)
    if status is not None:  # what the run's status is once this build is done
        data.manifest["status"] = status
    static = resources.files("gallery.site") / "static"
    for name in STATIC_FILES:
        w.write(f"static/{name}", static.joinpath(name).read_bytes())
    w.write("static/pygments.css", _pygments_css())
    prompts = {p.id: p for p in data.prompts}
    arena = arena or {"models": [], "agreement": {}}
    rated = {r["model"]: r for r in arena.get("models", [])}
    w.write("index.html", _render("index.html", "", data=data, arena=arena, rated=rated))
    w.write("arena.html", _render("arena.html", "", data=data))
    w.write("arena.json", json.dumps(_arena_data(data, rated), indent=1, ensure_ascii=False))
    w.write("run.html", _render("run.html", "", data=data, compare=compare))
    for p in data.prompts:
        cells = [data.cell(p.id, lane.name) for lane in data.lanes]
        w.write(f"p/{p.id}.html", _render("prompt.html", "../", data=data, p=p, cells=cells))
    # Sample pages: only those whose inputs changed are made again (see _fingerprint).
    before = _load_state(dest)
    state: dict[str, Any] = {}
    own_cache = dest / STATE_DIR / "highlight"
    hl = Highlighter(highlight_cache or cache_for_run(run) or own_cache)
    stale: list[tuple[int, str, list[tuple[str, str, bool]]]] = []
    for i, view in enumerate(data.samples):
        rel = view.url + "index.html"
        signature = _tree_signature(view.path)
        fp = _fingerprint(data, i, prompts[view.key.prompt], signature)
        old = before.get(rel)
        if isinstance(old, dict) and old.get("fp") == fp and (dest / rel).is_file():
            # Nothing it is made of changed, its files included (the signature has
            # their sizes and times): the page and its copies stay as they are.
            w.keep.update(dest / f for f in (rel, *_asset_paths(view, signature)))
            w.report.unchanged += 1
            state[rel] = old
            continue
        stale.append((i, fp, source_files(view.path, view.reply)))
    hl.prepare([(name, text) for _, _, files in stale for name, text, _ in files])
    for i, fp, files in stale:
        view = data.samples[i]
        hl.used = set()
        _sample_page(w, data, i, prompts[view.key.prompt], hl, files)
        state[view.url + "index.html"] = {"fp": fp, "hl": sorted(hl.used)}
    _save_state(dest, state)
    # The site's own cache keeps what its pages use; a shared one is left alone.
    keep = {k for entry in state.values() for k in entry.get("hl", ())}
    Highlighter(own_cache).prune(keep if hl.root == own_cache else set())
    w.prune("s", "p", "static")
    return w.report
