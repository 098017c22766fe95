"""The generate stage of a run, callable without click.

``generate_run`` picks the run (a new one, the one named, or the interrupted
one), works out which samples are missing, and produces them: hand-written
references, cached replies replayed, or live calls through ``generate``.
Each sample is extracted and written atomically as soon as it is done, so an
interrupted run keeps everything finished and the next call fills in only
what is missing. ``run.json`` records what was asked (models, prompts,
samples, system prompt) and the totals, recomputed from the samples on disk.

Selection rule when continuing a run: an option given now wins, else what the
run recorded, else the config defaults. Failed samples are retried on resume
(errors are never cached); ok and no-artifact samples are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gallery.aio import run_sync
from gallery.catalogue.config import Config, ModelSpec
from gallery.catalogue.prompts import Prompt
from gallery.catalogue.prompts import select as select_prompts
from gallery.errors import RunNotFound, UsageError
from gallery.generate.client import Generator, ReplyCache
from gallery.generate.extract import write_files
from gallery.generate.replies import Job, finish_record
from gallery.records.fsutil import dump_json, read_json
from gallery.records.shard import Shard, new_run_id, parse_shard
from gallery.records.store import Run, SampleKey, Store, utcnow
from gallery.records.totals import LaneTotals, run_totals


class Reporter(Protocol):
    """Where progress goes (see ``gallery.progress`` for the terminal and log versions)."""

    def start(self, run: Run, planned: dict[str, int]) -> None: ...
    def note(self, line: str) -> None: ...
    def sample(self, key: SampleKey, reply: dict[str, Any], lane: LaneTotals) -> None: ...
    def finish(self) -> None: ...


class SilentReporter:
    def start(self, run: Run, planned: dict[str, int]) -> None:
        pass

    def note(self, line: str) -> None:
        pass

    def sample(self, key: SampleKey, reply: dict[str, Any], lane: LaneTotals) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class Plan:
    """What one ``generate_run`` call will do; ``run`` is None until a new run is created."""

    store: Store
    run: Run | None
    specs: list[ModelSpec]
    prompts: list[Prompt]
    samples: int
    concurrency: int
    system_prompt: str
    fresh: bool
    jobs: list[Job] = field(default_factory=list)
    on_disk: int = 0
    notes: list[str] = field(default_factory=list)
    shard: Shard | None = None
    #: lanes left out of this call, and why (``run.json`` says it; the site shows it)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class GenerateResult:
    run: Run
    continued: bool
    lanes: dict[str, LaneTotals]
    on_disk: int
    notes: list[str]
    wall_s: float
    manifest: dict[str, Any]


#: Manifest statuses of a run that stopped before its job was done: generating, or
#: (``gallery run``, see ``gallery.job``) rendering or building the site after it.
INTERRUPTED = ("running", "rendering", "building")


def choose_run(store: Store, *, run: str | None = None, resume: bool = False) -> Run | None:
    """The run to continue: ``--run``, ``--resume`` (latest unfinished, else latest),
    or the latest run if it was interrupted (see ``INTERRUPTED``); None means a new run."""
    if run:
        return store.open_run(run)
    runs = store.runs()
    unfinished = [r for r in runs if r.manifest().get("status") in INTERRUPTED]
    if resume:
        if not runs:
            raise RunNotFound(f"no run to resume in {store.runs_dir}", field="--resume")
        return (unfinished or runs)[-1]
    if runs and runs[-1].manifest().get("status") in INTERRUPTED:
        return runs[-1]
    return None


def _done(run: Run, key: SampleKey) -> bool:
    """A sample that needs no new call: on disk and not failed."""
    path = run.sample(key).path / "reply.json"
    try:
        return read_json(path).get("status") != "failed"
    except (OSError, ValueError, AttributeError):
        return False


def prepare(
    config: Config,
    catalogue: dict[str, Prompt],
    store: Store,
    *,
    models: Sequence[str] = (),
    prompts: Sequence[str] = (),
    samples: int | None = None,
    concurrency: int | None = None,
    fresh: bool = False,
    run: str | None = None,
    resume: bool = False,
    system_prompt: str | None = None,
    shard: str | Shard | None = None,
) -> Plan:
    """Validate the options and list the missing samples; writes nothing.

    With ``shard`` ("I/N"), only the samples of that shard (see ``gallery.shard``).
    """
    shard = parse_shard(shard)
    if samples is not None and samples < 1:
        raise UsageError(f"must be at least 1, got {samples}", field="--samples")
    if concurrency is not None and concurrency < 1:
        raise UsageError(f"must be at least 1, got {concurrency}", field="--concurrency")
    target = choose_run(store, run=run, resume=resume)
    if (
        shard is not None
        and not run
        and target is not None
        and target.manifest().get("shard") != str(shard)
    ):
        target = None  # an interrupted run of another shard is not this one's to continue
    manifest = target.manifest() if target else {}
    notes: list[str] = []
    names = list(models)
    if not names and manifest.get("models"):
        recorded = [m["name"] for m in manifest["models"] if not m.get("imported")]
        names = [n for n in recorded if n in config.models]
        if gone := [n for n in recorded if n not in config.models]:
            notes.append(f"run {target.id}: {', '.join(gone)} no longer configured; skipped")
    specs = config.select(names)
    ids = list(prompts)
    if not ids and manifest.get("prompts"):
        recorded = [p["id"] for p in manifest["prompts"]]
        ids = [p for p in recorded if p in catalogue]
    chosen = select_prompts(catalogue, ids)
    recorded_prompt = manifest.get("system_prompt")
    if system_prompt is not None and recorded_prompt not in (None, system_prompt):
        raise UsageError(
            f"run {target.id} was generated with another system prompt; start a new run",
            field="--system-prompt",
        )
    plan = Plan(
        store=store,
        run=target,
        specs=specs,
        prompts=chosen,
        samples=samples or manifest.get("samples") or config.defaults.samples,
        concurrency=concurrency or manifest.get("concurrency") or config.defaults.concurrency,
        system_prompt=next(
            p
            for p in (system_prompt, recorded_prompt, config.defaults.system_prompt)
            if p is not None
        ),
        fresh=fresh,
        notes=notes,
        shard=shard,
    )
    no_reference = []
    for prompt in chosen:
        for spec in specs:
            if spec.is_reference and prompt.reference_path is None:
                if spec.name in models and prompt.id in prompts:
                    # asked for by name, both: not a lane to skip quietly
                    expected = (prompt.path or Path(prompt.id)).with_name(
                        f"{prompt.id}.reference.html"
                    )
                    raise UsageError(
                        f"no reference page for prompt {prompt.id!r}, asked for with "
                        f"--model {spec.name}",
                        source=expected,
                    )
                no_reference.append(prompt.id)
                continue
            for index in [1] if spec.is_reference else range(1, plan.samples + 1):
                job = Job(prompt, spec, index)
                if shard is not None and not shard.owns(job.key):
                    continue
                if target is not None and _done(target, job.key):
                    plan.on_disk += 1
                else:
                    plan.jobs.append(job)
    if no_reference:
        notes.append(f"reference: no reference page for {', '.join(no_reference)} (skipped)")
    plan.jobs.sort(key=lambda j: (j.index, j.prompt.id, j.spec.name))
    return plan


def _skip_keyless(plan: Plan, generator: Generator) -> None:
    """Drop models whose key is missing, unless every reply they need is cached."""
    for spec in plan.specs:
        if not spec.api_key_env or spec.is_reference or spec.api_key():
            continue
        mine = [j for j in plan.jobs if j.spec.name == spec.name]
        if not mine:
            continue
        cached = sum(generator.cached(j) is not None for j in mine)
        if cached == len(mine):
            plan.notes.append(
                f"{spec.name}: {spec.api_key_env} is not set; replaying {cached} cached replies"
            )
            continue
        plan.notes.append(
            f"skipping {spec.name}: {spec.api_key_env} is not set "
            f"({cached} of {len(mine)} replies cached)"
        )
        plan.skipped[spec.name] = f"no API key: {spec.api_key_env} was not set"
        plan.jobs = [j for j in plan.jobs if j.spec.name != spec.name]


def _merge(entries: list[Any], new: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Update manifest entries by ``key``, keeping ones this call does not touch."""
    out = [e if isinstance(e, dict) else {key: e} for e in entries]
    for entry in new:
        for i, old in enumerate(out):
            if old.get(key) == entry[key]:
                out[i] = {**old, **entry}
                break
        else:
            out.append(entry)
    return out


def _model_entry(spec: ModelSpec) -> dict[str, Any]:
    if spec.is_reference:
        return {"name": spec.name, "provider": "reference", "label": spec.display}
    return {
        "name": spec.name,
        "label": spec.display,
        "provider": spec.provider,
        "model_id": spec.model,
        "base_url": spec.base_url,
        "api": spec.api,
        "params": spec.params,
        "concurrency": spec.concurrency,
        "priced": bool(spec.pricing),
    }


def _start_manifest(run: Run, plan: Plan) -> dict[str, Any]:
    manifest = run.manifest() or {"id": run.id, "started_at": utcnow()}
    prompts = [
        {"id": p.id, "sha256": hashlib.sha256(p.prompt.encode()).hexdigest()} for p in plan.prompts
    ]
    manifest.update(
        id=run.id,
        status="running",
        finished_at=None,
        system_prompt=plan.system_prompt,
        concurrency=plan.concurrency,
        samples=max(manifest.get("samples") or 0, plan.samples),
        models=_merge(
            manifest.get("models", []),
            [{**_model_entry(s), "skipped": plan.skipped.get(s.name)} for s in plan.specs],
            "name",
        ),
        prompts=_merge(manifest.get("prompts", []), prompts, "id"),
    )
    manifest.setdefault("totals", None)
    if plan.shard is not None:
        manifest["shard"] = str(plan.shard)
    run.save_manifest(manifest)
    return manifest


async def _produce_all(plan: Plan, run: Run, generator: Generator, reporter: Reporter, lanes):
    def store(job: Job, record: dict[str, Any]) -> None:
        art = finish_record(record, open_fence=job.spec.open_fence)
        data = dump_json(record)

        def fill(tmp):
            if art is not None and (art.files or art.sources):
                write_files(art, tmp / "artifact")

        run.write_sample(job.key, {"reply.json": data}, fill)

    async def one(job: Job) -> None:
        record = await generator.produce(job)
        # Extraction (markdown parsing) and the writes off the event loop, which
        # meanwhile keeps reading the replies still streaming in.
        await asyncio.to_thread(store, job, record)
        lanes[job.spec.name].add(record)
        reporter.sample(job.key, record, lanes[job.spec.name])

    try:
        await asyncio.gather(*(one(job) for job in plan.jobs))
    finally:
        await generator.aclose()


def execute(config: Config, plan: Plan, reporter: Reporter | None = None) -> GenerateResult:
    """Produce the plan's samples into its run (created now if new); update ``run.json``."""
    reporter = reporter or SilentReporter()
    continued = plan.run is not None
    generator = Generator(
        config,
        ReplyCache(plan.store.cache_dir),
        system_prompt=plan.system_prompt,
        concurrency=plan.concurrency,
        fresh=plan.fresh,
    )
    _skip_keyless(plan, generator)
    run = plan.run or plan.store.new_run(new_run_id(plan.shard, plan.store) if plan.shard else None)
    removed = run.clean_partial()
    if removed:
        plan.notes.append(f"removed {removed} partial sample(s) left by an interrupted run")
    manifest = _start_manifest(run, plan)
    before = (manifest.get("totals") or {}).get("wall_s") or 0.0
    lanes = {s.name: LaneTotals(s.name) for s in plan.specs}
    for job in plan.jobs:
        lanes[job.spec.name].planned += 1
    for line in plan.notes:
        reporter.note(line)
    reporter.start(run, {name: lane.planned for name, lane in lanes.items()})
    t0 = time.perf_counter()
    finished = False
    try:
        run_sync(_produce_all(plan, run, generator, reporter, lanes))
        finished = True
    finally:
        reporter.finish()
        wall = before + time.perf_counter() - t0
        changes: dict[str, Any] = {"totals": run_totals(run, wall)}
        if finished:
            changes.update(status="generated", finished_at=utcnow())
        manifest = run.update_manifest(**changes)
    return GenerateResult(
        run=run,
        continued=continued,
        lanes=lanes,
        on_disk=plan.on_disk,
        notes=plan.notes,
        wall_s=time.perf_counter() - t0,
        manifest=manifest,
    )


def generate_run(
    config: Config,
    catalogue: dict[str, Prompt],
    store: Store,
    *,
    reporter: Reporter | None = None,
    **options: Any,
) -> GenerateResult:
    """The generate stage: ``prepare`` (options as there) then ``execute``."""
    return execute(config, prepare(config, catalogue, store, **options), reporter)
