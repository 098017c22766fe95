"""The judge stage over a run: every rendered sample scored by a vision lane.

One chat request per sample (``request.py``), through the same client, retries
and reply cache as generation: a rerun on the same renders replays every answer
and asks nothing; ``fresh`` asks again. A reply that is not the JSON asked for is
asked for again (``MAX_MALFORMED_RETRIES`` times, showing the judge its reply
and what was wrong with it); a call that fails after the SDK's own retries, a
refusal, or a reply still malformed is recorded in that sample's
``judgement.json`` as an error, and the others go on. No score is ever made up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gallery.aio import run_sync
from gallery.catalogue.config import Config, ModelSpec
from gallery.catalogue.prompts import Prompt, samples_with_prompts
from gallery.errors import RecordError, UsageError
from gallery.generate.client import (
    Outcome,
    ReplyCache,
    describe_error,
    make_client,
    request_hash,
    stream_reply,
)
from gallery.judging import reply as replies
from gallery.judging.request import JudgeRequest, build_request, summary
from gallery.records.fsutil import dump_json, write_bytes
from gallery.records.schemas import Judgement
from gallery.records.store import Run, Sample, utcnow

#: A malformed reply is asked for again this many times before it is an error.
MAX_MALFORMED_RETRIES = 2


@dataclass
class JudgeSummary:
    lane: str = ""  # the judge lane
    judged: int = 0  # new judgements written (asked or replayed)
    skipped: int = 0  # a current judgement already there
    replayed: int = 0  # answered from the reply cache: no request
    requests: int = 0  # calls made to the judge
    not_rendered: int = 0  # no page, not rendered (or no screenshots), or not judged by the browser
    errors: dict[str, str] = field(default_factory=dict)  # sample label -> why no score
    cost_usd: float = 0.0


def unready(spec: ModelSpec) -> str | None:
    """Why this lane cannot judge now (None: it can)."""
    if spec.is_reference:
        return f"{spec.name!r} is the hand-written references, not a model endpoint"
    if spec.key_status == "missing":
        return f"the judge lane {spec.name!r} needs its key in ${spec.api_key_env}"
    return None


def judgeable(sample: Sample) -> bool:
    """A sample the browser rendered and judged: a page, a verdict that stands, and its
    screenshots on disk (a committed run keeps verdicts without images: a judge shown
    no frame would score nothing it saw)."""
    verdict = sample.verdict
    shots = sample.path / "shots"
    return bool(
        sample.runnable
        and verdict
        and verdict.get("judged") is not False
        and verdict.get("checks")
        and shots.is_dir()
        and any(shots.glob("*.png"))
    )


def _record(
    spec: ModelSpec, req: JudgeRequest, h: str, sample: Sample, **fields: Any
) -> dict[str, Any]:
    record = Judgement(
        judge=spec.name,
        model=spec.model,
        request_hash=h,
        render_hash=(sample.verdict or {}).get("render_hash"),
        rubric="generic" if req.generic else "prompt",
        judged_at=utcnow(),
        **fields,
    )
    return msgspec.to_builtins(record)


def _scored(scored: list[replies.Scored]) -> dict[str, Any]:
    return {
        "items": [
            {
                "item": s.item,
                "text": s.text,
                "points": s.points,
                "score": s.score,
                "reason": s.reason,
            }
            for s in scored
        ],
        "score": replies.normalised(scored),
    }


def _add_usage(total: dict[str, int], usage: dict[str, Any] | None) -> None:
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[k] = total.get(k, 0) + int((usage or {}).get(k) or 0)


class Judge:
    """One judge lane over many samples: cache, client, limits, the retry on malformed."""

    def __init__(self, config: Config, spec: ModelSpec, cache: ReplyCache, *, fresh: bool):
        self.config, self.spec, self.cache, self.fresh = config, spec, cache, fresh
        self.client: Any = None
        self.requests = 0

    async def judge(self, sample: Sample, prompt: Prompt) -> tuple[dict[str, Any], bool]:
        """(the judgement record, whether it was already there and is kept)."""
        spec = self.spec
        req = await asyncio.to_thread(build_request, spec, sample, prompt)
        h = request_hash(req.body)
        try:
            old = sample.judgement
        except RecordError:
            old = None  # not a judgement gallery wrote: judged again, and replaced
        if not self.fresh and old and old.get("request_hash") == h and not old.get("error"):
            return old, True
        entry = None if self.fresh else self.cache.get(h)
        if entry is not None:
            with contextlib.suppress(replies.Malformed):
                scored = replies.parse(entry["reply"].get("text") or "", req.rubric)
                usage = entry["reply"].get("usage")
                return _record(
                    spec,
                    req,
                    h,
                    sample,
                    **_scored(scored),
                    replayed=True,
                    usage=usage,
                    cost={"usd": 0.0, "complete": True},
                ), False
        return await self._ask(sample, req, h), False

    async def _ask(self, sample: Sample, req: JudgeRequest, h: str) -> dict[str, Any]:
        spec = self.spec
        if self.client is None:
            self.client = make_client(spec, self.config)
        messages = list(req.body["messages"])
        usage: dict[str, int] = {}
        latency = 0.0
        error: str | None = None
        scored: list[replies.Scored] | None = None
        started = utcnow()
        attempts = 0
        out = Outcome()
        for _ in range(1 + MAX_MALFORMED_RETRIES):
            attempts += 1
            out = Outcome()
            error = None
            self.requests += 1
            try:
                await stream_reply(
                    self.client,
                    spec,
                    {"messages": messages},
                    out,
                    response_format=req.body["response_format"],
                )
            except Exception as exc:  # any failure is this sample's, recorded; the run goes on
                error = describe_error(exc, tuple(filter(None, [spec.api_key()])))
            latency += out.latency_s or 0.0
            _add_usage(usage, out.usage)
            if error:
                break
            if out.refusal or out.finish_reason == "content_filter":
                error = "the judge refused: " + (out.refusal or "content filter")[:300]
                break
            try:
                scored = replies.parse(out.content, req.rubric)
                break
            except replies.Malformed as exc:
                error = f"malformed reply ({exc})"
                messages = [
                    *req.body["messages"],
                    {"role": "assistant", "content": out.content[:4000]},
                    {
                        "role": "user",
                        "content": f"That reply is not what was asked for: {exc}. Reply with "
                        "the JSON only, one entry per checklist item.",
                    },
                ]
        cost = spec.cost(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        fields: dict[str, Any] = {
            "attempts": attempts,
            "usage": usage or None,
            "latency_s": round(latency, 3),
            "cost": None if cost is None else {"usd": cost.usd, "complete": cost.complete},
        }
        if scored is None:
            return _record(spec, req, h, sample, error=error or "no reply", **fields)
        self.cache.put(
            h,
            summary(req),
            {
                "text": out.content,
                "usage": usage,
                "timing": {"latency_s": round(latency, 3)},
                "finish_reason": out.finish_reason,
                "started_at": started,
            },
        )
        return _record(spec, req, h, sample, **_scored(scored), **fields)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()


def judge_run(
    run: Run,
    catalogue: dict[str, Prompt],
    config: Config,
    lane: str,
    *,
    select: Callable[[Sample], bool] | None = None,
    fresh: bool = False,
    concurrency: int | None = None,
    on_done: Callable[[Sample, dict[str, Any]], None] | None = None,
) -> JudgeSummary:
    """Score every rendered sample of ``run`` (those ``select`` keeps) with the lane ``lane``."""
    spec = config.select([lane])[0]
    if (why := unready(spec)) is not None:
        raise UsageError(why, field="--judge")
    cache_dir = run.cache_dir
    if cache_dir is None:
        raise UsageError(f"run {run.id} is not in an outputs folder with a cache", field="--run")
    todo: list[tuple[Sample, Prompt]] = []
    summary_ = JudgeSummary(lane)
    for sample, prompt in samples_with_prompts(run, catalogue, select):
        if not judgeable(sample):
            summary_.not_rendered += 1
            continue
        todo.append((sample, prompt))
    judge = Judge(config, spec, ReplyCache(cache_dir), fresh=fresh)
    limit = concurrency or spec.concurrency or config.defaults.concurrency

    async def go() -> None:
        sem = asyncio.Semaphore(limit)

        async def one(sample: Sample, prompt: Prompt) -> None:
            async with sem:
                record, kept = await judge.judge(sample, prompt)
            if kept:
                summary_.skipped += 1
            else:
                write_bytes(sample.path / "judgement.json", dump_json(record))
                summary_.judged += 1
                summary_.replayed += bool(record.get("replayed"))
                summary_.cost_usd += ((record.get("cost") or {}).get("usd")) or 0.0
            if record.get("error"):
                summary_.errors[sample.key.label] = record["error"]
            if on_done:
                on_done(sample, record)

        try:
            await asyncio.gather(*(one(s, p) for s, p in todo))
        finally:
            await judge.aclose()

    if todo:
        run_sync(go())
    summary_.requests = judge.requests
    return summary_
