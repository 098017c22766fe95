"""Faulty APIs: every way a provider fails, in one run against the local server.

One generate run asks a prompt per fault (the marker in the prompt picks the
server's behaviour, see ``tests/llm_server.py``) together with a prompt that
works. The run must complete; each sample's status and error must say what
happened; retries must stop where the config says (the server counts requests);
and only complete answers may land in the reply cache: a second run replays
those and asks again for everything that failed.

Policy (what "right" means here):

- retried by the client, up to ``max_retries``: 429 (honouring a ``retry-after``
  of up to two minutes; a longer one fails at once), 5xx, connection resets,
  timeouts;
- not retried: 400-type refusals, malformed or failing streams;
- ``failed`` and never cached: every error above, a stream cut off mid-reply,
  and a content-filter stop (``finish_reason = "content_filter"``: the provider
  withheld the answer; a later run asks again);
- kept but not cached: a stream that ends without a finish reason (it may have
  been cut off);
- cached: complete answers, including ``finish_reason = "length"`` (the same
  request would be cut at the same ``max_tokens`` again and be billed again;
  changing ``max_tokens`` changes the request hash) and an empty answer (no page,
  ``no-artifact``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gallery.catalogue.config import load_config
from gallery.catalogue.prompts import load_catalogue
from gallery.generate.client import ReplyCache
from gallery.generate.stage import generate_run
from gallery.records.store import Store

KEY_ENV = "GALLERY_FAULTS_KEY"
RETRIES = 2
PAGE = "```html\n<!DOCTYPE html><html><body><canvas></canvas><script>1</script></body></html>\n```"
DASHSCOPE_REFUSAL = {
    "error": {
        "code": "data_inspection_failed",
        "param": None,
        "message": "Input data may contain inappropriate content.",
        "type": "data_inspection_failed",
    },
    "id": "chatcmpl-0",
    "request_id": "0",
}
OPENAI_REFUSAL = {
    "error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }
}
STREAM_ERROR = json.dumps(
    {"error": {"message": "Output data may contain inappropriate content.",
               "type": "data_inspection_failed", "code": "data_inspection_failed"}}
)  # fmt: skip


def chunk(text: str | None = None, finish: str | None = None) -> str:
    delta = {} if text is None else {"content": text}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0,
                       "model": "m", "choices": [choice]})  # fmt: skip


#: marker -> (server behaviour, expected status, error prefix or None, requests, cached)
FAULTS = {
    "rate-limited": (
        {"status": 429, "retry_after": "0"}, "failed", "RateLimitError: Error code: 429",
        RETRIES + 1, False),
    "rate-then-ok": (
        {"status": 429, "retry_after": "1", "fail_first": 1}, "ok", None, 2, True),
    "rate-come-back-later": (
        # retry-after of an hour: fail now (the sample is retried on resume), not sleep
        {"status": 429, "retry_after": "3600"}, "failed", "RateLimitError: Error code: 429",
        1, False),
    "server-error": (
        {"status": 500}, "failed", "InternalServerError: Error code: 500", RETRIES + 1, False),
    "overloaded": (
        {"status": 503, "fail_first": 2}, "ok", None, 3, True),
    "reset": (
        {"reset": True}, "failed", "APIConnectionError", RETRIES + 1, False),
    "timeout": (
        {"delay": 2.5}, "failed", "APITimeoutError", RETRIES + 1, False),
    "garbled-sse": (
        {"sse": ["{this is not json"]}, "failed", "JSONDecodeError", 1, False),
    "garbled-later": (
        {"sse": [chunk("```html\n<!DOCTYPE html><html><body>"), "{broken"]}, "failed",
        "JSONDecodeError", 1, False),
    "cut": (
        {"cut": True, "chunks": 6}, "failed", "APIConnectionError", 1, False),
    "no-finish": (
        # a stream that ends without any finish_reason may have been cut off: the page is
        # kept, but not cached (some servers never send one; they just lose the cache)
        {"sse": [chunk(PAGE)]}, "ok", None, 1, False),
    "empty": (
        {"text": ""}, "no-artifact", None, 1, True),
    "length": (
        {"text": "```html\n<!DOCTYPE html><html><body><canvas></canvas><script>let a = [",
         "finish_reason": "length"}, None, None, 1, True),
    "content-filter": (
        {"text": "```html\n<!DOCTYPE html><html><body>", "finish_reason": "content_filter"},
        "failed", "ContentFilter", 1, False),
    "dashscope-refusal": (
        {"status": 400, "error_body": DASHSCOPE_REFUSAL}, "failed",
        "BadRequestError: Error code: 400", 1, False),
    "openai-refusal": (
        {"status": 400, "error_body": OPENAI_REFUSAL}, "failed",
        "BadRequestError: Error code: 400", 1, False),
    "stream-error": (
        {"sse": [chunk("```html\n<!DOCTYPE html>"), STREAM_ERROR]}, "failed", "APIError", 1,
        False),
    "fine": (
        {"text": PAGE}, "ok", None, 1, True),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-faults-0123456789")


@pytest.fixture
def setup(tmp_path: Path, llm_server):
    (tmp_path / "gallery.toml").write_text(
        f"""
[defaults]
models = ["local"]
max_retries = {RETRIES}
timeout = 1.0
concurrency = 8

[models.local]
base_url = "{llm_server.base_url}"
model = "m"
api_key_env = "{KEY_ENV}"
params = {{ max_tokens = 100 }}
"""
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for marker, (behaviour, *_rest) in FAULTS.items():
        (prompts / f"{marker}.toml").write_text(
            f'id = "{marker}"\ntitle = "{marker}"\nprompt = "Draw [{marker}]."\n'
        )
        llm_server.on(f"[{marker}]", **behaviour)
    config = load_config(tmp_path / "gallery.toml")
    catalogue = load_catalogue(prompts)
    store = Store(tmp_path / "out")
    return config, catalogue, store


def asked_right(got: int, want: int) -> bool:
    """Exactly once (or never) where no retry may happen; where the client retries, at
    least once more and never past the limit. (Under load, now and then one attempt never
    reaches the test server's handler and times out instead: the client counts it as a
    try, the server never sees it.)"""
    return got == want if want <= 1 else 2 <= got <= want


def requests_for(server, marker: str) -> int:
    return sum(f"[{marker}]" in json.dumps(r.body) for r in server.received)


def reply(run, marker: str) -> dict:
    return json.loads((run.path / marker / "local" / "1" / "reply.json").read_text())


def test_every_fault_gets_the_right_status_bounded_retries_and_no_cache(setup, llm_server) -> None:
    config, catalogue, store = setup
    first = generate_run(config, catalogue, store)
    run = first.run
    assert first.manifest["status"] == "generated"
    totals = first.manifest["totals"]
    assert totals["samples"] == len(FAULTS)
    cache = ReplyCache(store.cache_dir)
    problems = []
    for marker, (_b, status, error, requests, cached) in FAULTS.items():
        r = reply(run, marker)
        got_status = r["status"]
        if status is not None and got_status != status:
            problems.append(f"{marker}: status {got_status} (want {status}), error {r['error']}")
        if error is None and r["error"] is not None:
            problems.append(f"{marker}: unexpected error {r['error']}")
        if error is not None and not (r["error"] or "").startswith(error):
            problems.append(f"{marker}: error {r['error']!r} (want {error}...)")
        if r["error"] is not None and ("\n" in r["error"] or len(r["error"]) > 400):
            problems.append(f"{marker}: error is not one short line")
        if not asked_right(requests_for(llm_server, marker), requests):
            problems.append(
                f"{marker}: {requests_for(llm_server, marker)} requests, want {requests}"
            )
        if (cache.get(r["request_hash"]) is not None) != cached:
            problems.append(f"{marker}: cached={not cached}, want {cached}")
    assert problems == [], "\n".join(problems)
    assert totals["failed"] == sum(1 for f in FAULTS.values() if f[1] == "failed")

    # what each failure keeps and says
    assert reply(run, "garbled-later")["text"].startswith("```html")
    assert reply(run, "garbled-later")["truncated"] is True
    assert (
        "Input data may contain inappropriate content" in reply(run, "dashscope-refusal")["error"]
    )
    assert "rejected as a result of our safety system" in reply(run, "openai-refusal")["error"]
    assert "Output data may contain inappropriate content" in reply(run, "stream-error")["error"]
    assert reply(run, "content-filter")["finish_reason"] == "content_filter"
    length = reply(run, "length")
    assert length["truncated"] is True and length["finish_reason"] == "length"
    empty = reply(run, "empty")
    assert empty["extract"]["status"] != "ok" and empty["extract"]["reason"]
    for marker in ("reset", "timeout", "server-error", "dashscope-refusal"):
        r = reply(run, marker)
        assert r["usage"] is None and r["cost"] is None and r["extract"] is None, marker
        assert not (run.path / marker / "local" / "1" / "artifact").exists(), marker

    # a rerun of the same run asks again for the failed samples only
    llm_server.reset_counts()
    again = generate_run(config, catalogue, store, run=run.id)
    assert again.run.id == run.id and again.manifest["status"] == "generated"
    for marker, (_b, status, _e, requests, _c) in FAULTS.items():
        want = requests if status == "failed" else 0
        assert asked_right(requests_for(llm_server, marker), want), marker
    assert reply(again.run, "rate-then-ok")["replayed"] is False  # kept, not redone

    # a new run replays what was cached and asks for the rest
    llm_server.reset_counts()
    fresh = generate_run(config, catalogue, store)
    assert fresh.run.id != run.id
    for marker, (_b, _s, _e, requests, cached) in FAULTS.items():
        assert asked_right(requests_for(llm_server, marker), 0 if cached else requests), marker
        if cached:
            assert reply(fresh.run, marker)["replayed"] is True, marker
    assert reply(fresh.run, "length")["truncated"] is True


def test_a_server_that_never_answers_does_not_hang_the_run(setup, llm_server) -> None:
    """Every sample of a dead endpoint fails within timeout x attempts; the run ends."""
    config, catalogue, store = setup
    llm_server.rules.clear()
    llm_server.default.reset = True
    result = generate_run(config, catalogue, store, prompts=["fine"], samples=3)
    assert result.manifest["status"] == "generated"
    assert result.manifest["totals"]["failed"] == 3
    assert llm_server.requests == 3 * (RETRIES + 1)
    assert not list(store.cache_dir.rglob("*.json"))
