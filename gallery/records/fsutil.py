"""Writing files so that a crash never leaves half of one: the one implementation.

Every file gallery publishes (records, the site, the library and highlight
caches) goes through ``write_bytes``: a temp file in the same folder, then an
atomic rename. Whole folders (a sample, an unpacked package, shots) go through
``atomic_folder``: built aside, then renamed into place, the old one moved out
of the way first. ``link_or_copy`` shares bytes between runs where a file is
never rewritten in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# mkstemp/mkdtemp create 0600 files and 0700 folders; what we publish should get the
# usual permissions instead (read once at import, when no other thread can race us).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

#: Files gallery never rewrites in place (it replaces them by rename): safe to hard-link.
LINKABLE = (".png", ".webp", ".jpg", ".jpeg")


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # not on Windows before 3.13
            os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def dump_json(data: Any) -> bytes:
    """The one JSON layout of records on disk: indented, UTF-8, a final newline."""
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def write_json(path: Path, data: Any) -> None:
    write_bytes(path, dump_json(data))


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


@contextlib.contextmanager
def atomic_folder(final: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temp folder beside ``final``; on success it becomes ``final``.

    With ``replace``, an existing ``final`` is moved aside first and removed after;
    without, a ``final`` that appeared meanwhile (another process won the race)
    is kept and the temp folder dropped. On any error the temp folder is removed
    and ``final`` is as it was. Leftovers of a crash are ``.<name>.tmp-*`` and
    ``.<name>.old-*`` beside ``final`` (see ``is_leftover``).
    """
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{final.name}.tmp-"))
    try:
        tmp.chmod(0o777 & ~_UMASK)
        yield tmp
        if final.exists() and replace:
            old = parent / f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                tmp.rename(final)
            except OSError:
                if not final.exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_leftover(name: str) -> bool:
    """A temp or old folder that ``atomic_folder`` left behind when interrupted."""
    return name.startswith(".") and (".tmp-" in name or ".old-" in name)


def link_or_copy(src: Path | str, dst: Path | str) -> None:
    """Hard-link ``src`` to ``dst`` where the file system allows, else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(src: Path, dst: Path) -> None:
    """Copy a folder; images (``LINKABLE``) are hard-linked where possible, no bytes copied.

    Text files are copied, so an edit made in place in one run never shows in another.
    """

    def copy(s: str, d: str) -> None:
        if s.lower().endswith(LINKABLE):
            link_or_copy(s, d)
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy)
