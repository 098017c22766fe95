"""``reply.json``: one record per sample, the same shape whatever produced it.

A live call, a replay from the cache, the hand-written reference and (in
``generate/imported.py``) an imported page all become this record, so render,
site and compare read one shape. Every key is always present::

    status         "ok" | "no-artifact" | "failed"
    prompt, model  prompt id and config model name (the lane)
    model_id, base_url, api   what was called ("reference" api for the reference lane)
    sample         1-based index
    text           the answer (reasoning removed); for a failed call, what arrived
    reasoning      reasoning_content deltas and a leading <think> block
    usage          {prompt_tokens, completion_tokens, reasoning_tokens, total_tokens,
                    estimated} or null (failed before any output, reference)
    timing         {ttft_s, latency_s, tokens_per_s} as measured when generated
    finish_reason, truncated
    cost           {usd, complete} spent by this sample (0 for replays and references),
                   null when the model has no pricing
    original       for a replay: {started_at, cost} of the first generation; else null
    request_hash, params, replayed, error (one line, never a key), started_at
    extract        {status, reason, notes, files, sources} or null (failed call)
    reference      true for the reference lane
    source         file name of a reference or imported page, else null
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gallery.catalogue.config import ModelSpec
from gallery.catalogue.prompts import Prompt
from gallery.generate.extract import Artifact, extract
from gallery.records.store import SampleKey, utcnow


@dataclass(frozen=True)
class Job:
    """One sample to produce: a prompt, a model (lane) and a 1-based sample index."""

    prompt: Prompt
    spec: ModelSpec
    index: int

    @property
    def key(self) -> SampleKey:
        return SampleKey(self.prompt.id, self.spec.name, self.index)


def _record(prompt: str, model: str, index: int, **fields: Any) -> dict[str, Any]:
    """Every key of reply.json (shape: the module docstring), ``fields`` set over the defaults."""
    record: dict[str, Any] = {
        "status": "ok",
        "prompt": prompt,
        "model": model,
        "model_id": None,
        "base_url": None,
        "api": "chat",
        "sample": index,
        "text": "",
        "reasoning": "",
        "usage": None,
        "timing": None,
        "finish_reason": None,
        "truncated": False,
        "cost": None,
        "request_hash": None,
        "params": {},
        "replayed": False,
        "original": None,
        "error": None,
        "extract": None,
        "started_at": utcnow(),
        "reference": False,
        "source": None,
    }
    record.update(fields)
    return record


def new_record(job: Job, request: dict[str, Any] | None, h: str | None) -> dict[str, Any]:
    """A reply.json skeleton for a call (or the reference) with every key present."""
    spec = job.spec
    return _record(
        job.prompt.id,
        spec.name,
        job.index,
        model_id=spec.model or None,
        base_url=spec.base_url or None,
        api=spec.api if not spec.is_reference else "reference",
        request_hash=h,
        params=dict(spec.params) if request is not None else {},
        reference=spec.is_reference,
    )


def reference_record(job: Job) -> dict[str, Any] | None:
    """The reference lane: ``prompts/<id>.reference.html`` as a bare HTML reply, free."""
    ref = job.prompt.reference_path
    if ref is None:
        return None
    record = new_record(job, None, None)
    record.update(
        text=ref.read_text(encoding="utf-8"),
        finish_reason="stop",
        cost={"usd": 0.0, "complete": True},
        source=ref.name,
    )
    return record


def replay_record(job: Job, request: dict, h: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A cached reply: same text, usage and measured timing; costs nothing this time.

    ``original`` keeps when it was first generated and what it cost (priced
    with the current pricing), so the gallery can still show a price.
    """
    cached = entry["reply"]
    record = new_record(job, request, h)
    for k in ("text", "reasoning", "usage", "timing", "finish_reason"):
        record[k] = cached.get(k)
    usage = cached.get("usage") or {}
    cost = job.spec.cost(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
    record.update(
        replayed=True,
        cost={"usd": 0.0, "complete": True},
        original={
            "started_at": cached.get("started_at"),
            "cost": None if cost is None else {"usd": cost.usd, "complete": cost.complete},
        },
    )
    return record


def finish_record(record: dict[str, Any], *, open_fence: str = "") -> Artifact | None:
    """Extract the page from an answered record and set status/truncated/extract.

    ``open_fence`` is the code fence the request's prompt left open (a completion
    template for a base model, ``ModelSpec.open_fence``): the reply continues
    inside it, so it is read as that block, closed where the model stopped.
    ``text`` stays exactly what the model wrote.

    Returns the artifact to write beside ``reply.json`` (None for a failed call).
    """
    if record["status"] == "failed":
        record["truncated"] = bool(record["text"])
        return None
    text = record["text"] or ""
    if open_fence:
        mark = open_fence[: len(open_fence) - len(open_fence.lstrip("`~"))]
        closed = record["finish_reason"] != "length"
        text = f"{open_fence}\n{text}" + (f"\n{mark}\n" if closed else "")
    art = extract(text, finish_reason=record["finish_reason"])
    record["status"] = "ok" if art.status == "ok" else "no-artifact"
    record["truncated"] = bool(art.truncated or record["finish_reason"] == "length")
    record["extract"] = {
        "status": art.status,
        "reason": art.reason,
        "notes": list(art.notes),
        "files": sorted(art.files),
        "sources": sorted(art.sources),
    }
    return art


def imported_record(key: SampleKey, text: str, source: str) -> dict[str, Any]:
    """A page made elsewhere (``gallery import``): every key of a reply, nothing billed."""
    return _record(
        key.prompt,
        key.model,
        key.index,
        api="import",
        text=text,
        extract={
            "status": "ok",
            "reason": None,
            "notes": [f"imported from {source}"],
            "files": ["index.html"],
            "sources": [],
        },
        imported=True,
        source=source,
    )
