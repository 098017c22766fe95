"""Hostile pages (tests/fixtures/hostile) rendered in one run together with normal pages.

Every hostile page says at its top what it attacks. They all go through the real
render stage (``verdicts.render_run``: one Chromium, several pages at once, small
budgets) mixed with three well-behaved pages from the labelled corpus, and:

- every page gets a verdict, within its budget plus the time to close it;
- the normal pages get the same verdicts as when they are rendered alone;
- the run finishes;
- a canary on 127.0.0.1 (HTTP, any TCP connection, UDP) that the hostile pages
  aim at (``__CANARY__`` in a page becomes its port) sees nothing at all; it is
  also the npm registry of the run, so a library name a page computes and gallery
  looked up would reach it;
- logging stand-ins for the programs Chromium opens links with (``xdg-email``,
  ``xdg-open``...), first on ``PATH``, are never started.

Real outside names (example.com) are refused the same way; the canary is what
makes "nothing left the sandbox" measurable.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gallery.catalogue.prompts import parse_prompt
from gallery.records.store import SampleKey, Store
from gallery.render.stage import render_run

HOSTILE_DIR = Path(__file__).parent / "fixtures" / "hostile"
PAGES_DIR = Path(__file__).parent / "fixtures" / "pages"
HOSTILE = sorted(p.stem for p in HOSTILE_DIR.glob("*.html"))
NORMAL = ("canvas-bounce", "css-keyframes", "static-landing")
CHECKS = ("runs", "animates", "clean-console", "offline")
#: Real seconds per page. Pages that hang or flood on purpose use all of theirs, twice (the
#: hang is confirmed in a browser of its own), so it is small. The budget is a cap, not a
#: cost: the other hostile pages (which finish in a few seconds on an idle machine) and the
#: normal ones get room to finish on a loaded one, so what they record does not depend on
#: how busy their neighbours keep the machine.
BUDGET = 4.0
PROBE_BUDGET = 20.0
NORMAL_BUDGET = 40.0
HANGS = {
    "loop-at-load", "loop-in-raf", "document-write-loop", "memory-bomb", "huge-dom",
    "error-flood", "request-flood", "reload-loop", "microtask-loop", "postmessage-flood",
    "sync-block", "nested-iframes", "webgl-memory-bomb", "worker-fork-bomb", "huge-title",
    "clock-sabotage",
}  # fmt: skip
#: Programs a desktop opens links with; stand-ins that log their calls go first on PATH.
OPENERS = ("xdg-open", "xdg-email", "xdg-settings", "xdg-mime", "gio", "kde-open", "exo-open")
#: A page's total: its budget, then closing its context (up to 10 s when the page hangs)
#: and, if even that hangs, launching a new browser.
CLOSE_MARGIN = 20.0
CONCURRENCY = 4


class Canary:
    """Counts every TCP connection, HTTP request line and UDP datagram on one port."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self._lock = threading.Lock()
        for _ in range(50):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind(("127.0.0.1", 0))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(("127.0.0.1", tcp.getsockname()[1]))
            except OSError:
                tcp.close()
                udp.close()
                continue
            break
        else:  # pragma: no cover - 50 ports in a row taken for UDP
            raise RuntimeError("no port free for both TCP and UDP")
        self.tcp, self.udp = tcp, udp
        self.port = tcp.getsockname()[1]
        tcp.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._datagrams, daemon=True).start()

    def _hit(self, what: str) -> None:
        with self._lock:
            self.hits.append(what)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            self._hit("tcp connection")
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            data = conn.recv(65536)
            if data:
                self._hit("request " + data.split(b"\r\n", 1)[0][:200].decode("latin-1"))
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nleaked")
        except OSError:
            pass
        finally:
            conn.close()

    def _datagrams(self) -> None:
        while True:
            try:
                data, _ = self.udp.recvfrom(65536)
            except OSError:
                return
            self._hit(f"udp datagram of {len(data)} bytes")

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


def make_prompt(pid: str, budget: float):
    data = {
        "id": pid,
        "title": pid,
        "prompt": "hostile",
        "render": {"budget": budget, "screenshots": [0.5, 1.5, 3.0], "preview_frames": 6},
        "checks": [{"kind": k} for k in CHECKS],
    }
    return parse_prompt(data, Path(f"{pid}.toml"))


def page_html(name: str, port: int) -> str:
    if name in NORMAL:
        return (PAGES_DIR / f"{name}.html").read_text()
    return (HOSTILE_DIR / f"{name}.html").read_text().replace("__CANARY__", str(port))


def render_pages(root: Path, names: list[str], port: int) -> dict[str, Any]:
    """One run, one prompt per page (ids in ``names`` order, so samples render in that
    order); returns {name: {"obs", "verdict", "budget", "size"}} and the run's wall time."""
    store = Store(root / "outputs")
    run = store.new_run("hostile")
    run.save_manifest({"id": run.id, "started_at": "2025-01-01T00:00:00+00:00"})
    catalogue, ids = {}, {}
    for i, name in enumerate(names):
        pid = f"p{i:02d}-{name}"
        budget = NORMAL_BUDGET if name in NORMAL else BUDGET if name in HANGS else PROBE_BUDGET
        catalogue[pid] = make_prompt(pid, budget)
        ids[pid] = name
        reply = {"status": "ok", "prompt": pid, "model": "page", "sample": 1, "text": ""}
        run.write_sample(
            SampleKey(pid, "page", 1),
            {"reply.json": json.dumps(reply), "artifact/index.html": page_html(name, port)},
        )
    t0 = time.monotonic()
    summary = render_run(run, catalogue, concurrency=CONCURRENCY)
    wall = time.monotonic() - t0
    out: dict[str, Any] = {}
    for sample in run.samples():
        pid = sample.key.prompt
        obs_path = sample.path / "observation.json"
        out[ids[pid]] = {
            "obs": sample.observation,
            "verdict": sample.verdict,
            "budget": catalogue[pid].render.budget,
            "size": obs_path.stat().st_size if obs_path.is_file() else None,
            "files": sorted(p.name for p in sample.path.iterdir()),
        }
    return {"pages": out, "wall": wall, "summary": summary, "run": run}


def interleaved() -> list[str]:
    """Hostile pages with the normal ones spread among them (not all at one end)."""
    names = list(HOSTILE)
    step = max(1, len(names) // (len(NORMAL) + 1))
    for k, normal in enumerate(NORMAL):
        names.insert((k + 1) * step + k, normal)
    return names


@pytest.fixture(scope="module")
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture(scope="module")
def openers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of stand-ins for the link openers, each logging its call; the log path."""
    folder = tmp_path_factory.mktemp("openers")
    log = folder / "started.log"
    for name in OPENERS:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        stub.chmod(0o755)
    return log


@pytest.fixture(scope="module")
def mixed(
    tmp_path_factory: pytest.TempPathFactory, canary: Canary, openers: Path
) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GALLERY_NPM_REGISTRY", f"http://127.0.0.1:{canary.port}")
        mp.setenv("GALLERY_LIBS_CACHE", str(tmp_path_factory.mktemp("npm")))
        mp.setenv("PATH", f"{openers.parent}:{os.environ['PATH']}")
        result = render_pages(tmp_path_factory.mktemp("hostile"), interleaved(), canary.port)
    time.sleep(1.0)  # a beacon sent while a context closes would arrive about now
    return result


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> dict[str, Any]:
    return render_pages(tmp_path_factory.mktemp("normal"), list(NORMAL), canary.port)["pages"]


def passed(entry: dict[str, Any]) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in entry["verdict"]["checks"]}


def test_corpus_is_big_enough_and_documented() -> None:
    assert len(HOSTILE) >= 15
    for name in HOSTILE:
        text = (HOSTILE_DIR / f"{name}.html").read_text()
        assert text.startswith("<!-- Attacks: "), f"{name}: no top comment saying what it attacks"


def test_every_page_gets_a_verdict_within_its_budget(mixed: dict[str, Any]) -> None:
    pages = mixed["pages"]
    assert sorted(pages) == sorted([*HOSTILE, *NORMAL])
    assert mixed["summary"].rendered == len(pages)
    late = {}
    for name, entry in pages.items():
        assert entry["verdict"] is not None, f"{name}: no verdict"
        assert {"observation.json", "verdict.json"} <= set(entry["files"]), name
        assert len(entry["verdict"]["checks"]) == len(CHECKS), name
        obs = entry["obs"]
        took = obs["real_time_s"]
        if took > 2 * entry["budget"] + CLOSE_MARGIN:
            # Everything needed to tell a slow machine from a slow path, should it happen.
            late[name] = {
                "took": took, "budget": entry["budget"], "status": obs["status"],
                "detail": obs.get("detail"), "retried": obs.get("retried"),
                "mode": obs.get("mode"), "virtual_time_s": obs.get("virtual_time_s"),
            }  # fmt: skip
    assert late == {}, f"pages over their budget (run wall {mixed['wall']:.0f} s): {late}"


def test_nothing_reached_the_canary(mixed: dict[str, Any], canary: Canary) -> None:
    assert canary.hits == []


def test_normal_pages_keep_their_verdicts(mixed: dict[str, Any], alone: dict[str, Any]) -> None:
    for name in NORMAL:
        together = mixed["pages"][name]
        assert together["obs"]["status"] == "ok", (name, together["obs"]["detail"])
        assert passed(together) == passed(alone[name]), name
    assert passed(alone["canvas-bounce"]) == {c: True for c in CHECKS}
    assert passed(alone["static-landing"])["animates"] is False


@pytest.mark.parametrize(
    "name",
    [
        "loop-at-load",
        "loop-in-raf",
        "document-write-loop",
        "microtask-loop",
        "sync-block",
        "clock-sabotage",
    ],
)
def test_hung_pages_say_why(mixed: dict[str, Any], name: str) -> None:
    entry = mixed["pages"][name]
    assert entry["obs"]["status"] == "hung"
    runs = next(c for c in entry["verdict"]["checks"] if c["name"] == "runs")
    assert runs["passed"] is False and "hung" in runs["detail"]
    assert entry["verdict"]["passed"] is False


def blocked_urls(obs: dict[str, Any]) -> list[str]:
    return [b["url"] for b in obs["requests"]["blocked"]]


def test_navigation_away_is_refused_and_the_page_stays(mixed: dict[str, Any]) -> None:
    for name, heading in (("location-external", "Leaving soon"), ("top-navigation", "Framed")):
        obs = mixed["pages"][name]["obs"]
        assert obs["status"] == "ok", (name, obs["detail"])
        assert obs["navigations"], name
        assert heading in obs["page"]["text"], name  # still our document
        offline = next(
            c for c in mixed["pages"][name]["verdict"]["checks"] if c["kind"] == "offline"
        )
        assert offline["passed"] is False
    location = mixed["pages"]["location-external"]["obs"]["navigations"]
    assert any(u.endswith("/location-href") for u in location)


def test_requests_to_outside_are_refused_and_recorded(mixed: dict[str, Any]) -> None:
    pages = mixed["pages"]
    fetches = blocked_urls(pages["fetch-xhr-external"]["obs"])
    assert any(u.endswith("/fetch") for u in fetches)
    assert "https://example.com/fetch" in fetches
    sockets = pages["websocket-external"]["obs"]["requests"]["blocked"]
    assert any(b["reason"].startswith("websocket") for b in sockets)
    passive = blocked_urls(pages["beacon-img-external"]["obs"])
    assert any(u.endswith("/beacon") for u in passive)
    assert any(u.endswith("/pixel.gif") for u in passive)
    assert any(u.endswith("/worker-fetch") for u in blocked_urls(pages["worker-network"]["obs"]))
    for name in ("fetch-xhr-external", "websocket-external", "beacon-img-external"):
        assert pages[name]["obs"]["status"] == "ok", (name, pages[name]["obs"]["detail"])


def test_local_files_cannot_be_read(mixed: dict[str, Any]) -> None:
    entry = mixed["pages"]["file-read"]
    dump = json.dumps(entry["obs"])
    assert "root:" not in dump and "/bin/" not in dump
    assert entry["obs"]["status"] == "ok", entry["obs"]["detail"]
    text = entry["obs"]["page"]["text"]
    assert "fetch: refused" in text and "xhr: refused" in text
    # every traversal attempt got the sandbox's 404, none a file from outside the artifact
    assert text.count("traversal ") == text.count(": not found")


def test_dialogs_and_popups_are_refused(mixed: dict[str, Any]) -> None:
    dialogs = mixed["pages"]["dialog-storm"]["obs"]
    assert dialogs["status"] == "ok", dialogs["detail"]
    assert dialogs["page"]["dialog_count"] >= 9000
    popups = mixed["pages"]["popup-storm"]["obs"]
    assert popups["status"] == "ok", popups["detail"]
    assert popups["page"]["open_count"] >= 500
    # Chromium's popup blocker (Playwright turns it off) refuses the popups no click
    # asked for: the native window.open taken from an iframe, link.click(), form.submit().
    assert popups["popups"] == [], popups["popups"]


def test_powerful_features_are_refused(mixed: dict[str, Any]) -> None:
    obs = mixed["pages"]["permissions"]["obs"]
    assert obs["status"] == "ok", obs["detail"]
    lines = dict(line.split(": ", 1) for line in obs["page"]["text"].splitlines() if ": " in line)
    for feature in ("clipboard read", "geolocation", "camera", "screen capture", "midi"):
        assert lines.get(feature, "refused") == "refused", (feature, lines.get(feature))
    assert lines.get("notification permission", "refused") in ("refused", "ok denied")


def test_what_is_stored_stays_small(mixed: dict[str, Any]) -> None:
    # Each record is capped in count and length (at most ~1.5 MB in all); a page that
    # makes megabyte-long titles, URLs and messages must not make observation.json grow.
    for name, entry in mixed["pages"].items():
        assert entry["size"] < 1_000_000, (name, entry["size"])
    assert mixed["pages"]["huge-strings"]["size"] < 200_000
    obs = mixed["pages"]["huge-strings"]["obs"]
    if obs.get("page"):  # collected (the page finished in time)
        assert len(obs["page"]["title"]) <= 300
        assert all(len(t) <= 40 for t, _ in obs["page"]["contexts"])


def test_no_page_is_left_unjudged(mixed: dict[str, Any]) -> None:
    assert mixed["summary"].unjudged == {}
    for name, entry in mixed["pages"].items():
        assert entry["verdict"].get("judged", True) is True, (name, entry["verdict"])


def test_a_page_cannot_start_a_program_on_the_host(mixed: dict[str, Any], openers: Path) -> None:
    assert not openers.exists(), openers.read_text()
    entry = mixed["pages"]["protocol-handlers"]
    external = entry["obs"]["external"]
    assert any(u.startswith("mailto:") for u in external), external
    assert any(u.startswith("gallery-custom:") for u in external), external
    offline = next(c for c in entry["verdict"]["checks"] if c["kind"] == "offline")
    assert offline["passed"] is False and "program" in offline["detail"]


def test_names_a_page_computes_are_never_looked_up(mixed: dict[str, Any]) -> None:
    obs = mixed["pages"]["runtime-library-names"]["obs"]
    assert obs["status"] == "ok", obs["detail"]
    refused = [b for b in obs["requests"]["blocked"] if "not resolved" in b.get("reason", "")]
    assert len(refused) >= 20, obs["requests"]["blocked"][:5]
    # (and the registry of the run, the canary, heard nothing: test_nothing_reached_the_canary)


def test_a_page_that_lies_to_the_harness_gets_its_own_verdict(mixed: dict[str, Any]) -> None:
    entry = mixed["pages"]["harness-lies"]
    obs = entry["obs"]
    assert obs["status"] == "ok", obs["detail"]
    assert obs["page"]["title"] == "Liar"  # read where the page cannot redefine it
    assert "A page that lies" in obs["page"]["text"]
    assert obs["page"]["dialog_count"] >= 200 and len(obs["page"]["dialogs"]) <= 50
    assert all(len(m) <= 200 for _, m in obs["page"]["dialogs"])
    checks = {c["name"]: c["passed"] for c in entry["verdict"]["checks"]}
    assert checks["runs"] is True and checks["animates"] is True
