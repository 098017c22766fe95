"""``outputs/votes.jsonl``: people's pairwise votes between two samples of a prompt.

One JSON object per line (``Vote``), appended under an exclusive lock in one
``write`` of the whole line, so concurrent voters (threads of ``gallery serve``,
or two servers on one outputs folder) never interleave or tear a line, and a
crash loses at most the vote being written: a torn last line is skipped when
the file is read, and the next append starts on a line of its own.

A vote is validated twice: its shape here (``parse_vote``: types, lengths, the
four outcomes), and against the run it names (``check_against``: the prompt,
both lanes and both samples exist, and they are two different lanes). Both raise
``VoteError`` with one line that says what is wrong; nothing is written then.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from gallery.errors import GalleryError
from gallery.records.store import Run, SampleKey, utcnow

try:  # POSIX: an advisory lock over the append; elsewhere O_APPEND alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

VOTES_FILE = "votes.jsonl"
#: No vote's JSON is larger than this (a request body over it is refused unread).
MAX_VOTE_BYTES = 4096
WINNERS = ("a", "b", "tie", "both-bad")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ID = r"^[A-Za-z0-9-]{1,64}$"

Name = Annotated[str, msgspec.Meta(pattern=_NAME)]


class VoteError(GalleryError):
    """A vote that is not well formed or names what the run does not have."""

    exit_code = 2


class Side(msgspec.Struct, forbid_unknown_fields=True):
    model: Name
    sample: Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class Vote(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One vote: which of two samples of ``prompt`` a person preferred."""

    prompt: Name
    a: Side
    b: Side
    winner: Literal["a", "b", "tie", "both-bad"]
    run: Annotated[str, msgspec.Meta(pattern=_NAME)] | None = None
    voter: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    #: set when stored: the vote's own id (a browser's vote keeps the id it made, so an
    #: import of the same file twice adds nothing) and when it was cast (UTC)
    id: Annotated[str, msgspec.Meta(pattern=_ID)] | None = None
    at: Annotated[str, msgspec.Meta(max_length=40)] | None = None

    @property
    def keys(self) -> tuple[SampleKey, SampleKey]:
        return (
            SampleKey(self.prompt, self.a.model, self.a.sample),
            SampleKey(self.prompt, self.b.model, self.b.sample),
        )


_AT = re.compile(r" - at `\$\.?(.*)`$")


def parse_vote(data: bytes | str | dict) -> Vote:
    """A ``Vote`` from JSON bytes or a decoded object; ``VoteError`` saying what is wrong."""
    try:
        if isinstance(data, dict):
            return msgspec.convert(data, Vote)
        if len(data) > MAX_VOTE_BYTES:
            raise VoteError(f"a vote is at most {MAX_VOTE_BYTES} bytes")
        return msgspec.json.decode(data, type=Vote)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _AT.search(text)
        where = m.group(1) if m else ""
        raise VoteError(f"{where + ': ' if where else ''}{_AT.sub('', text)}") from None
    except msgspec.DecodeError as exc:
        raise VoteError(f"not JSON: {exc}") from None


def check_against(vote: Vote, run: Run) -> None:
    """``VoteError`` unless the run has the prompt, both samples, from two different lanes."""
    if vote.a.model == vote.b.model:
        raise VoteError("a and b are the same lane: a vote is between two lanes")
    for side, key in zip(("a", "b"), vote.keys, strict=True):
        if not run.has_sample(key):
            # (names are checked against _NAME first: no path can leave the run's folder)
            known = (run.path / key.prompt).is_dir()
            what = f"sample {key.label}" if known else f"prompt {key.prompt!r}"
            raise VoteError(f"{side}: run {run.id} has no {what}")


def stamp(vote: Vote, run: Run) -> Vote:
    """The vote as stored: its run, an id (kept when it has one) and the time."""
    return msgspec.structs.replace(
        vote,
        run=vote.run or run.id,
        id=vote.id or uuid.uuid4().hex,
        at=vote.at or utcnow(),
    )


class VoteLog:
    """``<out>/votes.jsonl``: append one vote at a time, read them all back."""

    def __init__(self, out: Path | str):
        self.path = Path(out) / VOTES_FILE

    def append(self, votes: Iterable[Vote]) -> int:
        """Append whole lines under an exclusive lock; returns how many were written."""
        lines = b"".join(msgspec.json.encode(v) + b"\n" for v in votes)
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            # A line torn by an earlier crash has no newline: start on a fresh line.
            if os.fstat(fd).st_size and not self._ends_with_newline():
                lines = b"\n" + lines
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return lines.count(b"\n") - lines.startswith(b"\n")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def __iter__(self) -> Iterator[Vote]:
        """Every stored vote; a line that is not one (torn by a crash) is skipped."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            for line in fh:
                with contextlib.suppress(VoteError):
                    yield parse_vote(line.strip() or b"{}")

    def ids(self) -> set[str]:
        return {v.id for v in self if v.id}


def read_vote_file(path: Path) -> list[Vote]:
    """Votes from a file a browser saved (JSON lines, or one JSON array); ``VoteError`` naming
    the line of the first that is not a vote."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VoteError(f"cannot be read ({exc.strerror})", source=path) from None
    except UnicodeDecodeError:
        raise VoteError("not UTF-8 text", source=path) from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise VoteError(f"not JSON: {exc}", source=path) from None
        rows = [(i + 1, item) for i, item in enumerate(items)]
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except ValueError as exc:
                    raise VoteError(f"line {n}: not JSON: {exc}", source=path) from None
    votes = []
    for n, item in rows:
        if not isinstance(item, dict):
            raise VoteError(f"vote {n}: not a JSON object", source=path)
        try:
            votes.append(parse_vote(item))
        except VoteError as exc:
            raise VoteError(f"vote {n}: {exc.message}", source=path) from None
    return votes
