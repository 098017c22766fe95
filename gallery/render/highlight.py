"""Syntax-highlighted sources of a sample, cached by content.

Pygments is most of what a site build costs (it lexes HTML with embedded
JavaScript at about 1 MB a second), and the highlighted HTML of a file depends
only on its name, its text and the pygments version. So it is kept in a cache
keyed by exactly that: ``<out>/cache/highlight/`` for runs in a store, shared by
every run and every site build (the render stage fills it as each page is
rendered, see ``warm``), else ``<site>/.gallery/highlight/``. A build then reads
highlighted sources back instead of making them; a cold build with many files
highlights them in worker processes first (``Highlighter.prepare``).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

from markupsafe import Markup
from pygments import __version__ as PYGMENTS_VERSION
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from gallery.records.fsutil import write_text
from gallery.records.store import SOURCES_DIR, Run

MAX_HIGHLIGHT = 400_000  # characters; longer files are shown plain
TEXT_SUFFIXES = {".html", ".htm", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".glsl", ".frag",
                 ".vert", ".md", ".xml", ".csv", ".ts", ".wgsl"}  # fmt: skip
#: A cold build highlights in worker processes when at least this many files need it.
PARALLEL_HIGHLIGHT = 64


def highlight_source(name: str, text: str) -> Markup:
    """One file as pygments HTML (plain text when no lexer fits or it is huge)."""
    try:
        lexer = get_lexer_for_filename(name, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    if len(text) > MAX_HIGHLIGHT:
        lexer = TextLexer(stripnl=False)
    return Markup(highlight(text, lexer, HtmlFormatter(cssclass="hl", wrapcode=True)))


def _highlight_html(item: tuple[str, str]) -> str:
    """``highlight_source`` for a worker process (plain str crosses the process boundary)."""
    return str(highlight_source(*item))


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def source_files(sample_dir: Path, reply: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """A sample's source files as (name, text, is_extra), page entry first.

    The artifact's text files, then (when the artifact kept no ``_sources/``) the
    other sources the extractor listed in the reply."""
    art = sample_dir / "artifact"
    out = []
    if art.is_dir():
        for f in sorted(art.rglob("*"), key=lambda p: (p.name != "index.html", str(p))):
            rel = f.relative_to(art).as_posix()
            is_extra = rel.startswith(f"{SOURCES_DIR}/")
            if not f.is_file() or not (is_extra or f.suffix.lower() in TEXT_SUFFIXES):
                continue
            text = _read_text(f)
            if text is None:
                continue
            out.append((rel.removeprefix(f"{SOURCES_DIR}/"), text, is_extra))
    if not any(extra for _, _, extra in out):
        listed = ((reply or {}).get("extract") or {}).get("sources")
        if isinstance(listed, dict):
            out += [(n, t, True) for n, t in listed.items() if isinstance(t, str)]
    return out


def cache_for_run(run: Run) -> Path | None:
    """The shared cache beside the run's store (``<out>/cache/highlight``), when it is in one."""
    return None if run.cache_dir is None else run.cache_dir / "highlight"


class Highlighter:
    """``highlight_source`` with its output kept on disk by content (see the module)."""

    def __init__(self, root: Path):
        self.root = root
        self.memo: dict[str, str] = {}
        self.used: set[str] = set()

    @staticmethod
    def key(name: str, text: str) -> str:
        h = hashlib.sha256(f"{PYGMENTS_VERSION}\0{name}\0{len(text)}\0".encode())
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.html"

    def _cached(self, key: str) -> str | None:
        if key not in self.memo:
            try:
                self.memo[key] = self._path(key).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        return self.memo[key]

    def _store(self, key: str, html: str) -> None:
        self.memo[key] = html
        path = self._path(key)
        with contextlib.suppress(OSError):  # no cache, same page
            write_text(path, html)

    def __call__(self, name: str, text: str) -> Markup:
        key = self.key(name, text)
        self.used.add(key)
        html = self._cached(key)
        if html is None:
            html = str(highlight_source(name, text))
            self._store(key, html)
        return Markup(html)

    def add(self, name: str, text: str) -> bool:
        """Highlight one file into the cache unless it is there; True when it was new."""
        key = self.key(name, text)
        if key in self.memo or self._path(key).is_file():
            return False
        self._store(key, str(highlight_source(name, text)))
        return True

    def prepare(self, items: list[tuple[str, str]]) -> None:
        """Highlight the files not cached yet, in parallel when there are many."""
        todo = {}
        for name, text in items:
            key = self.key(name, text)
            if key not in todo and self._cached(key) is None:
                todo[key] = (name, text)
        workers = min(os.cpu_count() or 1, 8)
        if len(todo) < PARALLEL_HIGHLIGHT or workers < 2:
            return  # highlighted one by one as the pages are made
        from concurrent.futures import ProcessPoolExecutor

        # fork is quick, but only safe while this process runs no other thread
        forkable = "fork" in multiprocessing.get_all_start_methods()
        method = "fork" if forkable and threading.active_count() == 1 else "spawn"
        ctx = multiprocessing.get_context(method)
        keys, items = list(todo), list(todo.values())
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                results = pool.map(_highlight_html, items, chunksize=16)
                for key, html in zip(keys, results, strict=True):
                    self._store(key, html)
        except (OSError, RuntimeError):
            return  # no worker processes here: one by one it is

    def prune(self, keep: set[str]) -> None:
        """Remove cached files that ``keep`` does not name (only for a site's own cache)."""
        if not self.root.is_dir():
            return
        for f in self.root.glob("*/*.html"):
            if f.stem not in keep:
                f.unlink(missing_ok=True)


def warm(sample_dir: Path, reply: dict[str, Any] | None, cache: Path) -> int:
    """Highlight a sample's sources into ``cache`` now (the render stage calls this
    for each page it renders); returns how many files were new to the cache."""
    hl = Highlighter(cache)
    return sum(hl.add(name, text) for name, text, _extra in source_files(sample_dir, reply))
