"""A local OpenAI-compatible server for tests: real HTTP, scripted behaviours.

Tests talk to it with the real ``openai`` client, so streaming, retries,
timeouts and usage chunks go through the same code paths as against a
provider. It never calls out; it only answers on 127.0.0.1.

Behaviour is chosen per request: the first rule whose marker occurs in the
request's prompt text (the user message or the completions prompt) wins,
else ``server.default``. The server counts requests, requests in flight (and
the maximum seen) and records each request's body and Authorization header,
so a test can assert what was sent and that the key never reached the disk.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

DEFAULT_REPLY = (
    "Here is the page.\n\n```html\n<!DOCTYPE html>\n<html><head><title>Demo</title></head>\n"
    "<body><canvas id=c></canvas><script>document.getElementById('c').getContext('2d')"
    ".fillRect(0, 0, 10, 10);</script></body></html>\n```\n"
)


@dataclass
class Behaviour:
    """How to answer one request.

    ``status`` != 200 answers with that error; ``fail_first`` limits it to the
    first N matching requests (then a normal reply). ``delay`` is slept before
    the headers (longer than the client timeout = a timeout); ``chunk_delay``
    between stream chunks. ``cut`` drops the connection mid-stream; ``reset``
    drops it (TCP RST) before any answer. ``error_body`` replaces the JSON body of
    an error answer; ``echo_headers`` puts the request's headers into it and its
    message (a server that echoes what it got). ``sse`` replaces the whole stream by these raw event
    payloads (each sent as ``data: ...``; malformed ones included), then ``[DONE]``.
    """

    text: str = DEFAULT_REPLY
    usage: bool = True
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    status: int = 200
    fail_first: int | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunks: int = 4
    cut: bool = False
    finish_reason: str | None = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    reset: bool = False
    error_body: dict[str, Any] | None = None
    echo_headers: bool = False
    sse: list[str] | None = None
    #: Answer as a vision judge: score the request's rubric from the images it carries.
    judge: bool = False
    #: ... and when judging, say this instead of answering (the API's ``refusal``).
    refusal: str | None = None
    seen: int = field(default=0, repr=False)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    authorization: str | None


_RUBRIC_LINE = re.compile(r"^(\d+)\. \[(\d+) points?\] (.+)$", re.M)


class BadImage(ValueError):
    pass


def images_of(body: dict[str, Any]) -> list[Image.Image]:
    """Every ``image_url`` part of the last user message, decoded (``BadImage`` if one is not)."""
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    parts = user[0].get("content") if user else None
    out = []
    for part in parts if isinstance(parts, list) else []:
        if part.get("type") != "image_url":
            continue
        url = (part.get("image_url") or {}).get("url", "")
        head, _, data = url.partition(",")
        if not head.startswith("data:image/") or ";base64" not in head:
            raise BadImage(f"not a base64 data URL: {url[:40]!r}")
        try:
            img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
            img.load()
        except Exception as exc:
            raise BadImage(f"undecodable image: {exc}") from None
        out.append(img)
    return out


def flat(img: Image.Image) -> bool:
    """One colour, give or take compression noise: a blank frame."""
    return all(hi - lo <= 8 for lo, hi in img.convert("RGB").getextrema())


def judge_text(body: dict[str, Any]) -> tuple[str, int, int]:
    """A judge's JSON reply scored from the images: each item gets its points times the
    share of frames that are not flat (a blank page gets 0). Also (images, rubric items)."""
    text = _text_of(body["messages"][0].get("content"))
    rubric = [(int(n), int(p)) for n, p, _ in _RUBRIC_LINE.findall(text)]
    images = images_of(body)
    share = sum(not flat(i) for i in images) / len(images) if images else 0.0
    items = [
        {"item": n, "score": round(p * share, 2), "reason": f"{share:.0%} of frames show content"}
        for n, p in rubric
    ]
    return json.dumps({"items": items}), len(images), len(rubric)


class LLMServer:
    """Start with ``start()`` (or as a context manager); ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.default = Behaviour()
        #: per judge request answered: (images decoded, rubric items read)
        self.judged: list[tuple[int, int]] = []
        self.rules: list[tuple[str, Behaviour]] = []
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------

    def on(self, marker: str, **behaviour: Any) -> Behaviour:
        """Answer requests whose prompt contains ``marker`` this way."""
        b = Behaviour(**behaviour)
        self.rules.append((marker, b))
        return b

    @property
    def requests(self) -> int:
        return len(self.received)

    @property
    def authorizations(self) -> list[str | None]:
        return [r.authorization for r in self.received]

    def reset_counts(self) -> None:
        with self._lock:
            self.received.clear()
            self.max_in_flight = self.in_flight

    # --- lifecycle -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LLMServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler -----------------------------------------------------

    def _choose(self, prompt_text: str) -> tuple[Behaviour, bool]:
        """The behaviour for a request, and whether this request should fail."""
        with self._lock:
            behaviour = next((b for m, b in self.rules if m in prompt_text), self.default)
            behaviour.seen += 1
            fail = behaviour.status != 200 and (
                behaviour.fail_first is None or behaviour.seen <= behaviour.fail_first
            )
            return behaviour, fail

    def _enter(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping a kept-alive connection is normal here, not a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts (images left out)."""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content or ""


def _prompt_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(
            _text_of(m.get("content")) for m in body["messages"] if m.get("role") != "system"
        )
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, n)))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: LLMServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        kind = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}.get(self.path)
        received = Received(self.path, body, self.headers.get("authorization"))
        self.owner._enter(received)
        self._left = False
        try:
            if kind is None:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "nf"}})
                return
            behaviour, fail = self.owner._choose(_prompt_text(body))
            if behaviour.judge and not fail:
                try:
                    text, images, items = judge_text(body)
                except BadImage as exc:
                    self._json(400, {"error": {"message": str(exc), "type": "bad_image"}})
                    return
                with self.owner._lock:
                    self.owner.judged.append((images, items))
                behaviour = replace(behaviour, text="" if behaviour.refusal else text)
            if behaviour.delay:
                time.sleep(behaviour.delay)
            if behaviour.reset:
                self._reset()
            elif fail:
                headers = {}
                if behaviour.retry_after is not None:
                    headers["retry-after"] = behaviour.retry_after
                if behaviour.retry_after_ms is not None:
                    headers["retry-after-ms"] = behaviour.retry_after_ms
                err = {"message": f"scripted error {behaviour.status}", "type": "scripted"}
                payload = behaviour.error_body or {"error": err}
                if behaviour.echo_headers:
                    # as a careless server does: the request's headers in the error message
                    echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
                    inner = payload.get("error")
                    if isinstance(inner, dict):
                        inner = {**inner, "message": f"{inner.get('message')} ({echoed})"}
                        payload = {**payload, "error": inner}
                    payload = {**payload, "received_headers": dict(self.headers.items())}
                self._json(behaviour.status, payload, headers)
            elif body.get("stream") and behaviour.sse is not None:
                self._raw_stream(behaviour.sse)
            elif body.get("stream"):
                self._stream(kind, body, behaviour)
            else:
                self._json(200, self._whole(kind, body, behaviour))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._leave()

    def _leave(self) -> None:
        """Count the request done *before* its last bytes go out: the client cannot
        start its next request before then, so ``max_in_flight`` never overcounts."""
        if not self._left:
            self._left = True
            self.owner._leave()

    # --- replies -----------------------------------------------------------------

    def _usage(self, body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
        prompt = b.prompt_tokens
        if prompt is None:
            prompt = max(1, len(json.dumps(body.get("messages") or body.get("prompt"))) // 4)
        reasoning = b.reasoning_tokens
        if reasoning is None:
            reasoning = len(b.reasoning or "") // 4
        completion = b.completion_tokens
        if completion is None:
            completion = max(1, len(b.text) // 4) + reasoning
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def _whole(self, kind: str, body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
        base = {"id": "cmpl-test", "created": int(time.time()), "model": body.get("model")}
        if kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": b.text}
            if b.reasoning:
                message[b.reasoning_field] = b.reasoning
            choice = {"index": 0, "message": message, "finish_reason": b.finish_reason}
            out = {**base, "object": "chat.completion", "choices": [choice]}
        else:
            choice = {"index": 0, "text": b.text, "finish_reason": b.finish_reason}
            out = {**base, "object": "text_completion", "choices": [choice]}
        if b.usage:
            out["usage"] = self._usage(body, b)
        return out

    def _stream(self, kind: str, body: dict[str, Any], b: Behaviour) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        base = {"id": "cmpl-test", "created": int(time.time()), "model": body.get("model")}
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

        def choice(text: str | None = None, reasoning: str | None = None, finish=None):
            if kind == "completions":
                return {"index": 0, "text": text or "", "finish_reason": finish}
            delta: dict[str, Any] = {}
            if text is not None:
                delta["content"] = text
            if reasoning is not None:
                delta[b.reasoning_field] = reasoning
            return {"index": 0, "delta": delta, "finish_reason": finish}

        if kind == "chat" and b.judge and b.refusal:
            self._chunk(
                f"data: {json.dumps({**base, 'object': obj, 'choices': [{'index': 0, 'delta': {'refusal': b.refusal}, 'finish_reason': None}]})}\n\n"
            )

        events: list[dict[str, Any]] = []
        if kind == "chat":
            events.append({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        for part in _split(b.reasoning or "", b.chunks):
            events.append({"choices": [choice(reasoning=part)]})
        for part in _split(b.text, b.chunks):
            events.append({"choices": [choice(text=part)]})
        events.append({"choices": [choice(finish=b.finish_reason)]})
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if b.usage and wants_usage:
            events.append({"choices": [], "usage": self._usage(body, b)})
        cut_at = len(events) // 2 if b.cut else None
        for i, event in enumerate(events):
            if i == cut_at:
                # Drop the connection mid-body: no terminating chunk, no [DONE].
                self._leave()
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self._chunk(f"data: {json.dumps({**base, 'object': obj, **event})}\n\n")
            if b.chunk_delay:
                time.sleep(b.chunk_delay)
        self._leave()
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, answering nothing."""
        self._leave()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _raw_stream(self, payloads: list[str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for payload in payloads:
            self._chunk(f"data: {payload}\n\n")
        self._leave()
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self._leave()
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
