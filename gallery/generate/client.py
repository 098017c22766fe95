"""OpenAI-compatible calls: streaming, limits, retries, timing, usage, cost, replay cache.

One ``Generator`` serves a whole run. Each model gets its own ``AsyncOpenAI``
client (its base URL, key, timeout and the SDK's own retries, which back off
and honour ``retry-after``), and its own concurrency limit under a global one.
Every call is streamed so that time to first token is measured, and asks for
a usage chunk; a server that sends none gets an estimate, marked as such.

Replies are cached by request hash in ``outputs/cache/<h[:2]>/<h>.json``: the
hash covers everything that decides the answer (base URL, model, api,
messages or prompt, parameters, sample index), so a rerun replays instead of
paying again, and a fresh clone with a committed cache rebuilds the gallery
with no key and no network. Only complete answers are cached: not errors, not a
content-filter stop, not a stream that ended without a finish reason.

Nothing here ever writes a key or a header: keys live in the client only, and
error text is scrubbed of the key before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.catalogue.config import Config, ModelSpec
from gallery.generate.replies import Job, new_record, reference_record, replay_record
from gallery.records.fsutil import read_json, write_json
from gallery.records.store import utcnow

CACHE_VERSION = 1


@dataclass
class Outcome:
    """What one call produced; filled while streaming so a failure keeps the partial text."""

    content: str = ""
    reasoning: str = ""
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    ttft_s: float | None = None
    latency_s: float | None = None
    error: str | None = None
    #: What the model said instead of answering (the API's ``refusal``), if anything.
    refusal: str = ""
    chunks: list[str] = field(default_factory=list, repr=False)


# --- requests and the cache ------------------------------------------------------


def build_request(spec: ModelSpec, prompt_text: str, index: int, system_prompt: str) -> dict:
    """The canonical request: exactly what the hash covers and what is sent."""
    request: dict[str, Any] = {
        "base_url": spec.base_url.rstrip("/"),
        "model": spec.model,
        "api": spec.api,
        "params": spec.params,
        "sample": index,
    }
    if spec.api == "completions":
        # str.format would trip over other braces in a chat template.
        request["prompt"] = (spec.prompt_template or "{prompt}").replace("{prompt}", prompt_text)
    else:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        request["messages"] = [*messages, {"role": "user", "content": prompt_text}]
    return request


def request_hash(request: dict[str, Any]) -> str:
    """sha256 of the request's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ReplyCache:
    """``outputs/cache/``: successful replies by request hash."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, h: str) -> Path:
        return self.root / h[:2] / f"{h}.json"

    def get(self, h: str) -> dict[str, Any] | None:
        p = self.path(h)
        try:
            entry = read_json(p)
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) and entry.get("version") == CACHE_VERSION else None

    def put(self, h: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        keep = ("text", "reasoning", "usage", "timing", "finish_reason", "started_at")
        entry = {
            "version": CACHE_VERSION,
            "request_hash": h,
            "cached_at": utcnow(),
            "request": request,
            "reply": {k: reply.get(k) for k in keep},
        }
        write_json(self.path(h), entry)


# --- calling a model -----------------------------------------------------------------


def split_think(content: str) -> tuple[str, str]:
    """Move a leading ``<think>...</think>`` block (or a dangling ``...</think>``) apart."""
    m = re.match(r"\s*<(think|thinking)>(.*?)</\1>\s*", content, re.S | re.I)
    if m:
        return content[m.end() :], m.group(2).strip()
    m = re.match(r"\s*<think(?:ing)?>", content, re.I)
    if m:  # never closed: the whole reply was reasoning (cut off while thinking)
        return "", content[m.end() :].strip()
    m = re.search(r"</think(?:ing)?>", content, re.I)
    before = content[: m.start()] if m else ""
    if m and "```" not in before and not before.lstrip().startswith("<"):
        # the chat template opened <think> itself, so only the close is in the reply
        return content[m.end() :].lstrip(), content[: m.start()].strip()
    return content, ""


def estimate_tokens(text: str) -> int:
    """About four characters a token: only used when the server reports no usage."""
    return (len(text) + 3) // 4


def _extra(obj: Any, name: str) -> Any:
    """A field the SDK does not model (``reasoning_content``), read from the raw extras."""
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def _usage(raw: Any) -> dict[str, Any]:
    details = _extra(raw, "completion_tokens_details")
    if isinstance(details, dict):  # a provider the SDK does not model
        reasoning = details.get("reasoning_tokens")
    else:
        reasoning = details is not None and _extra(details, "reasoning_tokens")
    reasoning = reasoning or _extra(raw, "reasoning_tokens")
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    completion = int(getattr(raw, "completion_tokens", 0) or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "reasoning_tokens": int(reasoning or 0),
        "total_tokens": int(getattr(raw, "total_tokens", 0) or prompt + completion),
        "estimated": False,
    }


def _take(spec: ModelSpec, choice: Any, out: Outcome, t0: float) -> None:
    """Add one streamed choice to ``out``: answer text, reasoning, finish reason, ttft."""
    thought = None
    if spec.api == "completions":
        text = choice.text
    else:
        delta = choice.delta
        text = delta.content if delta is not None else None
        if delta is not None:
            thought = _extra(delta, "reasoning_content") or _extra(delta, "reasoning")
            refusal = _extra(delta, "refusal")
            if isinstance(refusal, str):
                out.refusal += refusal
    if (text or thought) and out.ttft_s is None:
        out.ttft_s = time.perf_counter() - t0
    if text:
        out.chunks.append(text)
    if isinstance(thought, str) and thought:
        out.reasoning += thought
    if choice.finish_reason:
        out.finish_reason = choice.finish_reason


async def stream_reply(
    client: Any,
    spec: ModelSpec,
    request: dict,
    out: Outcome,
    *,
    response_format: dict[str, Any] | None = None,
) -> None:
    """Stream one reply into ``out``; raises the SDK's error (partial text stays in ``out``).

    ``response_format`` is passed on as the API's own (a judge asking for JSON).
    """
    kwargs = dict(spec.params)
    if response_format is not None:
        kwargs["response_format"] = response_format
    extra_body = kwargs.pop("extra_body", None)
    common = {"stream": True, "stream_options": {"include_usage": True}, "extra_body": extra_body}
    t0 = time.perf_counter()
    try:
        if spec.api == "completions":
            stream = await client.completions.create(
                model=spec.model, prompt=request["prompt"], **common, **kwargs
            )
        else:
            stream = await client.chat.completions.create(
                model=spec.model, messages=request["messages"], **common, **kwargs
            )
        async with stream:
            async for chunk in stream:
                if getattr(chunk, "usage", None):
                    out.usage = _usage(chunk.usage)
                for choice in chunk.choices or ():
                    _take(spec, choice, out, t0)
    finally:
        out.content = "".join(out.chunks)
        out.latency_s = time.perf_counter() - t0


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """One line: type and message (with the low-level cause), never a key or a header."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    text = " ".join(text.split())
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text[:400]


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def answered_record(job: Job, request: dict, h: str, out: Outcome) -> dict[str, Any]:
    """A record from a live call: answer and reasoning apart, timing, usage, cost."""
    record = new_record(job, request, h)
    text, think = split_think(out.content)
    reasoning = "\n\n".join(r for r in (out.reasoning.strip(), think) if r)
    usage = out.usage
    if usage is None and (text or reasoning or not out.error):
        sent = request.get("prompt") or json.dumps(request.get("messages"), ensure_ascii=False)
        completion = estimate_tokens(out.content + out.reasoning)
        prompt = estimate_tokens(sent)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "reasoning_tokens": estimate_tokens(reasoning) if reasoning else 0,
            "total_tokens": prompt + completion,
            "estimated": True,
        }
    tokens_per_s = None
    if usage and out.latency_s is not None and out.ttft_s is not None:
        span = out.latency_s - out.ttft_s
        if span > 0.001 and usage["completion_tokens"]:
            tokens_per_s = round(usage["completion_tokens"] / span, 1)
    cost = job.spec.cost(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None
    record.update(
        status="failed" if out.error else "ok",
        error=out.error,
        text=text,
        reasoning=reasoning,
        usage=usage,
        finish_reason=out.finish_reason,
        timing={
            "ttft_s": _rounded(out.ttft_s),
            "latency_s": _rounded(out.latency_s),
            "tokens_per_s": tokens_per_s,
        },
        cost=None if cost is None else {"usd": cost.usd, "complete": cost.complete},
    )
    return record


def make_client(spec: ModelSpec, config: Config) -> Any:
    """An ``AsyncOpenAI`` for one lane: its base URL, key (or "none"), timeout, SDK retries."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        base_url=spec.base_url,
        # Never None: the SDK would fall back to OPENAI_API_KEY and send
        # it to whatever base URL this model names.
        api_key=spec.api_key() or "none",
        max_retries=config.defaults.max_retries,
        timeout=spec.timeout or config.defaults.timeout,
    )


class Generator:
    """Produces reply records for jobs: reference, replay or a live call, within limits."""

    def __init__(
        self,
        config: Config,
        cache: ReplyCache,
        *,
        system_prompt: str,
        concurrency: int,
        fresh: bool = False,
    ):
        self.config = config
        self.cache = cache
        self.system_prompt = system_prompt
        self.fresh = fresh
        self._global = asyncio.Semaphore(concurrency)
        self._per_model: dict[str, asyncio.Semaphore | None] = {}
        self._clients: dict[str, Any] = {}

    def request(self, job: Job) -> tuple[dict[str, Any], str]:
        req = build_request(job.spec, job.prompt.prompt, job.index, self.system_prompt)
        return req, request_hash(req)

    def cached(self, job: Job) -> dict[str, Any] | None:
        """The cache entry this job would replay (None with --fresh or on a miss)."""
        if self.fresh or job.spec.is_reference:
            return None
        return self.cache.get(self.request(job)[1])

    def client(self, spec: ModelSpec) -> Any:
        """One AsyncOpenAI per model: base URL, key (or "none"), timeout, SDK retries."""
        if spec.name not in self._clients:
            self._clients[spec.name] = make_client(spec, self.config)
            self._per_model[spec.name] = (
                asyncio.Semaphore(spec.concurrency) if spec.concurrency else None
            )
        return self._clients[spec.name]

    async def produce(self, job: Job) -> dict[str, Any]:
        """The reply record for ``job`` (before extraction). Never raises for a failed call."""
        if job.spec.is_reference:
            record = reference_record(job)
            if record is None:
                raise FileNotFoundError(f"no reference page for {job.prompt.id}")
            return record
        request, h = self.request(job)
        entry = self.cached(job)
        if entry is not None:
            return replay_record(job, request, h, entry)
        client = self.client(job.spec)
        out = Outcome()
        model_limit = self._per_model.get(job.spec.name)
        async with model_limit or contextlib.nullcontext(), self._global:
            started = utcnow()
            try:
                await stream_reply(client, job.spec, request, out)
            except Exception as exc:  # any failure is stored with the sample; the run goes on
                out.error = describe_error(exc, tuple(filter(None, [job.spec.api_key()])))
        if out.error is None and out.finish_reason == "content_filter":
            # The provider withheld (the rest of) the answer: not the model's reply.
            out.error = "ContentFilter: the provider's content filter stopped the reply"
        record = answered_record(job, request, h, out)
        record["started_at"] = started
        # Only complete answers are cached. A stream that ended without a finish
        # reason may have been cut off (a proxy closing it cleanly): keep the sample,
        # but ask again next time rather than replay a possibly partial reply.
        if record["status"] == "ok" and record["finish_reason"] is not None:
            self.cache.put(h, request, record)
        return record

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
