"""Hand-written files (``gallery.toml``, ``prompts/*.toml``) read through msgspec schemas.

The schemas (``config.py``, ``prompts.py``) say the types, the required and the
allowed keys and the ranges; ``convert`` runs msgspec and turns what it rejects
into the project's one-line error that names the file and the dotted field, in
plain words (``unknown key (allowed: …)``, ``must be a number, got a string``).
Rules that span fields (a URL scheme, tiers in order, a template's placeholder)
stay in the module that owns the file. ``read_toml`` parses with ``tomllib``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from gallery.errors import GalleryError

T = TypeVar("T")

_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "an array",
    "object": "a table",
    "null": "nothing",
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


def _segments(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in re.findall(r"\.?([^.\[\]]+)|\[(\d+)\]", path):
        out.append(int(index) if index else name)
    return out


def _unwrap(t: mi.Type) -> list[mi.Type]:
    return list(t.types) if isinstance(t, mi.UnionType) else [t]


def _type_at(root: mi.Type, segments: list[str | int]) -> list[mi.Type]:
    """The schema types that can be at ``segments`` below ``root`` (for the wording)."""
    here = [root]
    for seg in segments:
        nxt: list[mi.Type] = []
        for t in (u for h in here for u in _unwrap(h)):
            if isinstance(t, mi.StructType) and isinstance(seg, str):
                nxt += [f.type for f in t.fields if f.encode_name == seg]
            elif isinstance(t, mi.ListType | mi.VarTupleType) and isinstance(seg, int):
                nxt.append(t.item_type)
            elif isinstance(t, mi.DictType) and isinstance(seg, str):
                nxt.append(t.value_type)
        here = nxt
    return [u for h in here for u in _unwrap(h)]


def _words(types: str) -> str:
    parts = [p.strip(" `") for p in types.split("|")]
    named = [_NAMES.get(p, p) for p in parts if p != "null"]
    return " or ".join(named) or "nothing"


def _message(text: str, root: mi.Type, segments: list[str | int]) -> tuple[str, str | None]:
    """(message, extra field segment) in the project's words for a msgspec error."""
    if m := re.match(r"Object contains unknown field `(.+)`", text):
        allowed = sorted(
            f.encode_name
            for t in _type_at(root, segments)
            if isinstance(t, mi.StructType)
            for f in t.fields
        )
        return f"unknown key (allowed: {', '.join(allowed)})", m.group(1)
    if m := re.match(r"Object missing required field `(.+)`", text):
        return "is required", m.group(1)
    if m := re.match(r"Expected `(.+)`, got `(.+)`", text):
        got = "a boolean" if m.group(2) == "bool" else _words(m.group(2))
        return f"must be {_words(m.group(1))}, got {got}", None
    if m := re.match(r"Expected `\w+` >= (\S+)", text):
        bound = m.group(1).removesuffix(".0")
        return ("must not be negative" if bound == "0" else f"must be at least {bound}"), None
    if m := re.match(r"Expected `\w+` <= (\S+)", text):
        return f"must be at most {m.group(1).removesuffix('.0')}", None
    if m := re.match(r"Invalid enum value (.+)", text):
        values = [
            str(v)
            for t in _type_at(root, segments)
            if isinstance(t, mi.LiteralType)
            for v in t.values
        ]
        return f"must be one of {', '.join(values)}, got {m.group(1)}", None
    return text, None


def convert(
    data: Any, schema: type[T], *, source: Path, where: str, error: type[GalleryError]
) -> T:
    """``data`` as ``schema``, or ``error`` naming ``source`` and the dotted field."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = re.search(r" - at `\$(.*)`$", text)
        rel = m.group(1) if m else ""
        text = text[: m.start()] if m else text
        segments = _segments(rel)
        message, extra = _message(text, mi.type_info(schema), segments)
        field = (where + rel).lstrip(".") if where else rel.lstrip(".")
        if extra:
            field = f"{field}.{extra}" if field else extra
        raise error(message, source=source, field=field or None) from None
