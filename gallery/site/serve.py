"""``gallery serve``: the built site over HTTP, and the arena's small API beside it.

Static files are served with no caching (a rebuild shows at once), and every
file of a model-written page with the sandbox CSP its iframe has, so the page
gets an opaque origin even when opened on its own. With an ``Arena`` the server
also answers:

- ``GET /api/pair`` (``?refs=1`` to let the hand-written references in): the
  next pair to vote on, as JSON;
- ``POST /api/votes``: one vote (``records/votes.py``), stored in the outputs
  folder's ``votes.jsonl``; a body that is too large, not a vote, or names what
  the run does not have is refused with 400/413 and a one-line reason, and
  nothing is written.

It listens on 127.0.0.1 unless told otherwise; it has no accounts, so anyone who
can reach it can vote.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gallery.arena.service import Arena
from gallery.records.votes import MAX_VOTE_BYTES, VoteError

#: What ``gallery serve`` sends with every file of a sample's page: the same sandbox
#: as the live preview's iframe. (Static hosts should send it for ``*/artifact/*``.)
ARTIFACT_CSP = "sandbox allow-scripts"
_ARTIFACT_PATH = re.compile(r"^/s/[^/]+/[^/]+/[^/]+/artifact/")


class _Handler(SimpleHTTPRequestHandler):
    """Static files with no caching and no per-request log; the arena's API."""

    arena: Arena | None = None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        if _ARTIFACT_PATH.match(self.path):
            # A model-written page gets an opaque origin even when opened on its own
            # ("open frame in new tab"), as it does in its sandboxed iframe: without
            # this it would run as this site, with its cookies and storage (and every
            # cookie of the host: cookies do not keep ports apart).
            self.send_header("Content-Security-Policy", ARTIFACT_CSP)
        super().end_headers()

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        if url.path == "/api/pair" and self.arena is not None:
            refs = parse_qs(url.query).get("refs") == ["1"]
            pair = self.arena.pair(with_references=refs)
            if pair is None:
                why = "fewer than two lanes have a page for one prompt"
                if not refs:
                    why += " (the hand-written references take part when asked: ?refs=1)"
                self._json(404, {"error": f"no pair: {why}"})
            else:
                self._json(200, pair)
            return
        super().do_GET()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if urlsplit(self.path).path != "/api/votes" or self.arena is None:
            self.close_connection = True
            self._json(405 if self.arena is not None else 404, {"error": "not here"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_VOTE_BYTES:
            # Not read: the connection is closed instead of draining a large body.
            self.close_connection = True
            what = "a Content-Length" if length < 0 else f"at most {MAX_VOTE_BYTES} bytes"
            self._json(413 if length > 0 else 411, {"error": f"a vote needs {what}"})
            return
        body = self.rfile.read(length)
        try:
            stored = self.arena.vote(body)
        except VoteError as exc:
            self._json(400, {"error": exc.message})
            return
        self._json(200, {"ok": True, "id": stored.id, "run": stored.run})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: A team voting at once (and a test's 50 concurrent votes) must not find the
    #: listen queue full: the default of 5 resets connections.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that navigates away mid-download is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(
    site: Path, port: int = 0, host: str = "127.0.0.1", *, arena: Arena | None = None
) -> ThreadingHTTPServer:
    """An HTTP server for a built site (``port`` 0: any free port); call ``serve_forever``."""
    handler = type("Handler", (_Handler,), {"arena": arena})
    return _Server((host, port), functools.partial(handler, directory=str(site)))
