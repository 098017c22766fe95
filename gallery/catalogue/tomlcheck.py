"""Small helpers to read TOML tables strictly.

Both the prompt catalogue and gallery.toml are written by hand, so every
mistake must come back as one line naming the file and the dotted field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gallery.errors import GalleryError

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def read_toml(path: Path, error: type[GalleryError]) -> dict[str, Any]:
    """Parse ``path`` or raise ``error`` naming the file (and line, from tomllib)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error("file not found", source=path) from None
    except IsADirectoryError:
        raise error("is a directory, expected a TOML file", source=path) from None
    except PermissionError:
        raise error("cannot be read (permission denied)", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"invalid TOML: {exc}", source=path) from None
    except UnicodeDecodeError:
        raise error("invalid TOML: not UTF-8 text", source=path) from None


def check_keys(
    table: dict[str, Any],
    allowed: set[str],
    *,
    source: Path,
    where: str,
    error: type[GalleryError],
    required: tuple[str, ...] = (),
) -> None:
    """Reject unknown keys (typos must not be silently ignored) and missing ones."""
    for key in table:
        if key not in allowed:
            field = f"{where}.{key}" if where else key
            raise error(
                f"unknown key (allowed: {', '.join(sorted(allowed))})", source=source, field=field
            )
    for key in required:
        if key not in table:
            field = f"{where}.{key}" if where else key
            raise error("is required", source=source, field=field)


def typed(
    value: Any,
    kind: type | tuple[type, ...],
    *,
    source: Path,
    field: str,
    error: type[GalleryError],
) -> Any:
    """Return ``value`` when it has the TOML type ``kind``; ints are accepted as floats."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # TOML booleans are ints to Python; never let `true` pass as a number.
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise error(f"must be {want}, got {value!r}", source=source, field=field)
    return value
