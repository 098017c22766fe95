"""Scale out: ``--shard I/N`` splits a run's samples over machines; ``merge`` joins them.

A CI matrix of N jobs runs ``gallery generate --shard I/N`` and ``gallery
render --shard I/N`` (or ``gallery run --shard I/N``), each on its own machine,
like Playwright Test's ``--shard`` and ``merge-reports``. Every job then holds
a run with its part of the samples; ``gallery merge`` combines the runs into
one, which is the run an unsplit job would have made (same samples, same
replies, same verdicts).

The partition is by a stable hash of each sample's key (prompt, model, sample
index): it needs no coordination and no shared list, a key always falls in
the same shard whatever else is selected, and large runs spread evenly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gallery.errors import UsageError
from gallery.records.fsutil import atomic_folder, link_tree, read_json
from gallery.records.store import Run, SampleKey, Store, utcnow

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    @property
    def tag(self) -> str:
        """For run ids: ``shard2of3``."""
        return f"shard{self.index}of{self.total}"

    def owns(self, key: SampleKey) -> bool:
        return shard_of(key, self.total) == self.index


def shard_of(key: SampleKey, total: int) -> int:
    """The shard (1..total) a sample key belongs to: a stable hash, the same everywhere."""
    digest = hashlib.sha256(f"{key.prompt}\0{key.model}\0{key.index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def parse_shard(value: str | Shard | None) -> Shard | None:
    """``"2/3"`` -> Shard(2, 3); None stays None; anything else is a UsageError on --shard."""
    if value is None or isinstance(value, Shard):
        return value
    m = _SHARD_RE.match(str(value))
    if not m:
        raise UsageError(f"must be I/N (for example 1/3), got {value!r}", field="--shard")
    index, total = int(m.group(1)), int(m.group(2))
    if total < 1 or not 1 <= index <= total:
        raise UsageError(f"must be I/N with 1 <= I <= N, got {value!r}", field="--shard")
    return Shard(index, total)


def new_run_id(shard: Shard, store: Store) -> str:
    """A timestamp id that says which shard it is: machines of one matrix never collide."""
    return store.fresh_run_id(shard.tag)


# --- merge ----------------------------------------------------------------------------


@dataclass
class MergeResult:
    run: Run
    added: int
    already: int
    sources: list[str]
    notes: list[str]


def _same_sample(a: Path, b: Path) -> bool:
    try:
        return (a / "reply.json").read_bytes() == (b / "reply.json").read_bytes()
    except OSError:
        return False


def _union(entries: list[Any], key: str) -> list[Any]:
    """Manifest lists (models, prompts) of several runs, in first-seen order, by ``key``."""
    out: list[Any] = []
    seen: dict[Any, int] = {}
    for entry in entries:
        k = entry.get(key) if isinstance(entry, dict) else entry
        if k in seen:
            old = out[seen[k]]
            if isinstance(old, dict) and isinstance(entry, dict):
                out[seen[k]] = {**old, **entry}
            continue
        seen[k] = len(out)
        out.append(entry)
    return out


def merge_runs(store: Store, refs: list[str], into: str | None = None) -> MergeResult:
    """Combine runs (shards) into one: ``into`` (created, or added to), else a new run.

    Whole sample folders are copied (renders, screenshots and all; images as hard
    links where possible); the manifests' models and prompts are joined and the
    totals recomputed from the samples. The same sample in two runs is an error,
    unless both hold the very same reply (merging again is harmless).
    """
    from gallery.records.totals import run_totals

    if not refs:
        raise UsageError("give at least one run to merge", field="RUNS")
    sources = [store.open_run(ref) for ref in refs]
    paths = [s.path.resolve() for s in sources]
    if len(set(paths)) != len(paths):
        raise UsageError("the same run is named twice", field="RUNS")
    manifests = [s.manifest() for s in sources]
    prompts_used = {m.get("system_prompt") for m in manifests if m.get("system_prompt") is not None}
    if len(prompts_used) > 1:
        raise UsageError(
            "these runs were generated with different system prompts; they are not one run",
            field="RUNS",
        )
    notes: list[str] = []
    shards = [m.get("shard") for m in manifests if m.get("shard")]
    totals_n = {int(s.split("/")[1]) for s in shards if "/" in s}
    if len(totals_n) == 1:
        n = totals_n.pop()
        missing = [f"{i}/{n}" for i in range(1, n + 1) if f"{i}/{n}" not in shards]
        if missing:
            notes.append(f"not merged (yet): shard {', '.join(missing)}")

    if into is None:
        target = store.new_run(store.fresh_run_id("merged"))
    else:
        existing = store.runs_dir / into
        if existing.resolve() in paths:
            raise UsageError(f"{into!r} is one of the runs being merged", field="--into")
        target = Run(existing) if (existing / "run.json").is_file() else store.new_run(into)
    target.clean_partial()

    # Check every sample first, so a conflict changes nothing.
    plan: list[tuple[Path, SampleKey]] = []
    owner: dict[SampleKey, Run] = {}
    already = 0
    for run in sources:
        for sample in run.samples():
            key = sample.key
            if key in owner:
                if _same_sample(owner[key].sample(key).path, sample.path):
                    continue
                raise UsageError(
                    f"sample {key.label} is in both {owner[key].id} and {run.id}", field="RUNS"
                )
            owner[key] = run
            dest = target.sample(key).path
            if dest.exists():
                if _same_sample(dest, sample.path):
                    already += 1
                    continue
                raise UsageError(
                    f"sample {key.label} of {run.id} differs from the one already in {target.id}",
                    field="--into",
                )
            plan.append((sample.path, key))

    for src, key in plan:
        with atomic_folder(target.sample(key).path) as tmp:
            tmp.rmdir()  # copytree makes it again
            link_tree(src, tmp)

    old = target.manifest()
    every = [old, *manifests] if old else manifests
    started = sorted(m["started_at"] for m in every if m.get("started_at"))
    finished = sorted(m["finished_at"] for m in every if m.get("finished_at"))
    merged_from = list(old.get("merged_from") or []) + [
        {"id": s.id, "shard": m.get("shard"), "status": m.get("status")}
        for s, m in zip(sources, manifests, strict=True)
    ]
    manifest: dict[str, Any] = {k: v for k, v in old.items() if k != "shard"}
    first = manifests[0]
    for k, v in first.items():
        if k not in ("id", "shard", "totals") and k not in manifest:
            manifest[k] = v
    wall = sum(((m.get("totals") or {}).get("wall_s") or 0.0) for m in manifests)
    wall += ((old.get("totals") or {}).get("wall_s") or 0.0) if old else 0.0
    manifest.update(
        id=target.id,
        status="merged",
        started_at=started[0] if started else utcnow(),
        finished_at=finished[-1] if finished else None,
        merged_at=utcnow(),
        merged_from=merged_from,
        samples=max((m.get("samples") or 0) for m in every),
        models=_union([e for m in every for e in m.get("models") or []], "name"),
        prompts=_union([e for m in every for e in m.get("prompts") or []], "id"),
    )
    rendered = sorted(m["rendered_at"] for m in every if m.get("rendered_at"))
    if rendered:
        manifest["rendered_at"] = rendered[-1]
    chromium = {m.get("chromium") for m in every if m.get("chromium")}
    if len(chromium) > 1:
        notes.append(
            f"the shards were rendered with different Chromium versions: {sorted(chromium)}"
        )
    target.save_manifest(manifest)
    target.update_manifest(totals=run_totals(target, wall))
    return MergeResult(target, len(plan), already, [s.id for s in sources], notes)


def read_shard(run: Run) -> str | None:
    """The shard a run was made as (``"2/3"``), from its manifest."""
    try:
        return read_json(run.manifest_path).get("shard")
    except (OSError, ValueError, AttributeError):
        return None
