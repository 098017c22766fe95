"""How a page is stepped through its timeline, and the memo that keeps it (``cache/pacing``).

A page runs every frame ("full") or, when its first frames are slow on the real
clock, is fast-forwarded between short windows ("sampled"); a page that runs out
of real time is fast-forwarded from there on. Those decisions read the real
clock, which a busy machine changes from one render to the next, so they are
made once per page and engine and kept: the same page is then stepped through
the same frames and gives the same pixels every time it is rendered again.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from gallery.records.fsutil import write_bytes

if TYPE_CHECKING:
    from gallery.records.store import Run


class Pacing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a page is stepped through its timeline, decided once and then kept.

    The decision comes from timing the probe's frames on the real clock, and real
    time is never the same twice: a page near a line would be stepped one way in
    one render and the other way in the next, and give other pixels. So what the
    first render decided is recorded (``PacingMemo``, by render hash) and
    every later render of the same page, settings and engine is stepped the same
    way: the same frames, so the same pixels.
    """

    #: "full": every frame runs; "sampled": a heavy page, fast-forwarded between windows.
    mode: Literal["full", "sampled"] = "full"
    #: The probe's steps (ms of virtual time run frame by frame before the decision).
    probe_ms: tuple[int, ...] = ()
    #: Frames run before each timed shot of a sampled page (0: a very heavy page).
    window_ms: int = 0
    #: Only the timed shots and the inputs are stops (a page too heavy for more).
    sparse: bool = False
    #: The first stop reached fast-forwarding because real time ran short, if any.
    budget_from: float | None = None


class PacingMemo:
    """``outputs/cache/pacing/<render hash>.json``: how each page was stepped (``Pacing``).

    A page is full-framed or sampled by how long its first frames take on the real
    clock, which a busy machine changes from one render to the next. The first
    render's decision is kept here, so that rendering the same page again (after
    ``--force``, on a cleared render index, in a new run) steps the same frames and
    gives the same pixels. Delete the folder to have every page timed afresh.
    """

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def for_run(cls, run: Run) -> PacingMemo | None:
        return None if run.cache_dir is None else cls(run.cache_dir / "pacing")

    def _entry(self, rhash: str) -> Path:
        return self.root / rhash[:2] / f"{rhash}.json"

    def get(self, rhash: str) -> Pacing | None:
        """The recorded pacing (None: none, or a record that does not read as one)."""
        try:
            return msgspec.json.decode(self._entry(rhash).read_bytes(), type=Pacing)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None  # timed afresh, and written again

    def put(self, rhash: str, pacing: Pacing) -> None:
        # A memo that cannot be written only means timing the page again next time.
        with contextlib.suppress(OSError):
            write_bytes(self._entry(rhash), msgspec.json.encode(pacing))
