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
import base64
import contextlib
import itertools
import mimetypes
import os
import shlex
import shutil
import socket
import tempfile
import time
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from gallery.catalogue.prompts import InteractStep, Prompt
from gallery.render.browser import chromium_version, find_chromium, launch_args
from gallery.render.images import PREVIEW_WIDTH

ORIGIN = "https://sandbox.gallery.test"
#: Web-font services: refused like any other host (``offline`` fails), but kept
#: apart so a verdict can say the page only lost its fonts.
FONT_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com", "use.typekit.net", "fonts.bunny.net")
#: A fixed "now" for Date, so pages that print dates are stable.
EPOCH = datetime(2025, 9, 5, tzinfo=UTC)
PROBE_MS = 250
#: The probe's first step: a page already over the whole allowance by then is heavy.
PROBE_FIRST_MS = 50
#: A page whose main thread needs more than half the real time of the first 250
#: virtual ms (about 8 ms a frame) is sampled. The margin keeps light pages
#: (~1-3 ms a frame) far from the line. It is the renderer's *CPU* time
#: (``Performance.getMetrics`` ThreadTime), which a loaded machine does not
#: inflate the way it inflates wall time (a light page measured 7 ms of CPU in
#: 240 ms of wall time at load 15), so modes, and so frames, do not flip between
#: runs.
HEAVY_PROBE_S = 0.125
#: ... or, for a page with WebGL, whose probe takes this many times that in wall
#: time: WebGL is drawn in the GPU process, which the CPU measure does not see.
#: (Only then: for any other page the wall clock says more about the machine's
#: load than about the page, and a light page measured 0.5 s at load 14.)
HEAVY_PROBE_WALL_FACTOR = 4
SAMPLE_WINDOW_MS = 100
#: One animation frame of the virtual clock (Playwright's fake clock runs them 16 ms apart).
FRAME_MS = 16
#: A sampled page whose probe frames took longer than this each (CPU; wall time
#: with the factor above) gets no window of frames before its shots: at 200 ms a
#: frame, 3 windows of 6 frames alone would cost 3.6 s.
VERY_HEAVY_FRAME_S = 0.04
AXE_SPEC = ("axe-core", "4", "axe.min.js")
#: How far performance.now() moves on at each call within one virtual instant (ms).
PERF_STEP_MS = 0.01
#: A box of text over the page covering at most this share of the viewport is an overlay.
OVERLAY_SHARE = 0.05
#: ... and an element a CSS animation moves, at most this share: an indicator.
INDICATOR_SHARE = 0.005
MAX_OVERLAYS = 30
MAX_EVENTS = 200
#: URL schemes a page navigates to without leaving the browser; any other opens a program.
WEB_SCHEMES = ("http", "https", "about", "data", "blob", "javascript", "")
#: Characters kept of each recorded URL.
MAX_URL = 500
#: Console calls a page may make before the rest are dropped (see INIT_SCRIPT).
MAX_CONSOLE_CALLS = 1000
#: No single call into a page may take longer than this: a frame or a load that
#: needs more is treated as a hang (the sample's own budget still bounds the total).
CALL_TIMEOUT_S = 10.0
#: A first capture that takes longer is retried (see ``_Load.screenshot``).
CAPTURE_TIMEOUT_S = 3.0
LOAD_TIMEOUT_S = 20.0
#: Resolving the libraries a page's files name, before it runs, may take this long (s).
PREPARE_TIMEOUT_S = 60.0
#: A browser launch gets this long (s), and is tried this many times.
LAUNCH_TIMEOUT_S = 30.0
LAUNCH_ATTEMPTS = 2
#: The browser process must answer a liveness probe within this (s) once the page
#: that failed is closed; slower than that, the browser (or the machine) has stalled.
ALIVE_TIMEOUT_S = 30.0
#: How often the shared browser's processes are looked at while loads run (s).
WATCH_INTERVAL_S = 1.0
#: A page whose browser fails under it is tried this many times in all (the last alone).
RENDER_ATTEMPTS = 3
#: Data memory of each Chromium process, in MB (the renderers, GPU and browser process
#: each): far above what the V8 heap cap lets a page use, far below a machine's RAM.
MEMORY_CAP_MB = 2048

INIT_SCRIPT = """
(() => {
  let s = %(seed)d >>> 0;
  Math.random = function () {
    s = (s + 0x6D2B79F5) >>> 0; let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Under the paused clock performance.now() stands still while a frame's script runs,
  // which no browser does: a page timing its own frame read 0 ms ("FPS: Infinity"),
  // and a loop waiting for a few ms to pass never ended. Each call now returns a
  // little more than the last (%(perf_step)s ms), from the clock's time: the same
  // values in every load of the page, so the same pixels. The clock installs its
  // performance object after this script, by assignment: it is wrapped as it comes.
  try {
    let perf = window.performance, last = -Infinity;
    const wrap = (p) => {
      const now = p.now.bind(p);
      p.now = function () { const t = now(); last = t > last ? t : last + %(perf_step)s; return last; };
    };
    Object.defineProperty(window, 'performance', {
      configurable: true, enumerable: true,
      get() { return perf; },
      set(value) { perf = value; try { wrap(value); } catch (e) {} },
    });
  } catch (e) {}
  // gallery's records of what the page did live in this closure, out of the page's
  // reach; they are written with the built-ins as they were before any page script ran
  // (a page can redefine Array.prototype.push, String, Function.prototype.apply...),
  // and read back through a frozen object no page script can replace.
  const apply = Reflect.apply, push = Array.prototype.push, slice = Array.prototype.slice;
  const cut = String.prototype.slice, S = String, test = RegExp.prototype.test;
  const includes = Array.prototype.includes, freeze = Object.freeze;
  const text = (v, n) => { try { return apply(cut, S(v), [0, n]); } catch (e) { return '?'; } };
  const note = (list, item, n) => { if (list.length < n) apply(push, list, [item]); };
  const contexts = [], dialogs = [], opens = [], gls = [];
  let dialogCount = 0, openCount = 0, consoleDropped = 0, consoleCalls = 0;
  const answers = {alert: undefined, confirm: false, prompt: null};
  for (const name of ['alert', 'confirm', 'prompt']) {
    window[name] = function (message) {
      dialogCount++;
      note(dialogs, [name, text(message, 200)], 50);
      return answers[name];
    };
  }
  window.open = function (url) {
    openCount++;
    note(opens, text(url, 300), 50);
    return null;
  };
  // Flood control: every console call crosses the DevTools pipe that all the pages
  // of a run share, so a page logging in a loop would slow every other page. The
  // first %(console_calls)d go through; later ones are dropped and counted.
  for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'dirxml',
                      'table', 'count', 'timeLog', 'assert', 'group', 'groupCollapsed']) {
    const original = console[name];
    if (typeof original !== 'function') continue;
    console[name] = function (...args) {
      if (++consoleCalls > %(console_calls)d) { consoleDropped++; return; }
      return apply(original, this, args);
    };
  }
  // WebGL contexts, so the probe can wait for their GPU work: it is drawn in the
  // GPU process, and only when something needs the pixels (gl.finish() does not
  // wait for it), so reading one pixel back is what makes the probe see its cost.
  const webgl = /webgl/i;
  for (const C of [window.HTMLCanvasElement, window.OffscreenCanvas]) {
    if (!C) continue;
    const original = C.prototype.getContext;
    C.prototype.getContext = function (type, ...rest) {
      const ctx = apply(original, this, [type, ...rest]);
      if (ctx && apply(test, webgl, [text(type, 40)]) && gls.length < 8 && !apply(includes, gls, [ctx])) {
        apply(push, gls, [ctx]);
      }
      note(contexts, [text(type, 40), !!ctx], 50);
      return ctx;
    };
  }
  Object.defineProperty(window, '__gallery', {value: freeze({
    records: () => ({
      contexts: apply(slice, contexts, []), dialogs: apply(slice, dialogs, []),
      dialog_count: dialogCount, opens: apply(slice, opens, []), open_count: openCount,
      console_dropped: consoleDropped,
    }),
    finishGL: () => {
      const px = new Uint8Array(4);
      for (const gl of gls) {
        try {
          if (gl.isContextLost() || gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) continue;
          gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
        } catch (e) {}
      }
      return gls.length;
    },
  })});
  // The text caret blinks on a real-time timer of its own: hide it for good (a
  // stylesheet that is no DOM node), as Playwright hides it for each screenshot.
  try {
    const caret = new CSSStyleSheet();
    caret.replaceSync('*, *::before, *::after { caret-color: transparent !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, caret];
  } catch (e) {}
})();
"""

#: Set up once in the load's isolated world (see ``_Load.world``): the page's own
#: script can neither see nor redefine what runs there.
WORLD_SCRIPT = """
(() => {
  // CSS, Web and SVG animations run on real time; pin them to the virtual clock.
  const starts = new WeakMap(), done = new WeakSet();
  globalThis.__gallerySync = (now) => {
    for (const a of document.getAnimations()) {
      if (!starts.has(a)) starts.set(a, now);
      if (done.has(a)) continue;
      try { a.pause(); a.currentTime = now - starts.get(a); } catch (e) {}
      if (a.playState === 'finished') done.add(a);
    }
    // SVG's own (SMIL) animations run on each <svg>'s clock: paused, and set to the time.
    for (const svg of document.querySelectorAll('svg')) {
      if (svg.ownerSVGElement || typeof svg.pauseAnimations !== 'function') continue;
      if (!starts.has(svg)) starts.set(svg, now);
      try { svg.pauseAnimations(); svg.setCurrentTime((now - starts.get(svg)) / 1000); } catch (e) {}
    }
  };
  // One real animation frame (this world's requestAnimationFrame is not the clock's).
  globalThis.__galleryFrame = () => new Promise(r => requestAnimationFrame(() => r(1)));
})();
"""

#: The page's facts at the end of the load, from the isolated world (``_Load.world``):
#: native DOM getters the page cannot redefine; every string and list is cut here.
COLLECT_SCRIPT = """
(() => {
  const body = document.body, vw = innerWidth, vh = innerHeight;
  const canvases = [...document.querySelectorAll('canvas')].slice(0, 20).map(c => {
    const r = c.getBoundingClientRect();
    return {width: c.width, height: c.height, visible: r.width > 0 && r.height > 0};
  });
  let webglAvailable = false;
  try { webglAvailable = !!document.createElement('canvas').getContext('webgl'); } catch (e) {}
  // Small boxes of text laid over the page (position fixed/absolute/sticky, at most
  // %(overlay_share)s of the viewport): a frame counter, a caption, a hint. They are not
  // the page's content; a counter's changes are not its motion either (observe.py).
  const overlays = [], seen = new Set(), placed = new Map();
  const box = (el) => {
    const chain = [];
    let found = null;
    for (let e = el; e && e !== body && e !== document.documentElement; e = e.parentElement) {
      if (placed.has(e)) { found = placed.get(e); break; }
      chain.push(e);
      const p = getComputedStyle(e).position;
      if (p === 'fixed' || p === 'absolute' || p === 'sticky') { found = e; break; }
    }
    for (const e of chain) placed.set(e, found);
    return found;
  };
  const walker = document.createTreeWalker(body || document.documentElement, NodeFilter.SHOW_TEXT);
  for (let n = 0; n < 3000 && overlays.length < %(max_overlays)d && walker.nextNode(); n++) {
    const text = walker.currentNode;
    if (!text.data.trim() || !text.parentElement) continue;
    const el = box(text.parentElement);
    if (!el || seen.has(el)) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0 || r.width * r.height > %(overlay_share)s * vw * vh) continue;
    if (r.right <= 0 || r.bottom <= 0 || r.left >= vw || r.top >= vh) continue;
    // A counter: short text with a number in it ("FPS: 60", "Frame 120"), whose
    // changes are not the page moving. Other text (a caption, a typing terminal) may be.
    const words = String(el.innerText || '').trim();
    const kind = words.length <= 60 && /[0-9]/.test(words) ? 'counter' : 'text';
    overlays.push([Math.floor(r.left), Math.floor(r.top), Math.ceil(r.width), Math.ceil(r.height), kind]);
  }
  // Small elements that a CSS or Web Animation moves (a spinner, a pulsing dot, a
  // blinking cursor: at most %(indicator_share)s of the viewport): an indicator alone
  // is not the page showing or doing anything.
  for (const a of document.getAnimations().slice(0, 200)) {
    if (overlays.length >= %(max_overlays)d) break;
    const el = a.effect && a.effect.target;
    if (!el || !el.getBoundingClientRect || seen.has(el)) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0 || r.width * r.height > %(indicator_share)s * vw * vh) continue;
    overlays.push([Math.floor(r.left), Math.floor(r.top), Math.ceil(r.width), Math.ceil(r.height), 'indicator']);
  }
  return {
    title: String(document.title).slice(0, 300),
    text: body ? String(body.innerText || '').slice(0, 2000) : '',
    dom_nodes: document.getElementsByTagName('*').length,
    canvases, webgl_available: webglAvailable, overlays,
    lang: (document.documentElement.getAttribute('lang') || '').slice(0, 100) || null,
  };
})()
"""

COLLECT_SCRIPT %= {
    "overlay_share": OVERLAY_SHARE,
    "indicator_share": INDICATOR_SHARE,
    "max_overlays": MAX_OVERLAYS,
}

#: gallery's records kept in the page's world (see INIT_SCRIPT): read back and checked.
#: (``window`` and ``__gallery`` cannot be redefined: both are non-configurable.)
RECORDS_SCRIPT = "window.__gallery.records()"

JS_CHECK = """
(expr) => { try { return {value: !!(0, eval)(expr)}; } catch (e) { return {error: String(e).slice(0, 300)}; } }
"""

ELEMENT_CHECK = """
((sel) => {
  let els; try { els = [...document.querySelectorAll(sel)]; } catch (e) { return {error: String(e).slice(0, 300)}; }
  const visible = els.filter(e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; });
  return {count: els.length, visible: visible.length};
})(%s)
"""


#: Errors from the clock that are Playwright's own, not an exception the page threw.
_NOT_THE_PAGES = (
    "Target page, context or browser has been closed",
    "Execution context was destroyed",
    "Protocol error",
    "Frame was detached",
)


class Hung(Exception):
    """The page did not answer before its deadline."""


class BrowserGone(Exception):
    """The browser went away or stopped answering under a page: killed from outside,
    a machine that stalls. Not the page's fault, so never the page's verdict."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


@dataclass
class PageResult:
    """What one sample's render produced: the observation and the image files."""

    observation: dict[str, Any]
    shots: dict[str, bytes] = field(default_factory=dict)
    preview_frames: list[bytes] = field(default_factory=list)


def not_judged(renderer: Renderer, failures: list[str]) -> PageResult:
    """The result for a page that could not be observed for reasons not its own."""
    reasons = list(dict.fromkeys(failures))  # the same reason once
    detail = "; ".join(reasons)[:500] or "no attempt was made"
    return PageResult(
        observation={
            "status": "unjudged",
            "detail": f"not judged ({len(failures)} attempt(s)): {detail}",
            "chromium": renderer.version,
            "seed": renderer.seed,
        }
    )


def shot_name(t: float) -> str:
    return f"{t:06.2f}s.png"


def _plan(prompt: Prompt) -> tuple[list[float], list[float], list[tuple[float, InteractStep, str]]]:
    """Stop times (virtual s), preview times, and input events (time, step, phase)."""
    r = prompt.render
    end = r.screenshots[-1]
    n = r.preview_frames
    # The preview spans the timed screenshots, not t=0: before the first frames
    # a page is often still blank, and its first paint is not motion.
    start = r.screenshots[0]
    preview = (
        [round(start + (end - start) * i / (n - 1), 3) for i in range(n)] if end > start else [end]
    )
    events: list[tuple[float, InteractStep, str]] = []
    for step in prompt.interact:
        events.append((step.at, step, "start"))
        if step.key and step.hold:
            events.append((round(step.at + step.hold, 3), step, "end"))
    stops = sorted({*preview, *r.screenshots, *(t for t, _, _ in events)})
    return stops, preview, events


class _Load:
    """One page load in its own context: routing, recording, clock stepping."""

    def __init__(
        self,
        renderer: Renderer,
        browser: Browser,
        artifact: Path,
        prompt: Prompt,
        seed: int,
        deadline: float,
    ):
        self.r = renderer
        self.browser = browser  # the browser this load runs in
        self.artifact = artifact.resolve()
        self.prompt = prompt
        self.seed = seed
        self.deadline = deadline
        self.vt = 0  # virtual ms since load
        self.mode = "full"  # "full": every frame; "sampled": heavy page; "budget": out of real time
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.cdp: Any = None  # the page's CDP session: one round trip per screenshot
        self._acquired = False  # counted in the renderer's loads of ``browser``
        self._world: int | None = None  # the isolated world's execution context
        self.obs: dict[str, Any] = {
            "console": [],
            "errors": [],
            "requests": {"artifact": [], "cdn": [], "missing": [], "blocked": [], "fonts": []},
            "navigations": [],
            "popups": [],
            "downloads": [],
            "external": [],  # links to other programs (mailto:, ssh:, ...): never opened
            "crashed": False,
        }

    async def call(self, awaitable: Any, what: str, limit: float = CALL_TIMEOUT_S) -> Any:
        """Await a call into the page under the sample's deadline (and a per-call limit)."""
        remaining = min(self.deadline - time.monotonic(), limit)
        if remaining <= 0:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise Hung(f"out of time before {what}")
        call = asyncio.ensure_future(awaitable)
        gone = asyncio.ensure_future(self.r.gone(self.browser).wait())
        try:
            await asyncio.wait({call, gone}, timeout=remaining, return_when=FIRST_COMPLETED)
        finally:
            gone.cancel()
        if call.done():
            return call.result()
        _drop(call)
        if gone.done():
            raise BrowserGone(f"the browser went away during {what}")
        raise Hung(f"page did not respond to {what} (virtual t={self.vt / 1000:.2f}s)")

    def _record(self, kind: str, item: Any) -> None:
        bucket = self.obs[kind] if kind in self.obs else self.obs["requests"][kind]
        if len(bucket) < MAX_EVENTS:
            # A URL may be megabytes long (a page can make it so): keep the start.
            if isinstance(item, str):
                item = item[:MAX_URL]
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                item = {**item, "url": item["url"][:MAX_URL]}
            bucket.append(item)

    def _artifact_file(self, rel: str) -> bytes | None:
        """The bytes of the artifact's file at ``rel``; None when it is outside the
        artifact, missing, or no file can have that name (too long, a NUL byte)."""
        try:
            target = (self.artifact / rel).resolve()
            if target.is_relative_to(self.artifact) and target.is_file():
                return target.read_bytes()
        except (OSError, ValueError):
            pass
        return None

    async def _route(self, route: Any) -> None:
        request = route.request
        url = request.url
        try:
            if url.startswith(ORIGIN + "/"):
                rel = unquote(urlsplit(url).path).lstrip("/") or "index.html"
                body = self._artifact_file(rel)
                if body is not None:
                    ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
                    self._record("artifact", rel)
                    await route.fulfill(body=body, content_type=ctype)
                else:
                    self._record("missing", rel)
                    await route.fulfill(status=404, body="not found", content_type="text/plain")
                return
            host = urlsplit(url).hostname or ""
            if self.r.libs is not None and self.r.is_cdn(url):
                lib = await self.r.fetch_lib(url)
                if not isinstance(lib, str):
                    self._record(
                        "cdn", {"url": url, "package": lib.package, "version": lib.version}
                    )
                    await route.fulfill(
                        body=lib.body,
                        content_type=lib.content_type,
                        headers={"access-control-allow-origin": "*"},
                    )
                    return
                self._record("blocked", {"url": url, "reason": lib})
            elif request.is_navigation_request() and request.frame == self.page.main_frame:
                self._record("navigations", url)
                await route.fulfill(status=204)  # 204 cancels a navigation and keeps the page
                return
            elif any(host == h or host.endswith("." + h) for h in FONT_HOSTS):
                self._record("fonts", url)
            else:
                self._record("blocked", {"url": url, "reason": "outside the sandbox"})
            await route.abort("blockedbyclient")
        except PlaywrightError:
            pass  # the page or context went away mid-request

    async def open(self) -> None:
        r = self.prompt.render
        self.r._acquire(self.browser)
        self._acquired = True
        self.context = await self.call(
            self.browser.new_context(
                viewport={"width": r.viewport[0], "height": r.viewport[1]},
                device_scale_factor=r.device_scale,
                service_workers="block",
                accept_downloads=False,
                permissions=[],
                locale="en-US",
                timezone_id="UTC",
                color_scheme="light",
                reduced_motion="no-preference",
            ),
            "new_context",
        )
        ctx = self.context
        # Independent set-up calls go out together: each is a round trip to the browser.
        # Each has a deadline: a browser killed under a wrapper script never answers.
        await self.call(
            asyncio.gather(
                ctx.route("**/*", self._route),
                ctx.route_web_socket("**/*", self._refuse_websocket),
                ctx.add_init_script(
                    INIT_SCRIPT
                    % {
                        "seed": self.seed,
                        "console_calls": MAX_CONSOLE_CALLS,
                        "perf_step": PERF_STEP_MS,
                    }
                ),
            ),
            "context set-up",
        )
        page = self.page = await self.call(ctx.new_page(), "new_page")
        self.cdp = await self.call(ctx.new_cdp_session(page), "cdp session")
        # ThreadTime for the probe; navigations the page asks for (to record the ones
        # to other programs: mailto:, ssh:, any non-web scheme, which no route sees).
        self.cdp.on("Page.frameRequestedNavigation", self._on_navigation_request)
        await self.call(
            asyncio.gather(self.cdp.send("Performance.enable"), self.cdp.send("Page.enable")),
            "metrics",
        )
        ctx.on("page", self._on_popup)  # after new_page: only popups arrive here
        page.on("console", self._on_console)
        page.on("pageerror", self._on_error)
        page.on("dialog", lambda d: asyncio.ensure_future(_quiet(d.dismiss())))
        page.on("download", lambda d: self._record("downloads", d.url))
        page.on("crash", lambda _p: self.obs.__setitem__("crashed", True))
        # pause_at alone installs the clock with one log entry, so performance.now()
        # and animation-frame timestamps start at exactly 0 in every load. An
        # install() first would add the real milliseconds between the two calls.
        await self.call(page.clock.pause_at(EPOCH), "clock")
        limit = time.monotonic() + LOAD_TIMEOUT_S
        try:
            await self.call(
                page.goto(ORIGIN + "/index.html", wait_until="commit"), "load", LOAD_TIMEOUT_S
            )
        except PlaywrightError as exc:
            raise Hung(f"page failed to load: {str(exc).splitlines()[0]}") from None
        await self._loaded(limit)

    async def _loaded(self, limit: float) -> None:
        """Wait for ``document.readyState == "complete"`` (the load event has run).

        Not ``goto(wait_until="load")``: a page that navigates away while it is
        still loading gets that navigation refused (204), and Playwright then
        never reports the load of the document that stays, so it waits forever.
        """
        while True:
            left = limit - time.monotonic()
            if left <= 0:
                raise Hung("page did not finish loading (it kept reloading or navigating)")
            try:
                state = await self.call(self.page.evaluate("document.readyState"), "load", left)
            except PlaywrightError as exc:
                if "context was destroyed" not in str(exc):
                    raise Hung(f"page failed to load: {str(exc).splitlines()[0]}") from None
                state = None  # the page reloaded itself: wait for the new document
            if state == "complete":
                return
            await asyncio.sleep(0.05)

    def _on_navigation_request(self, event: dict[str, Any]) -> None:
        url = str(event.get("url") or "")
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in WEB_SCHEMES:
            self._record("external", url[:200])

    def _refuse_websocket(self, ws: Any) -> None:
        self._record("blocked", {"url": ws.url, "reason": "websocket outside the sandbox"})
        asyncio.ensure_future(_quiet(ws.close()))

    def _on_popup(self, page: Page) -> None:
        if page is self.page:
            return
        self._record("popups", page.url)
        asyncio.ensure_future(_quiet(page.close()))

    def _on_console(self, msg: Any) -> None:
        if len(self.obs["console"]) >= MAX_EVENTS - 1:
            # Enough kept: unsubscribe, so a page logging in a loop does not flood the
            # DevTools pipe into this process and starve every other page of the run.
            self.page.remove_listener("console", self._on_console)
        loc = msg.location or {}
        self._record(
            "console",
            {
                "type": msg.type,
                "text": msg.text[:500],
                "t": self.vt / 1000,
                "url": loc.get("url", ""),
            },
        )

    def _on_error(self, error: Any) -> None:
        stack = getattr(error, "stack", "") or ""
        self._record(
            "errors",
            {
                "message": (getattr(error, "message", "") or str(error))[:500],
                "stack": stack[:1500],
                "t": self.vt / 1000,
            },
        )

    async def advance(self, kind: str, ms: int) -> None:
        if ms <= 0:
            return
        clock = self.page.clock
        try:
            if kind == "run":
                await self.call(clock.run_for(ms), "run_for")
            else:
                await self.call(clock.fast_forward(ms), "fast_forward")
        except PlaywrightError as exc:
            text = str(exc)
            if (
                self.page.is_closed()
                or self.obs["crashed"]
                or any(m in text for m in _NOT_THE_PAGES)
            ):
                raise
            # Playwright's clock catches what a timer or animation-frame callback
            # throws, runs the rest of the span, and rethrows the first one here. In a
            # browser it is an uncaught error and the page goes on: record it so.
            self._thrown_in_callback(text)
        self.vt += ms

    def _thrown_in_callback(self, text: str) -> None:
        text = text.split(": ", 1)[-1] if text.startswith("Clock.") else text
        message, _, stack = text.partition("\n")
        stack = "\n".join(ln for ln in stack.splitlines() if "ClockController" not in ln)
        self._record(
            "errors", {"message": message[:500], "stack": stack[:1500], "t": self.vt / 1000}
        )

    async def cpu_time(self, *, finish_gl: bool = False) -> tuple[float, int]:
        """CPU seconds the page's main thread has used so far (0.0 when unknown),
        and (with ``finish_gl``) how many WebGL contexts the page has.

        With ``finish_gl``, also wait (in the same round trip) until the GPU
        process has drawn every WebGL command the page issued, so that the
        caller's wall clock includes that work.
        """
        metrics = self.cdp.send("Performance.getMetrics")
        gl = 0
        if finish_gl:
            script = "() => window.__gallery.finishGL()"
            reply, gl = await self.call(
                asyncio.gather(metrics, self.page.evaluate(script)), "metrics"
            )
        else:
            reply = await self.call(metrics, "metrics")
        cpu = next((m["value"] for m in reply["metrics"] if m["name"] == "ThreadTime"), 0.0)
        # gl comes from the page's world: a number of ours, unless the page broke it
        gl = gl if isinstance(gl, int) and not isinstance(gl, bool) and 0 <= gl <= 8 else 0
        return float(cpu), gl

    async def world(self) -> int:
        """The execution context of this load's isolated world, made on first use.

        An isolated world shares the page's DOM but not its JavaScript globals:
        what gallery runs there cannot be redefined by the page, and it has real
        timers and animation frames while the page's clock stays paused.
        """
        if self._world is None:
            tree = await self.call(self.cdp.send("Page.getFrameTree"), "frame tree")
            frame = tree["frameTree"]["frame"]["id"]
            reply = await self.call(
                self.cdp.send(
                    "Page.createIsolatedWorld", {"frameId": frame, "worldName": "gallery"}
                ),
                "isolated world",
            )
            context = reply["executionContextId"]
            await self.call(
                self.cdp.send(
                    "Runtime.evaluate", {"expression": WORLD_SCRIPT, "contextId": context}
                ),
                "isolated world",
            )
            self._world = context
        return self._world

    async def in_world(
        self, expression: str, what: str, *, promise: bool = False, limit: float = CALL_TIMEOUT_S
    ) -> dict[str, Any]:
        """``Runtime.evaluate`` in the isolated world; the raw CDP reply. A page that
        navigated has a new document, and so a new world: made again, once."""
        for attempt in range(2):
            params = {
                "expression": expression,
                "contextId": await self.world(),
                "returnByValue": True,
            }
            if promise:
                params["awaitPromise"] = True
            try:
                return await self.call(self.cdp.send("Runtime.evaluate", params), what, limit)
            except PlaywrightError as exc:
                if attempt or "context" not in str(exc).lower():
                    raise
                self._world = None
        raise AssertionError("unreachable")

    async def sync_animations(self) -> None:
        """Pin CSS/Web Animations to the virtual time (called at every stop, in both loads)."""
        await self.in_world(f"__gallerySync({int(self.vt)})", "animation sync")

    async def settle(self) -> None:
        """Let one real frame pass before a timed screenshot.

        A CSS transform animation pinned at a new time is drawn by the compositor
        a frame later: captured at once, its edges came out one way or the other
        depending on the machine's load (seen: 2 renders in 8 differed). After a
        frame they are the same every time. A frame that does not come in a second
        is not waited for (the capture has its own remedy for a stuck compositor).
        """
        with contextlib.suppress(Hung):
            await self.in_world("__galleryFrame()", "frame", promise=True, limit=1.0)

    async def screenshot(self, *, jpeg: bool = False) -> bytes:
        """A PNG (timed shots) or JPEG (preview frames) of the viewport.

        Straight through the page's CDP session: one round trip, where
        ``page.screenshot`` makes four (scroll offset, caret hiding and its
        undoing around the capture) into a renderer that may be busy. The
        pixels are the same: the viewport at device scale, caret hidden (by
        the init script's stylesheet).

        Chromium now and then answers "Unable to capture screenshot" for a
        healthy page (seen under load); that is retried, anything else is not.
        And now and then a capture of a still page waits for a compositor frame
        that never comes: when the page's main thread still answers, a short
        screencast wakes the compositor and the capture is asked for again.
        """
        w, h = self.prompt.render.viewport
        params: dict[str, Any] = (
            # Preview frames at the preview's own width: Chromium scales while it
            # composites, so a quarter of the pixels are read back and encoded.
            {
                "format": "jpeg",
                "quality": 70,
                "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": PREVIEW_WIDTH / w},
            }
            if jpeg
            # zlib's fastest level: the same pixels in half the time, files ~2x larger
            else {"format": "png", "optimizeForSpeed": True}
        )
        for attempt in range(3):
            try:
                limit = CAPTURE_TIMEOUT_S if attempt == 0 else CALL_TIMEOUT_S
                reply = await self.call(
                    self.cdp.send("Page.captureScreenshot", params), "screenshot", limit
                )
                return base64.b64decode(reply["data"])
            except Hung:
                if attempt == 2 or not await self._wake_compositor():
                    raise
            except PlaywrightError as exc:
                if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def _wake_compositor(self) -> bool:
        """After a capture timed out: False when the page itself is stuck (a
        loop), else start and stop a screencast, which makes the compositor draw."""
        try:
            await self.call(self.cdp.send("Runtime.evaluate", {"expression": "1"}), "ping", 1.0)
            await self.call(
                self.cdp.send("Page.startScreencast", {"format": "jpeg", "maxWidth": 64}),
                "screencast",
                1.0,
            )
            await asyncio.sleep(0.25)
            await self.call(self.cdp.send("Page.stopScreencast"), "screencast", 1.0)
        except (Hung, PlaywrightError):
            return False
        return True

    async def send(self, step: InteractStep, phase: str) -> None:
        kb, mouse = self.page.keyboard, self.page.mouse
        if step.key:
            if phase == "start" and step.hold:
                await self.call(kb.down(step.key), "key down")
            elif phase == "end":
                await self.call(kb.up(step.key), "key up")
            else:
                await self.call(kb.press(step.key), "key press")
        elif step.click:
            await self.call(mouse.click(*step.click), "click")
        elif step.drag:
            (x1, y1), (x2, y2) = step.drag
            await self.call(mouse.move(x1, y1), "mouse move")
            await self.call(mouse.down(), "mouse down")
            await self.call(mouse.move(x2, y2, steps=8), "drag")
            await self.call(mouse.up(), "mouse up")

    async def close(self) -> bool:
        """Close the context (once); False when even that hangs (the browser must go)."""
        context, self.context = self.context, None
        try:
            if context is None or self.browser in self.r._dead:
                return True  # nothing (left) to close, or nothing to close it in
            await asyncio.wait_for(context.close(), timeout=10)
            return True
        except (TimeoutError, PlaywrightError):
            return False
        finally:
            if self._acquired:
                self._acquired = False
                self.r._release(self.browser)


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


def _drop(future: asyncio.Future) -> None:
    """Cancel a call we no longer wait for; whatever it ends with is not an error."""
    future.cancel()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _quiet(awaitable: Any) -> None:
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await awaitable


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
        f'exec {shlex.quote(str(chromium))} "$@"\n'
    )
    script.chmod(0o755)
    return script


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
        except BaseException:
            await self._pw.stop()
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
            "--js-flags=--max-old-space-size=512",
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
        # Playwright turns off Chromium's own limit on history changes (pushState,
        # reloads) per second; with it off, a page doing them in a loop floods the
        # DevTools pipe and slows every page of the run.
        keep = ["--disable-ipc-flooding-protection"]
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
                        ignore_default_args=keep,
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

    async def render(self, artifact: Path, prompt: Prompt) -> PageResult:
        """Observe one page: main load (with input), control load when input is scripted.

        A failure of the browser or of the harness is never the page's verdict: the
        page is rendered again (the last attempt in a browser of its own, so that no
        other page can take it down), and when no attempt gets through the result is
        *not judged*, with the reasons.
        """
        from gallery.render.timeline import observe

        await self.prepare(artifact)
        # Every call into the page has a deadline; this one bounds what none should
        # be left to: a call into a browser that stopped answering.
        backstop = 2 * prompt.render.budget + 2 * LAUNCH_TIMEOUT_S
        failures: list[str] = []
        for attempt in range(RENDER_ATTEMPTS):
            alone = attempt == RENDER_ATTEMPTS - 1
            browser: Browser | None = None
            try:
                browser = await (self._launch() if alone else self.shared_browser())
                return await asyncio.wait_for(observe(self, browser, artifact, prompt), backstop)
            except BrowserGone as exc:
                failures.append(str(exc))
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
