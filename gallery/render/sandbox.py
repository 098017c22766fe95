"""Run untrusted pages in one headless Chromium, on a virtual clock, and observe them.

One browser per run; a fresh ``BrowserContext`` per page load. Every request
is routed: the artifact's own files are served from a synthetic HTTPS origin,
CDN library URLs are answered from npm packages (``libs.py``), and everything
else is refused and recorded. Dialogs, popups, downloads and navigation away
are refused and recorded.

Time is Playwright's clock, paused at install, and ``Math.random`` is seeded,
so a page gives the same frames every time. Advancing the clock runs the
page's timers and animation frames as fast as it can compute them, which is
far faster than real time for a light page and far slower for a heavy one;
so the first 250 virtual ms are timed and a heavy page is *sampled* (jump to
just before each screenshot, then run a few frames) instead of stepped frame
by frame. The steps taken are logged and replayed exactly by the control load
that the ``interactive`` check compares against, so only the input differs.

Every call into the page runs under a deadline: a page stuck in a loop never
answers ``evaluate``. On a hang the context is closed; if even that hangs the
browser is replaced, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright
from playwright.async_api import Error as PlaywrightError

from gallery.catalogue.prompts import Prompt
from gallery.errors import BrowserNotFound
from gallery.render.browser import chromium_version, find_chromium, launch_args
from gallery.render.pacing import Pacing
from gallery.render.page import (
    CALL_TIMEOUT_S,
    BrowserGone,
    PageResult,
    Unconfirmed,
    _drop,
    _first_line,
    _quiet,
    not_judged,
    own_random_stream,
)

#: The browser process must answer a liveness probe within this (s) once the page
#: that failed is closed; slower than that, the browser (or the machine) has stalled.
ALIVE_TIMEOUT_S = 30.0
AXE_SPEC = ("axe-core", "4", "axe.min.js")
#: A browser launch gets this long (s), and is tried this many times.
LAUNCH_TIMEOUT_S = 30.0
LAUNCH_ATTEMPTS = 2
#: Data memory of each Chromium process, in MB (the renderers, GPU and browser process
#: each): far above what the V8 heap cap lets a page use, far below a machine's RAM.
MEMORY_CAP_MB = 2048
#: Resolving the libraries a page's files name, before it runs, may take this long (s).
PREPARE_TIMEOUT_S = 60.0
#: A page whose browser fails under it is tried this many times in all (the last alone).
RENDER_ATTEMPTS = 3
#: How often the shared browser's processes are looked at while loads run (s).
WATCH_INTERVAL_S = 1.0

_LAUNCHES = itertools.count(1)


def _marked_processes(mark: str) -> list[int]:
    """Processes whose command line carries ``mark`` (the browser and a wrapper script
    that started it); [] where there is no /proc."""
    found = []
    needle = mark.encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


#: Programs Chromium (or a desktop) starts to open a link in another application:
#: mailto: runs xdg-email with the page's text, other schemes xdg-open, after asking
#: xdg-settings and xdg-mime for the handler.
HOST_OPENERS = (
    "xdg-open", "xdg-email", "xdg-settings", "xdg-mime", "gio", "gvfs-open", "gnome-open",
    "kde-open", "kde-open5", "kfmclient", "exo-open", "sensible-browser", "x-www-browser",
    "www-browser",
)  # fmt: skip


def _capped_launcher(chromium: Path, folder: Path) -> Path | None:
    """A launcher script that caps each Chromium process's data memory, closes the
    door to the host's programs, then runs Chromium.

    ``--max-old-space-size`` caps the V8 heap, but not ArrayBuffers: a page filling
    typed arrays took 4 GB in 8 s, and would take the machine. RLIMIT_DATA (``ulimit
    -d``) is per process and inherited by the renderers; a page over it gets an
    allocation error or a crashed renderer, and a verdict.

    A page that navigates to ``mailto:`` (no user gesture needed) or, after a click,
    to ``ssh:`` or any other scheme makes Chromium run ``xdg-email`` / ``xdg-open``
    with the URL, which carries whatever the page put in it. No Chromium switch turns
    that off, so the helpers Chromium looks up on ``PATH`` are found first in a
    folder of ours where each is ``false``: it does nothing and the link opens
    nowhere. (The attempt itself is recorded per page from the DevTools protocol.)
    POSIX shells only.

    Chromium's own temporary files go in ``folder`` too (see ``_chromium_tmp``).
    """
    if os.name != "posix":
        return None
    helpers = folder / "no-openers"
    helpers.mkdir(exist_ok=True)
    false = shutil.which("false") or "/bin/false"
    for name in HOST_OPENERS:
        with contextlib.suppress(FileExistsError):
            (helpers / name).symlink_to(false)
    script = folder / "chromium"
    script.write_text(
        f"#!/bin/sh\nulimit -d {MEMORY_CAP_MB * 1024} 2>/dev/null\n"
        f'PATH={shlex.quote(str(helpers))}:"$PATH"; export PATH\n'
        f"TMPDIR={shlex.quote(str(_chromium_tmp(folder)))}; export TMPDIR\n"
        f'exec {shlex.quote(str(chromium))} "$@"\n'
    )
    script.chmod(0o755)
    return script


#: The longest temporary folder Chromium can start in: it puts a socket at
#: ``$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`` and a Unix socket path
#: has at most 107 bytes. Beyond it Chromium exits at launch ("Socket path too long").
CHROMIUM_TMP_MAX = 107 - len("/org.chromium.Chromium.XXXXXX/SingletonSocket")


def _chromium_tmp(folder: Path) -> Path:
    """Where Chromium keeps its temporary files: ``folder``, removed with the renderer
    (files of a browser killed from outside were left in /tmp), or /tmp when that
    path is too long for Chromium to start in (a deep TMPDIR, pytest's tmp_path)."""
    if len(os.fsencode(folder)) <= CHROMIUM_TMP_MAX:
        return folder
    return Path("/tmp")


class Renderer:
    """One Chromium for many pages. Use ``async with Renderer(...) as r: await r.render(...)``.

    The browser is the harness's, not the page's: when it dies under a page
    (killed from outside, the machine stalls) that page and every page it held
    are rendered again in a new browser, and what still cannot be rendered is
    recorded as *not judged*, never as the page's verdict.
    """

    def __init__(self, *, chromium: str | Path | None = None, libs: Any = None, seed: int = 1):
        self.chromium = find_chromium(chromium)
        self.version = chromium_version(self.chromium.path)
        self.libs = libs
        # While a page runs, libraries come from the disk cache only (see ``prepare``).
        self._offline_libs = libs.offline_view() if hasattr(libs, "offline_view") else libs
        self._prepared: set[str] = set()  # CDN URLs written in the pages' files
        self.seed = seed
        self.browser: Browser | None = None
        self._pw = None
        self._lib_memo: dict[str, Any] = {}
        self._axe: str | None = None
        self._axe_error: str | None = None
        self._replace_lock = asyncio.Lock()
        self._dead_end: socket.socket | None = None
        self._in_use: dict[Browser, int] = {}  # open loads per browser
        self._retired: set[Browser] = set()  # replaced, closed once no load uses them
        self._dead: set[Browser] = set()  # stopped answering: replaced before the next load
        self._gone: dict[Browser, asyncio.Event] = {}  # set when a browser is found dead
        self._watchdog: asyncio.Task | None = None
        self._probes: dict[Browser, Any] = {}  # a browser-level CDP session each: liveness
        self._pids: dict[Browser, list[int]] = {}  # each browser's own processes (Linux)
        self._tmp = tempfile.TemporaryDirectory(prefix="gallery-chromium-")
        self._launcher: Path | None = _capped_launcher(self.chromium.path, Path(self._tmp.name))

    async def __aenter__(self) -> Renderer:
        # A port of our own that is bound but never listens: Chromium's proxy. Routing
        # answers every request the page makes before it reaches the network, but
        # Chromium also opens connections by itself (a preconnect to where a refused
        # navigation was going, link hints): those now end here, refused, instead of
        # reaching the host the page named. Loopback goes through it too.
        self._dead_end = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead_end.bind(("127.0.0.1", 0))
        self._pw = await async_playwright().start()
        try:
            self.browser = await self._launch()
        except BaseException as exc:
            await self._pw.stop()
            self._dead_end.close()
            self._tmp.cleanup()
            if isinstance(exc, BrowserGone):
                # Before any page: the machine's Chromium, not a page (exit 2, one line).
                raise BrowserNotFound(
                    f"{exc} (`gallery doctor` checks the setup)", source=self.chromium.path
                ) from None
            raise
        self._watchdog = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._watchdog is not None:
            _drop(self._watchdog)
        for browser in [self.browser, *self._retired]:
            if browser is not None:
                await _quiet(asyncio.wait_for(browser.close(), timeout=10))
        await _quiet(asyncio.wait_for(self._pw.stop(), timeout=10))
        self._dead_end.close()
        self._tmp.cleanup()

    async def _launch(self) -> Browser:
        """A new browser, under a deadline: a launch on a stalled machine can block for
        minutes, and pages wait for it. BrowserGone when none can be had."""
        args = [
            *launch_args(),
            # V8 compiles on the page's own thread: compiled on background threads, the
            # call at which a hot function's optimised code took over depended on their
            # timing, and with it what the page computed (the order a random-comparator
            # sort gives differs between tiers: a generated maze came out different).
            "--js-flags=--max-old-space-size=512 --no-concurrent-recompilation"
            " --no-concurrent-osr --no-concurrent-sparkplug",
            "--renderer-process-limit=64",
            # Re-raster whole tiles: a partly re-rastered tile kept edges drawn under
            # an earlier state (an SVG still moving in real time before the clock
            # pinned it), so the first shot differed between renders.
            "--disable-partial-raster",
            f"--proxy-server=http://127.0.0.1:{self._dead_end.getsockname()[1]}",
            "--proxy-bypass-list=<-loopback>",
            # WebRTC sends STUN/TURN over UDP straight to the servers the page names,
            # past routing and proxy; this policy turns non-proxied UDP off.
            # (--force-webrtc-ip-handling-policy, the name in some docs, has no effect.)
            "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        ]
        # Two of Playwright's defaults are dropped. It turns off Chromium's own limit
        # on history changes (pushState, reloads) per second; with it off, a page doing
        # them in a loop floods the DevTools pipe and slows every page of the run. And
        # it turns off the popup blocker: a person's browser refuses a popup no click
        # asked for, and one that opens can stop the page it came from drawing (with
        # the deterministic drawing flags), so its captures time out: "hung".
        defaults_dropped = ["--disable-ipc-flooding-protection", "--disable-popup-blocking"]
        failure = "no attempt"
        # A mark only this browser's own command line carries (Chromium ignores
        # switches it does not know, and does not hand them to its child processes).
        mark = f"--gallery-browser={os.getpid()}-{next(_LAUNCHES)}"
        args.append(mark)
        for _ in range(LAUNCH_ATTEMPTS):
            executable = self._launcher or self.chromium.path
            try:
                browser = await asyncio.wait_for(
                    self._pw.chromium.launch(
                        executable_path=str(executable),
                        args=args,
                        ignore_default_args=defaults_dropped,
                        timeout=LAUNCH_TIMEOUT_S * 1000,
                    ),
                    LAUNCH_TIMEOUT_S + 5,
                )
                self._probes[browser] = await asyncio.wait_for(
                    browser.new_browser_cdp_session(), CALL_TIMEOUT_S
                )
                self._pids[browser] = _marked_processes(mark)
                return browser
            except (PlaywrightError, TimeoutError) as exc:
                failure = str(exc).splitlines()[0][:200] if str(exc) else "timed out"
                if self._launcher is not None and isinstance(exc, PlaywrightError):
                    self._launcher = None  # e.g. a noexec temp dir: run uncapped, not at all
        raise BrowserGone(f"Chromium could not be launched: {failure}")

    async def alive(self, browser: Browser, *, probe: bool = False) -> bool:
        """Whether ``browser`` is still there (its own process, not a page's renderer).

        ``is_connected`` is not enough: when the browser process is killed but a
        wrapper script that started it lives on, the pipe stays open and every call
        waits forever. So the browser's processes are looked up by a mark on their
        command line (Linux); with ``probe``, the browser must also answer
        ``Browser.getVersion`` in time, which it does whatever its pages do, unless
        it (or the machine) stalls. Probe only once the page's own traffic is gone
        (its context closed): a page flooding the DevTools pipe slows every answer.
        """
        if browser in self._dead:
            return False
        pids = self._pids.get(browser) or []
        ok = browser.is_connected() and all(map(_running, pids))
        if ok and probe and (session := self._probes.get(browser)) is not None:
            try:
                await asyncio.wait_for(session.send("Browser.getVersion"), ALIVE_TIMEOUT_S)
            except (PlaywrightError, TimeoutError):
                ok = False
        if not ok:
            self.mark_dead(browser)
        return ok

    def mark_dead(self, browser: Browser) -> None:
        """Replace ``browser`` before the next load; every call waiting on it gives up."""
        self._dead.add(browser)
        self.gone(browser).set()

    def gone(self, browser: Browser) -> asyncio.Event:
        """Set once ``browser`` is found dead."""
        return self._gone.setdefault(browser, asyncio.Event())

    async def _watch(self) -> None:
        """While loads run, probe the shared browser now and then, so that a browser
        killed under them is noticed in seconds, not after every call's deadline."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            browser = self.browser
            if browser is not None and self._in_use.get(browser) and browser not in self._dead:
                await self.alive(browser)

    async def shared_browser(self) -> Browser:
        """The browser new loads open their contexts in, relaunched first when it died."""
        browser = self.browser
        if browser is None or browser in self._dead or not browser.is_connected():
            await self.replace_browser(browser)
        return self.browser

    def is_shared(self, browser: Browser) -> bool:
        """Whether ``browser`` holds other pages' loads too: the shared one, or one it
        replaced whose loads are still running (not a browser launched for one page)."""
        return browser is self.browser or browser in self._retired

    async def replace_browser(self, broken: Browser | None) -> None:
        """Launch a new browser for the loads to come; retire ``broken``.

        Loads still running in the retired browser go on (each has its own deadline);
        it is closed when the last of them closes. ``self.browser`` is never None
        meanwhile: a load starting during the launch still gets a browser.
        """
        async with self._replace_lock:
            if broken is not self.browser:
                return  # someone else already replaced it
            self.browser = await self._launch()
            if broken is not None:
                self._retired.add(broken)
                if not self._in_use.get(broken):
                    self._close_retired(broken)

    def _acquire(self, browser: Browser) -> None:
        """Count a load open in ``browser`` (a retired browser closes when none is left)."""
        self._in_use[browser] = self._in_use.get(browser, 0) + 1

    def _release(self, browser: Browser) -> None:
        self._in_use[browser] -= 1
        if not self._in_use[browser]:
            del self._in_use[browser]
            if browser in self._retired:
                self._close_retired(browser)

    def _close_retired(self, browser: Browser) -> None:
        self._retired.discard(browser)
        self._probes.pop(browser, None)
        self._pids.pop(browser, None)
        self._gone.pop(browser, None)
        asyncio.ensure_future(_quiet(asyncio.wait_for(browser.close(), timeout=5)))

    def is_cdn(self, url: str) -> bool:
        from gallery.render.libs import is_cdn_url

        return is_cdn_url(url)

    async def prepare(self, artifact: Path) -> None:
        """Resolve the CDN libraries written in the page's files, before it runs.

        This is the only time the registry is asked, and only for names the page's
        files spell out: while the page runs, its library requests are answered from
        the on-disk cache alone (``fetch_lib``), so a package name the page computes
        (and could fill with its data) never leaves the machine. The wait is bounded;
        what is not resolved by then is refused when the page asks for it.
        """
        if self.libs is None or not hasattr(self.libs, "fetch_url"):
            return
        from gallery.render.libs import LibError, written_cdn_urls

        urls = [u for u in await asyncio.to_thread(written_cdn_urls, artifact)]
        todo = [u for u in urls if u not in self._prepared]
        self._prepared.update(urls)

        def resolve_all() -> None:
            for url in todo:
                with contextlib.suppress(LibError, OSError, ValueError):
                    self.libs.fetch_url(url)

        if todo:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(resolve_all), PREPARE_TIMEOUT_S)

    async def fetch_lib(self, url: str) -> Any:
        """A LibFile from the on-disk cache, or the one-line reason it is refused."""
        from gallery.render.libs import LibError

        if url in self._lib_memo:
            return self._lib_memo[url]
        try:
            lib = await asyncio.to_thread(self._offline_libs.fetch_url, url)
        except LibError as exc:
            if url in self._prepared:
                return str(exc)
            return f"library requested at run time, not resolved ({exc})"
        if "javascript" in lib.content_type:
            lib = dataclasses.replace(lib, body=own_random_stream(lib.body))
        self._lib_memo[url] = lib
        return lib

    async def axe_source(self) -> str | None:
        if self._axe is None and self._axe_error is None:
            try:
                from gallery.render.libs import LibRef

                lib = await asyncio.to_thread(self.libs.resolve, LibRef(*AXE_SPEC))
                self._axe = lib.body.decode()
            except Exception as exc:  # noqa: BLE001 - any failure means "axe unavailable"
                self._axe_error = f"axe-core unavailable: {exc}"
        return self._axe

    async def render(
        self, artifact: Path, prompt: Prompt, pacing: Pacing | None = None
    ) -> PageResult:
        """Observe one page: main load (with input), control load when input is scripted.

        ``pacing``: step the page as an earlier render of it was (see ``Pacing``).

        A failure of the browser or of the harness is never the page's verdict: the
        page is rendered again (the last attempt in a browser of its own, so that no
        other page can take it down), and when no attempt gets through the result is
        *not judged*, with the reasons. A page that stops answering in the shared
        browser goes straight to a browser of its own: hung there too, it is hung.
        What the page was spared is kept in its observation (``retried``).
        """
        from gallery.render.timeline import observe

        await self.prepare(artifact)
        # Every call into the page has a deadline; this one bounds what none should
        # be left to: a call into a browser that stopped answering.
        backstop = 2 * prompt.render.budget + 2 * LAUNCH_TIMEOUT_S
        failures: list[str] = []
        attempt = 0
        while attempt < RENDER_ATTEMPTS:
            alone = attempt == RENDER_ATTEMPTS - 1
            attempt += 1
            browser: Browser | None = None
            try:
                browser = await (self._launch() if alone else self.shared_browser())
                result = await asyncio.wait_for(
                    observe(self, browser, artifact, prompt, pacing), backstop
                )
                if failures:
                    result.observation["retried"] = failures  # what the page was spared
                return result
            except BrowserGone as exc:
                failures.append(str(exc))
                if isinstance(exc, Unconfirmed):
                    attempt = RENDER_ATTEMPTS - 1  # straight to a browser of its own
            except TimeoutError:
                failures.append(f"the render did not finish within {backstop:.0f} s")
                if browser is not None and browser is self.browser:
                    self.mark_dead(browser)  # it did not answer in time: start afresh
            except Exception as exc:  # noqa: BLE001 - a harness fault is this page's alone
                failures.append(f"harness error: {type(exc).__name__}: {_first_line(exc)}")
            finally:
                if alone and browser is not None:
                    self._probes.pop(browser, None)
                    await _quiet(asyncio.wait_for(browser.close(), timeout=10))
        return not_judged(self, failures)
