"""The ``outputs/`` layout: runs, samples, manifests; atomic writes; resume.

::

    outputs/cache/                           replies by request hash (see generate.py)
    outputs/runs/<run-id>/run.json           manifest
    outputs/runs/<run-id>/<prompt>/<model>/<n>/
        reply.json  artifact/  shots/  preview.webp  observation.json  verdict.json

A sample is written whole or not at all: its files go to a temporary folder
beside the final one, which is then renamed into place. An interrupted run
therefore leaves only whole samples, and the next run fills in the rest.
Render results are added to a finished sample the same way: each file is
written to a temporary name and renamed, ``verdict.json`` last, so a verdict
on disk always has its screenshots and observation beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gallery.errors import RecordError, RunNotFound, UsageError
from gallery.records.fsutil import atomic_folder, is_leftover, write_bytes
from gallery.records.manifest import RunManifest, read_manifest
from gallery.records.manifest import encode as encode_manifest
from gallery.records.manifest import from_builtins as manifest_from_builtins
from gallery.records.manifest import to_builtins as manifest_builtins
from gallery.records.schemas import current as current_judgement
from gallery.records.schemas import load as load_record

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: Inside a sample's ``artifact/``: the source files a reply had beside its page
#: (shown on the site, never served as part of the page).
SOURCES_DIR = "_sources"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, order=True)
class SampleKey:
    """Which sample: prompt id, model name, 1-based sample index."""

    prompt: str
    model: str
    index: int

    @property
    def label(self) -> str:
        return f"{self.prompt}/{self.model}/{self.index}"


def check_name(name: str, what: str) -> str:
    """Prompt ids and model names become folder names: keep them safe."""
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise UsageError(
            f"{what} {name!r} cannot be a folder name (letters, digits, . _ -)", field=what
        )
    return name


class Sample:
    """A finished sample on disk (``reply.json`` exists)."""

    def __init__(self, run: Run, key: SampleKey):
        self.run = run
        self.key = key
        self.path = run.path / key.prompt / key.model / str(key.index)

    @property
    def artifact(self) -> Path:
        return self.path / "artifact"

    @property
    def reply(self) -> dict[str, Any]:
        """``reply.json``, validated (``records/schemas.py``)."""
        return load_record(self.path / "reply.json") or {}

    @property
    def verdict(self) -> dict[str, Any] | None:
        """``verdict.json``, validated; None before the sample is rendered."""
        return load_record(self.path / "verdict.json")

    @property
    def observation(self) -> dict[str, Any] | None:
        """``observation.json``, validated; None before the sample is rendered."""
        return load_record(self.path / "observation.json")

    @property
    def judgement(self) -> dict[str, Any] | None:
        """``judgement.json``, validated; None before a vision judge has scored the sample."""
        return load_record(self.path / "judgement.json")

    @property
    def current_judgement(self) -> dict[str, Any] | None:
        """``judgement.json`` while it scores the render on disk (a new render makes it stale)."""
        return current_judgement(self.judgement, self.verdict)

    @property
    def judge_score(self) -> float | None:
        """The judge's score of the render on disk (None: not judged, an error, or a
        judgement that is not one gallery wrote)."""
        try:
            score = (self.current_judgement or {}).get("score")
        except RecordError:
            return None
        return score if isinstance(score, int | float) else None

    @property
    def runnable(self) -> bool:
        return (self.artifact / "index.html").is_file()

    def write_render(self, files: dict[str, bytes], shots_dir: Path | None = None) -> None:
        """Add render results. ``files`` maps names to bytes; ``verdict.json`` is written last.

        ``shots_dir`` (a temp folder of screenshots) replaces ``shots/`` by rename.
        """
        if shots_dir is not None:
            final = self.path / "shots"
            old = None
            if final.exists():
                old = self.path / f".shots-old-{os.getpid()}-{time.monotonic_ns()}"
                final.rename(old)
            shutil.move(str(shots_dir), final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        for name in sorted(files, key=lambda n: n == "verdict.json"):
            write_bytes(self.path / name, files[name])

    def __repr__(self) -> str:
        return f"Sample({self.key.label})"


class Run:
    """One run folder: its manifest and samples."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.id = self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / "run.json"

    @property
    def cache_dir(self) -> Path | None:
        """``<out>/cache`` of the store the run lies in (None for a run elsewhere)."""
        if self.path.parent.name != "runs":
            return None
        return self.path.parent.parent / "cache"

    def record(self) -> RunManifest | None:
        """``run.json``, typed and validated (``records/manifest.py``); None before it exists."""
        return read_manifest(self.manifest_path)

    def manifest(self) -> dict[str, Any]:
        """``run.json`` as plain data in its one normalised shape ({} before it exists)."""
        record = self.record()
        return manifest_builtins(record) if record is not None else {}

    def save_manifest(self, data: dict[str, Any] | RunManifest) -> None:
        """Write ``run.json`` whole; plain data is validated as a ``RunManifest`` first."""
        if not isinstance(data, RunManifest):
            data = manifest_from_builtins(data, self.manifest_path)
        write_bytes(self.manifest_path, encode_manifest(data))

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Change some fields of ``run.json`` (validated); returns the whole manifest."""
        data = self.manifest()
        data.update(changes)
        self.save_manifest(data)
        return self.manifest()

    def sample(self, key: SampleKey) -> Sample:
        return Sample(self, key)

    def has_sample(self, key: SampleKey) -> bool:
        return (self.sample(key).path / "reply.json").is_file()

    def write_sample(
        self,
        key: SampleKey,
        files: dict[str, bytes | str],
        fill: Callable[[Path], None] | None = None,
    ) -> Sample:
        """Write a whole sample atomically: temp folder, then rename into place.

        ``files`` maps relative paths (``reply.json``, ``artifact/index.html``, ...)
        to content; ``fill``, if given, is called with the temp folder to write
        more (``extract.write_files`` for the artifact). An existing sample with
        the same key is replaced.
        """
        check_name(key.prompt, "prompt")
        check_name(key.model, "model")
        sample = self.sample(key)
        with atomic_folder(sample.path) as tmp:
            for rel, content in files.items():
                target = (tmp / rel).resolve()
                if not target.is_relative_to(tmp.resolve()):
                    raise UsageError(f"refusing to write outside the sample: {rel!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode() if isinstance(content, str) else content
                target.write_bytes(data)
            if fill is not None:
                fill(tmp)
        return sample

    def samples(self) -> Iterator[Sample]:
        """Every finished sample, sorted by prompt, model, index. Temp folders are skipped."""
        keys = []
        for reply in self.path.glob("*/*/*/reply.json"):
            n = reply.parent.name
            if not n.isdigit():
                continue
            keys.append(
                SampleKey(reply.parent.parent.parent.name, reply.parent.parent.name, int(n))
            )
        for key in sorted(keys):
            yield self.sample(key)

    def clean_partial(self) -> int:
        """Remove leftovers of an interrupted write (``.N.tmp-*``, ``.N.old-*``); returns how many."""
        n = 0
        for leftover in self.path.glob("*/*/.*"):
            if is_leftover(leftover.name):
                shutil.rmtree(leftover, ignore_errors=True)
                n += 1
        for leftover in self.path.glob("*/*/*/.shots-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        # half-written files of write_bytes (run.json, verdict.json, ...): not samples
        for leftover in [*self.path.glob(".*.tmp"), *self.path.glob("*/*/*/.*.tmp")]:
            leftover.unlink(missing_ok=True)
        return n

    def __repr__(self) -> str:
        return f"Run({self.path})"


class Store:
    """``outputs/``: the runs and the reply cache."""

    def __init__(self, out: Path | str):
        self.out = Path(out)
        self.runs_dir = self.out / "runs"
        self.cache_dir = self.out / "cache"

    def fresh_run_id(self, suffix: str = "") -> str:
        """A sortable UTC timestamp id (``-suffix`` added) that no run here has yet."""
        base = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + (f"-{suffix}" if suffix else "")
        run_id, n = base, 1
        while (self.runs_dir / run_id).exists():
            n += 1
            run_id = f"{base}-{n}"
        return run_id

    def new_run(self, run_id: str | None = None) -> Run:
        """Create a run folder; the id defaults to ``fresh_run_id()``."""
        if run_id is None:
            run_id = self.fresh_run_id()
        if not _RUN_ID_RE.match(run_id):
            raise UsageError(f"invalid run id {run_id!r}", field="--run")
        path = self.runs_dir / run_id
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {path}: {exc.strerror}", field="--out") from None
        return Run(path)

    def runs(self) -> list[Run]:
        """Runs with a manifest, oldest first (by start time, then id)."""
        if not self.runs_dir.is_dir():
            return []
        found = [Run(p) for p in self.runs_dir.iterdir() if (p / "run.json").is_file()]
        return sorted(found, key=lambda r: (r.manifest().get("started_at", ""), r.id))

    def latest(self) -> Run | None:
        runs = self.runs()
        return runs[-1] if runs else None

    def open_run(self, ref: str | None = "latest") -> Run:
        """A run by id, ``latest``, or a path to a run folder; RunNotFound otherwise."""
        if ref in (None, "", "latest"):
            run = self.latest()
            if run is None:
                raise RunNotFound(f"no runs yet in {self.runs_dir} (start one with `gallery run`)")
            return run
        candidate = Path(ref)
        if (candidate / "run.json").is_file():
            return Run(candidate)
        if _RUN_ID_RE.match(ref) and (self.runs_dir / ref / "run.json").is_file():
            return Run(self.runs_dir / ref)
        raise RunNotFound(f"no run {ref!r} in {self.runs_dir}", field="--run")
