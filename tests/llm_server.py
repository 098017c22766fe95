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

import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
    seen: int = field(default=0, repr=False)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    authorization: str | None


class LLMServer:
    """Start with ``start()`` (or as a context manager); ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.default = Behaviour()
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


def _prompt_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(
            m.get("content", "") for m in body["messages"] if m.get("role") != "system"
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
