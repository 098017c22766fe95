"""The baseline run: the one place that records it and the one that finds it.

The baseline (``gallery baseline set``) is a small committed file,
``outputs/baseline.json``: ``{"run": "<id or path>", "set_at": "...", ...}``.
``gallery compare``, the pytest plugin and the site all resolve it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gallery.compare.rule import read_verdict
from gallery.errors import RunNotFound, UsageError
from gallery.records.fsutil import read_json, write_json
from gallery.records.store import Run, Store, utcnow

BASELINE_FILE = "baseline.json"


def baseline_path(store: Store) -> Path:
    return store.out / BASELINE_FILE


def set_baseline(store: Store, run: Run) -> dict[str, Any]:
    """Record ``run`` as the baseline; a run outside ``outputs/runs`` is kept by path."""
    inside = run.path.resolve().parent == store.runs_dir.resolve()
    read = [(s, *read_verdict(s.path)) for s in run.samples()]
    unjudged = [s.key.label for s, _, why in read if why is not None]
    if unjudged:
        raise UsageError(
            f"{len(unjudged)} sample(s) of run {run.id} were not judged (first: {unjudged[0]}); "
            "render the run again before it becomes the baseline",
            field="RUN",
        )
    verdicts = [v for _, v, _ in read]
    data = {
        "run": run.id if inside else str(run.path),
        "set_at": utcnow(),
        "samples": len(verdicts),
        "passed": sum(bool(v and v.get("passed")) for v in verdicts),
    }
    write_json(baseline_path(store), data)
    return data


def read_baseline(store: Store) -> Run | None:
    """The recorded baseline run, None when none is recorded; RunNotFound when it is gone."""
    path = baseline_path(store)
    if not path.is_file():
        return None
    try:
        ref = read_json(path)["run"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError('expected {"run": "<id>", ...}', source=path, field="run") from None
    try:
        return store.open_run(str(ref))
    except RunNotFound:
        raise RunNotFound(
            f"the baseline run {ref!r} is not in {store.runs_dir} "
            "(commit it, or record another with `gallery baseline set RUN`)",
            source=path,
        ) from None
