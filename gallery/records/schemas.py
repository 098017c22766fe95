"""The schemas of a sample's records: ``reply.json``, ``verdict.json``, ``observation.json``,
``judgement.json``.

What is read back from disk is validated here (msgspec) before any reader
sees it, so a record that is not what gallery writes is one ``RecordError``
naming the file and the field, not a ``KeyError`` three modules away. The
schemas type what readers rely on and let the rest through (an observation
carries many measures; an old reply may lack a newer key); ``load`` returns
the record as plain data, the one shape every reader uses. Writers use
``fsutil.dump_json``; ``run.json`` is ``manifest.py``'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from gallery.errors import RecordError
from gallery.records.fsutil import read_json


class Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    estimated: bool = False


class Cost(msgspec.Struct):
    usd: float | None = None
    complete: bool = True


class Timing(msgspec.Struct):
    ttft_s: float | None = None
    latency_s: float | None = None
    tokens_per_s: float | None = None


class Extract(msgspec.Struct):
    status: str = "ok"
    reason: str | None = None
    notes: list[str] = []
    files: list[str] = []
    sources: list[str] = []


class Reply(msgspec.Struct):
    """``reply.json`` (shape: ``generate/replies.py``)."""

    status: str = "ok"
    prompt: str | None = None
    model: str | None = None
    sample: int | None = None
    text: str | None = ""
    reasoning: str | None = ""
    usage: Usage | None = None
    timing: Timing | None = None
    finish_reason: str | None = None
    truncated: bool = False
    cost: Cost | None = None
    request_hash: str | None = None
    params: dict[str, Any] | None = None
    replayed: bool = False
    error: str | None = None
    extract: Extract | None = None
    reference: bool = False
    imported: bool = False
    source: str | None = None


class CheckResult(msgspec.Struct):
    name: str
    passed: bool
    kind: str | None = None
    required: bool = True
    detail: str = ""


class Verdict(msgspec.Struct):
    """``verdict.json`` (``checks.judge``): judged, or ``judged: false`` with the reason."""

    passed: bool
    score: float
    checks: list[CheckResult] = []
    judged: bool = True
    reason: str | None = None
    render_hash: str | None = None


class Observation(msgspec.Struct):
    """``observation.json`` (``render.timeline``): the parts the checks and the site read."""

    status: str = "ok"
    detail: str | None = None
    mode: str | None = None
    real_time_s: float | None = None
    console: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    requests: dict[str, Any] = {}
    frame_times: list[float] = []
    #: failures of the browser or the harness that made the page be rendered again
    retried: list[str] = []


class JudgedItem(msgspec.Struct):
    item: int
    text: str
    points: int
    score: float | None = None
    reason: str = ""


class Judgement(msgspec.Struct):
    """``judgement.json`` (``judging.stage``): a vision model's scores against the rubric.

    ``score`` is the share of the rubric's points given (0..1), None with ``error``.
    """

    judge: str
    model: str
    request_hash: str
    render_hash: str | None = None
    rubric: str = "prompt"  # "prompt": the prompt's own [[rubric]]; "generic"
    items: list[JudgedItem] = []
    score: float | None = None
    error: str | None = None
    attempts: int = 0
    replayed: bool = False
    usage: Usage | None = None
    latency_s: float | None = None
    cost: Cost | None = None
    judged_at: str | None = None


def current(judgement: dict[str, Any] | None, verdict: dict[str, Any] | None) -> dict | None:
    """The judgement while it scores the render the verdict is of (a new render makes it
    stale), else None: the one rule for every reader of ``judgement.json``."""
    if judgement is None or verdict is None:
        return None
    return judgement if judgement.get("render_hash") == verdict.get("render_hash") else None


SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "reply.json": Reply,
    "verdict.json": Verdict,
    "observation.json": Observation,
    "judgement.json": Judgement,
}

_AT = re.compile(r" - at `\$\.?(.*)`$")
T = TypeVar("T")


def convert(data: Any, schema: type[T], path: Path) -> T:
    """``data`` as ``schema``, or ``RecordError`` naming ``path`` and the field.
    (The one place a record's msgspec error becomes gallery's; ``manifest.py`` uses it too.)"""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _AT.search(text)
        raise RecordError(_AT.sub("", text), source=path, field=m.group(1) if m else None) from None


def read(path: Path) -> Any:
    """The JSON in ``path``; None when the file does not exist, ``RecordError`` when it is
    not JSON."""
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise RecordError(f"not readable as JSON ({exc})", source=path) from None


def load(path: Path) -> dict[str, Any] | None:
    """A sample record by its file name, validated; None when the file does not exist."""
    data = read(path)
    if data is not None:
        convert(data, SCHEMAS[path.name], path)
    return data
