"""The render stage over a whole run: every sample observed, judged and stored.

``render_run`` drives one ``Renderer`` (one Chromium) over the run's samples,
``--concurrency`` pages at once, and writes each sample's screenshots,
preview, ``observation.json`` and ``verdict.json``. A sample is rendered again
only when its *render hash* changes: the artifact's bytes, the prompt's render
settings, input and checks, the Chromium version and this module's version.
Also here:
``result_rows`` (the table behind ``gallery results``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gallery.aio import run_sync
from gallery.catalogue.prompts import Prompt, samples_with_prompts
from gallery.checks.judge import judge
from gallery.errors import RecordError, UsageError
from gallery.records.fsutil import dump_json, link_or_copy, write_bytes, write_json
from gallery.records.schemas import load as load_record
from gallery.records.shard import Shard
from gallery.records.store import Run, Sample, utcnow
from gallery.render import images
from gallery.render.pacing import PacingMemo

#: Bump when observation or verdict logic changes, so stored verdicts are redone.
#: 4: the overlay rules of issue 14 (counters, captions gone or blinking, sighting).
#: 5: popups (a page whose click opened a new tab was often recorded "hung").
#: 6: served libraries draw from their own random stream; `will-change` set aside on
#: elements an animation transforms; V8 compiles on the page's thread (each of the
#: three made the same page give other pixels in some loads).
#: 8: a CSS transition is not an indicator overlay, and a missing file is one console
#: error however often it was requested (both varied between loads of one page).
#: 9: after each event of a pointer input, the frames that update what is hovered pass
#: before the next (where a hover update landed followed real time).
RENDER_VERSION = "9"


@dataclass
class RenderSummary:
    rendered: int = 0
    skipped: int = 0  # unchanged, including ``reused``
    reused: int = 0  # the same render found in another sample (see ``RenderIndex``)
    no_page: int = 0
    failed_pages: list[str] = field(default_factory=list)
    #: sample label -> why it could not be judged (the browser or the harness failed)
    unjudged: dict[str, str] = field(default_factory=dict)


def render_hash(sample: Sample, prompt: Prompt, chromium: str) -> str:
    """What decides whether a stored verdict is still valid."""
    h = hashlib.sha256()
    h.update(f"{RENDER_VERSION}\0{chromium}\0".encode())
    h.update(
        json.dumps(
            [asdict(prompt.render), [asdict(s) for s in prompt.interact]], sort_keys=True
        ).encode()
    )
    h.update(json.dumps([asdict(c) for c in prompt.checks], sort_keys=True).encode())
    if sample.artifact.is_dir():
        for f in sorted(p for p in sample.artifact.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(sample.artifact)).encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:24]


class RenderIndex:
    """``outputs/cache/renders/<render hash>``: which sample already holds that render.

    A render is decided by its hash alone (the artifact's bytes, the prompt's
    render settings, input and checks, the Chromium version, ``RENDER_VERSION``),
    so a sample of *another* run with the same hash (a rerun that replayed the
    same replies, a reference page that did not change) has the very
    observation, screenshots and verdict this one would get: they are linked
    (hard links where the file system allows, else copied) instead of rendered
    again. An entry is trusted only while that sample's ``verdict.json`` still
    carries the hash.
    """

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def for_run(cls, run: Run) -> RenderIndex | None:
        """The index beside the run's store (``<out>/cache/renders``), when it is in one."""
        return None if run.cache_dir is None else cls(run.cache_dir / "renders")

    def _entry(self, rhash: str) -> Path:
        return self.root / rhash[:2] / rhash

    def find(self, rhash: str) -> Path | None:
        try:
            where = Path(self._entry(rhash).read_text(encoding="utf-8").strip())
        except OSError:
            return None
        try:
            verdict = load_record(where / "verdict.json")
        except RecordError:
            return None
        if verdict is None or verdict.get("render_hash") != rhash:
            return None
        if verdict.get("judged") is False:
            return None  # a browser or harness failure is never handed on
        if not (where / "observation.json").is_file():
            return None
        return where

    def has(self, rhash: str) -> bool:
        return self._entry(rhash).is_file()

    def add(self, rhash: str, sample: Sample) -> None:
        # An index that cannot be written only means rendering again later.
        with contextlib.suppress(OSError):
            write_bytes(self._entry(rhash), str(sample.path.resolve()).encode())


def _reuse(sample: Sample, source: Path) -> dict[str, Any] | None:
    """Give ``sample`` the render stored in ``source``; returns its verdict (None: failed)."""
    shots_tmp = sample.path / f".shots-new-reuse-{os.getpid()}"
    try:
        verdict = load_record(source / "verdict.json")
        if verdict is None:
            return None
        shutil.rmtree(shots_tmp, ignore_errors=True)
        shots_tmp.mkdir(parents=True)
        src_shots = source / "shots"
        for shot in sorted(src_shots.glob("*.png")) if src_shots.is_dir() else []:
            link_or_copy(shot, shots_tmp / shot.name)
        files = {"observation.json": (source / "observation.json").read_bytes()}
        if (source / "preview.webp").is_file():
            files["preview.webp"] = (source / "preview.webp").read_bytes()
        files["verdict.json"] = dump_json(verdict)
        sample.write_render(files, shots_dir=shots_tmp)
    except (OSError, RecordError):
        shutil.rmtree(shots_tmp, ignore_errors=True)
        return None
    return verdict


def _no_page_reason(sample: Sample) -> str | None:
    if sample.runnable:
        return None
    reply = sample.reply
    if reply.get("status") == "failed":
        return f"the model call failed: {reply.get('error') or 'unknown error'}"
    return (reply.get("extract") or {}).get("reason") or "no runnable page in the reply"


async def _render_all(
    samples: list[tuple[Sample, Prompt, str]],
    *,
    chromium: str | None,
    concurrency: int,
    libs: Any,
    on_done: Callable[[Sample, dict[str, Any]], None],
    highlight_cache: Path | None = None,
    pacing: PacingMemo | None = None,
) -> None:
    from gallery.render.highlight import warm
    from gallery.render.sandbox import Renderer

    async with Renderer(chromium=chromium, libs=libs) as renderer:
        sem = asyncio.Semaphore(concurrency)

        async def one(sample: Sample, prompt: Prompt, rhash: str) -> None:
            known = pacing.get(rhash) if pacing else None
            async with sem:
                result = await renderer.render(sample.artifact, prompt, known)
            if pacing and result.pacing and result.pacing != known:
                pacing.put(rhash, result.pacing)
            try:
                verdict = judge(result.observation, prompt.checks)
            except Exception as exc:  # noqa: BLE001 - a harness fault is this page's alone
                reason = f"harness error while judging: {type(exc).__name__}: {exc}"[:500]
                result.observation = {**result.observation, "status": "unjudged", "detail": reason}
                verdict = judge(result.observation, prompt.checks)
            verdict["render_hash"] = rhash
            verdict["rendered_at"] = utcnow()
            files = {
                "observation.json": observation_bytes(result.observation),
                "verdict.json": dump_json(verdict),
            }
            if result.preview_frames:
                files["preview.webp"] = await asyncio.to_thread(
                    images.animated_webp, result.preview_frames
                )
            shots_tmp = sample.path / f".shots-new-{id(result)}"
            shots_tmp.mkdir(parents=True, exist_ok=True)
            for name, data in result.shots.items():
                (shots_tmp / name).write_bytes(data)
            sample.write_render(files, shots_dir=shots_tmp)
            if highlight_cache is not None:
                # The site shows the source highlighted: done once here, beside the
                # browser's work, so that site builds only read it back.
                await asyncio.to_thread(warm, sample.path, sample.reply, highlight_cache)
            on_done(sample, verdict)

        await asyncio.gather(*(one(s, p, h) for s, p, h in samples))


#: No observation.json is larger than this, whatever the page did.
MAX_OBSERVATION_BYTES = 1_000_000


def observation_bytes(obs: dict[str, Any]) -> bytes:
    """``observation.json``, under ``MAX_OBSERVATION_BYTES``.

    Every record is capped where it is made; this is the last bound, for what no one
    foresaw: the long lists (console, errors, requests...) are cut to their first
    entries, and the observation says so (``cut``)."""
    data = dump_json(obs)
    keep = 20
    while len(data) > MAX_OBSERVATION_BYTES and keep:
        obs = {**obs, "cut": True}
        for key in ("console", "errors", "navigations", "popups", "downloads", "external"):
            if isinstance(obs.get(key), list):
                obs[key] = obs[key][:keep]
        if isinstance(obs.get("requests"), dict):
            obs["requests"] = {k: v[:keep] for k, v in obs["requests"].items()}
        data = dump_json(obs)
        keep //= 4
    if len(data) > MAX_OBSERVATION_BYTES:  # still: keep the verdict's inputs only
        slim = {k: obs.get(k) for k in ("status", "detail", "mode", "chromium", "seed")}
        data = dump_json({**slim, "cut": True})
    return data


@dataclass(frozen=True)
class Selection:
    """Which samples of a run to render: by model, by prompt, by shard (empty: all)."""

    models: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    shard: Shard | None = None

    def check(self, catalogue: dict[str, Prompt]) -> None:
        for pid in self.prompts:
            if pid not in catalogue:
                raise UsageError(f"unknown prompt {pid!r}", field="--prompt")

    def __call__(self, sample: Sample) -> bool:
        return (
            (not self.models or sample.key.model in self.models)
            and (not self.prompts or sample.key.prompt in self.prompts)
            and (self.shard is None or self.shard.owns(sample.key))
        )


def default_concurrency() -> int:
    """Pages rendered at once when not told: one per CPU core this process may use.

    Rendering is CPU-bound (page script, WebGL drawn in software, compositing), so
    pages beyond the cores only contend: on 2 cores, 24 real pages took 72-75 s two
    at a time, 84 s three and 89 s four at a time, with more CPU spent per page.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores)


def render_run(
    run: Run,
    catalogue: dict[str, Prompt],
    *,
    chromium: str | None = None,
    concurrency: int | None = None,
    force: bool = False,
    libs: Any = None,
    select: Callable[[Sample], bool] | None = None,
    on_done: Callable[[Sample, dict[str, Any]], None] | None = None,
) -> RenderSummary:
    """Render and judge every sample of ``run`` that needs it (``select``: only those).

    ``concurrency``: pages at once (None: ``default_concurrency()``).
    """
    from gallery.render.browser import chromium_version, find_chromium
    from gallery.render.highlight import cache_for_run
    from gallery.render.libs import LibCache

    if concurrency is None:
        concurrency = default_concurrency()
    if concurrency < 1:
        raise UsageError("must be at least 1", field="--concurrency")
    if isinstance(select, Selection):
        select.check(catalogue)
    summary = RenderSummary()
    report = on_done or (lambda s, v: None)
    version = chromium_version(find_chromium(chromium).path)
    index = RenderIndex.for_run(run)
    todo: list[tuple[Sample, Prompt, str]] = []
    run.clean_partial()
    for sample, prompt in samples_with_prompts(run, catalogue, select):
        reason = _no_page_reason(sample)
        if reason is not None:
            verdict = judge(None, prompt.checks, no_page=reason)
            old = sample.verdict
            if old is None or old.get("checks") != verdict["checks"]:
                write_json(sample.path / "verdict.json", verdict)
            summary.no_page += 1
            report(sample, verdict)
            continue
        rhash = render_hash(sample, prompt, version)
        old = sample.verdict
        reusable = old is not None and old.get("judged") is not False
        if not force and reusable and old.get("render_hash") == rhash:
            if index is not None and not index.has(rhash):
                index.add(rhash, sample)  # rendered before there was an index
            summary.skipped += 1
            report(sample, old)
            continue
        source = None if force or index is None else index.find(rhash)
        if source is not None and source != sample.path.resolve():
            verdict = _reuse(sample, source)
            if verdict is not None:
                summary.skipped += 1
                summary.reused += 1
                report(sample, verdict)
                continue
        todo.append((sample, prompt, rhash))

    def done(sample: Sample, verdict: dict[str, Any]) -> None:
        summary.rendered += 1
        if verdict.get("judged") is False:
            summary.unjudged[sample.key.label] = verdict.get("reason") or "not judged"
        else:
            if index is not None:
                index.add(verdict["render_hash"], sample)
            if (sample.observation or {}).get("status") not in (None, "ok"):
                summary.failed_pages.append(sample.key.label)
        report(sample, verdict)

    if todo:
        run_sync(
            _render_all(
                todo,
                chromium=chromium,
                concurrency=concurrency,
                libs=libs or LibCache(),
                on_done=done,
                highlight_cache=cache_for_run(run),
                pacing=PacingMemo.for_run(run),
            )
        )
    run.update_manifest(rendered_at=utcnow(), chromium=version)
    return summary


def result_rows(run: Run) -> list[dict[str, Any]]:
    """One row per sample: prompt, model, sample, source, status, passed, score, checks,
    judge_score (the vision judge's share of the rubric's points; None when not judged)."""
    rows = []
    for sample in run.samples():
        reply = sample.reply
        verdict = sample.verdict
        obs = sample.observation or {}
        status = reply.get("status", "ok")
        if verdict is not None and verdict.get("judged") is False:
            status, verdict = "not judged", None  # the browser or harness failed: no verdict
        elif status == "ok":
            status = "rendered" if verdict else "not rendered"
            if obs.get("status") not in (None, "ok"):
                status = f"page {obs['status']}"
        rows.append(
            {
                "prompt": sample.key.prompt,
                "model": sample.key.model,
                "sample": sample.key.index,
                "source": reply.get("source"),
                "status": status,
                "passed": verdict["passed"] if verdict else None,
                "score": verdict["score"] if verdict else None,
                "checks": {c["name"]: c["passed"] for c in verdict["checks"]} if verdict else {},
                "judge_score": sample.judge_score if verdict else None,
                # not in `results --json`: which checks decide pass/fail
                "required": {c["name"]: c["required"] for c in verdict["checks"]}
                if verdict
                else {},
            }
        )
    return rows
