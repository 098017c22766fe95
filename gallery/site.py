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

import functools
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from .config import Config
from .prompts import Prompt
from .site_data import SOURCES_DIR, SampleView, SiteData, baseline_changes, collect
from .store import Run

STATIC_FILES = ("style.css", "app.js", "favicon.svg")
MAX_HIGHLIGHT = 400_000  # characters; longer files are shown plain
TEXT_SUFFIXES = {".html", ".htm", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".glsl", ".frag",
                 ".vert", ".md", ".xml", ".csv", ".ts", ".wgsl"}  # fmt: skip
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
        loader=PackageLoader("gallery", "templates"),
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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
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
        for sub in subdirs:
            top = self.dest / sub
            if not top.is_dir():
                continue
            for f in sorted(top.rglob("*"), reverse=True):
                if f.is_dir() and not f.is_symlink():
                    if not any(f.iterdir()):
                        f.rmdir()
                elif f not in self.keep:
                    f.unlink()
                    self.report.removed += 1


# --- source files -------------------------------------------------------------


def _highlight(name: str, text: str) -> Markup:
    try:
        lexer = get_lexer_for_filename(name, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    if len(text) > MAX_HIGHLIGHT:
        lexer = TextLexer(stripnl=False)
    return Markup(highlight(text, lexer, HtmlFormatter(cssclass="hl", wrapcode=True)))


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _sources(view: SampleView) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(page files, other sources) as [{name, html, size}], page entry first."""
    art = view.path / "artifact"
    web, extra = [], []
    if art.is_dir():
        for f in sorted(art.rglob("*"), key=lambda p: (p.name != "index.html", str(p))):
            rel = f.relative_to(art).as_posix()
            is_extra = rel.startswith(f"{SOURCES_DIR}/")
            if not f.is_file() or not (is_extra or f.suffix.lower() in TEXT_SUFFIXES):
                continue
            text = _read_text(f)
            if text is None:
                continue
            name = rel.removeprefix(f"{SOURCES_DIR}/")
            (extra if is_extra else web).append(
                {"name": name, "html": _highlight(name, text), "size": len(text)}
            )
    listed = (view.reply.get("extract") or {}).get("sources")
    if isinstance(listed, dict) and not extra:
        for name, text in listed.items():
            if isinstance(text, str):
                extra.append({"name": name, "html": _highlight(name, text), "size": len(text)})
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


def _sample_page(w: _Writer, data: SiteData, i: int, prompt: Prompt) -> None:
    view = data.samples[i]
    base = view.url
    if view.runnable:
        w.copy_tree(view.path / "artifact", base + "artifact", skip=SOURCES_DIR)
    for shot in view.shots:
        w.copy(view.path / "shots" / shot, f"{base}shots/{shot}")
    if view.has_preview:
        w.copy(view.path / "preview.webp", base + "preview.webp")
    web, extra = _sources(view)
    cell = data.cell(view.key.prompt, view.key.model)
    html = _render(
        "sample.html",
        "../../../../",
        data=data,
        s=view,
        prompt=prompt,
        siblings=sorted(cell.samples, key=lambda v: v.key.index) if cell else [view],
        prev=data.samples[i - 1] if i > 0 else None,
        next=data.samples[i + 1] if i + 1 < len(data.samples) else None,
        web_sources=web,
        extra_sources=extra,
        obs=view.observation or {},
        reply=view.reply,
    )
    w.write(base + "index.html", html)


def build_site(
    run: Run,
    catalogue: dict[str, Prompt],
    config: Config | None,
    dest: Path,
    *,
    baseline: Run | None = None,
    compare: dict | None = None,
) -> BuildReport:
    """Build (or refresh) the static site for ``run`` in ``dest``; returns what changed."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    w = _Writer(dest)
    data = collect(run, catalogue, config)
    static = resources.files("gallery") / "static"
    for name in STATIC_FILES:
        w.write(f"static/{name}", static.joinpath(name).read_bytes())
    w.write("static/pygments.css", _pygments_css())
    prompts = {p.id: p for p in data.prompts}
    w.write("index.html", _render("index.html", "", data=data))
    changes = baseline_changes(data, baseline) if baseline is not None else None
    w.write("run.html", _render("run.html", "", data=data, changes=changes, compare=compare))
    for p in data.prompts:
        cells = [data.cell(p.id, lane.name) for lane in data.lanes]
        w.write(f"p/{p.id}.html", _render("prompt.html", "../", data=data, p=p, cells=cells))
    for i, view in enumerate(data.samples):
        _sample_page(w, data, i, prompts[view.key.prompt])
    w.prune("s", "p", "static")
    return w.report


# --- serving ----------------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    """Static files with no caching (a rebuild shows at once) and no per-request log."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that navigates away mid-download is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(site: Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for a built site (``port`` 0: any free port); call ``serve_forever``."""
    return _Server((host, port), functools.partial(_Handler, directory=str(site)))
