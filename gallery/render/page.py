"""One page load in the sandbox: what the page is given, what is read back, and the session.

``_Load`` is one page in a fresh ``BrowserContext`` of the renderer's browser:
its routes (the artifact's own files from a synthetic origin, CDN libraries
from the offline cache, everything else refused and recorded), the init
script that pins the clock and seeds ``Math.random``, deadlines on every call,
screenshots, and input. The collectors (``COLLECT_SCRIPT``) run in an isolated
world; what they return is validated by ``timeline._page_facts``. The browser
itself (launch, watchdog, replacement) is ``sandbox.Renderer``'s, reached
through the small ``Host`` protocol so this module does not import it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import mimetypes
import re
import time
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from gallery.catalogue.prompts import InteractStep, Prompt
from gallery.render import images
from gallery.render.pacing import Pacing


class Host(Protocol):
    """What a page load and its observation need of the renderer that owns the
    browser (``sandbox.Renderer``): named here so neither imports the renderer."""

    libs: Any
    version: str
    seed: int
    browser: Browser | None
    _dead: set[Any]
    _axe_error: str | None

    async def alive(self, browser: Browser, *, probe: bool = False) -> bool: ...
    async def axe_source(self) -> str | None: ...
    async def shared_browser(self) -> Browser: ...
    def is_shared(self, browser: Browser) -> bool: ...
    async def replace_browser(self, broken: Browser | None) -> None: ...

    def is_cdn(self, url: str) -> bool: ...
    async def fetch_lib(self, url: str) -> Any: ...
    def gone(self, browser: Browser) -> asyncio.Event: ...
    def _acquire(self, browser: Browser) -> None: ...
    def _release(self, browser: Browser) -> None: ...


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
#: How far performance.now() moves on at each call within one virtual instant (ms).
PERF_STEP_MS = 0.01
#: A box of text over the page covering at most this share of the viewport is an overlay.
OVERLAY_SHARE = 0.05
#: ... and an element a CSS animation moves, at most this share: an indicator.
INDICATOR_SHARE = 0.005
MAX_OVERLAYS = 30
#: Overlays kept track of from stop to stop (see WORLD_SCRIPT), and at most how many of
#: those gone by the end are recorded (among the MAX_OVERLAYS).
MAX_SIGHTED = 100
MAX_GONE = 10
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

INIT_SCRIPT = """
(() => {
  const stream = (seed) => {
    let s = seed >>> 0;
    return function random() {
      s = (s + 0x6D2B79F5) >>> 0; let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  };
  const seeded = Math.random = stream(%(seed)d);
  // The CDN libraries gallery serves draw from a stream of their own (see
  // own_random_stream): Tailwind's Play CDN takes random ids each time it restyles
  // the page, as often as the parser happens to yield, which shifted every number
  // the page's own script drew after it from one load to the next. A page that
  // puts its own Math.random in place has the libraries draw from that, as it would.
  const libs = stream(%(seed)d ^ 0x5bd1e995);
  Object.defineProperty(Math, '%(lib_random)s', {
    value: function random() { return Math.random === seeded ? libs() : Math.random(); },
  });
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
  // Smooth scrolling runs on real time, in the compositor: a shot taken while one is
  // under way caught the page anywhere along it (a typing test that scrolls the next
  // letter into view showed its header cut at a different height in each render).
  // Every scroll the page asks for lands at once, where the smooth one would end.
  const instant = (o) => (o && typeof o === 'object' && o.behavior === 'smooth')
    ? Object.assign({}, o, {behavior: 'instant'}) : o;
  for (const [proto, names] of [[Element.prototype, ['scroll', 'scrollTo', 'scrollBy', 'scrollIntoView']],
                                [window, ['scroll', 'scrollTo', 'scrollBy']]]) {
    for (const name of names) {
      const original = proto[name];
      if (typeof original !== 'function') continue;
      proto[name] = function (...args) {
        if (args.length) args[0] = instant(args[0]);
        return apply(original, this, args);
      };
    }
  }
  // The text caret blinks on a real-time timer of its own: hide it for good (a
  // stylesheet that is no DOM node), as Playwright hides it for each screenshot. And
  // a stylesheet's `scroll-behavior: smooth` (anchors, focus) gives way to instant.
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync('*, *::before, *::after { caret-color: transparent !important; }'
                      + ' * { scroll-behavior: auto !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) {}
})();
"""

#: Set up once in the load's isolated world (see ``_Load.world``): the page's own
#: script can neither see nor redefine what runs there.
WORLD_SCRIPT = """
(() => {
  // CSS, Web and SVG animations run on real time; pin them to the virtual clock.
  // An animation starts where it is first seen. A CSS transition is taken to have
  // started at the stop before: a page that changes a transitioned property every
  // frame (a clock hand with `transition: transform .1s`) makes a chain of them, each
  // from the value the one before had reached when the browser happened to draw, in
  // real time; taken from the stop before, the last one has run its course by now and
  // shows the page's value, the same every time. A lone transition (a hover, a slow
  // fade) starts from a value that does not depend on drawing, and is seen moving.
  // "The stop before" is the last different time this was called at: it is called
  // again at the same stop between the events of one input (a click's move, press
  // and release each start a transition from where the one before had got to, so
  // each is pinned before the next begins) and after the frames before a shot.
  const starts = new WeakMap(), done = new WeakSet(), hinted = new Map();
  let last = 0, current = 0;
  // `will-change: transform` tells the compositor to keep a layer's raster scale
  // while its transform changes: it is re-rastered only when real frames happen to
  // catch it entering or leaving an animation, so a scaling blob came out a level
  // lighter or darker from one load to the next. On an element the animation already
  // transforms, the hint changes nothing else (the transform makes the stacking
  // context and the containing block): it is set aside there, and given back if
  // the element's transform goes back to none.
  const transformed = (cs) => cs.transform !== 'none' || cs.translate !== 'none' ||
    cs.scale !== 'none' || cs.rotate !== 'none';
  const unhint = (el) => {
    if (!el || !el.style || hinted.has(el) || hinted.size >= 200) return;
    const cs = getComputedStyle(el);
    if (cs.willChange === 'auto' || !transformed(cs)) return;
    hinted.set(el, [el.style.getPropertyValue('will-change'), el.style.getPropertyPriority('will-change')]);
    el.style.setProperty('will-change', 'auto', 'important');
  };
  const rehint = () => {
    for (const [el, [value, priority]] of hinted) {
      if (el.isConnected && transformed(getComputedStyle(el))) continue;
      el.style.setProperty('will-change', value, priority);
      hinted.delete(el);
    }
  };
  globalThis.__gallerySync = (now, sight) => {
    if (now !== current) { last = current; current = now; }
    if (sight) __gallerySight();
    const moved = [];
    for (const a of document.getAnimations()) {
      if (!starts.has(a)) starts.set(a, a instanceof CSSTransition ? last : now);
      if (done.has(a)) continue;
      try { a.pause(); a.currentTime = now - starts.get(a); } catch (e) {}
      if (a.playState === 'finished') done.add(a);
      else moved.push(a.effect && a.effect.target);
    }
    // After every animation is pinned: each time set makes the style stale, and
    // reading it between them would recompute it once per animation.
    for (const el of moved) try { unhint(el); } catch (e) {}
    if (hinted.size) try { rehint(); } catch (e) {}
    // SVG's own (SMIL) animations run on each <svg>'s clock: paused, and set to the time.
    for (const svg of document.querySelectorAll('svg')) {
      if (svg.ownerSVGElement || typeof svg.pauseAnimations !== 'function') continue;
      if (!starts.has(svg)) starts.set(svg, now);
      try { svg.pauseAnimations(); svg.setCurrentTime((now - starts.get(svg)) / 1000); } catch (e) {}
    }
  };
  // Small boxes of text laid over the page (position fixed/absolute/sticky, at most
  // %(overlay_share)s of the viewport: a frame counter, a caption, a hint) and small
  // elements that a CSS or Web Animation moves (at most %(indicator_share)s: a spinner, a
  // pulsing dot, a blinking cursor), as [element, its box, kind]. Neither is the page's
  // content; a counter's or an indicator's changes are not its motion either (timeline.py).
  // A CSS transition is not an indicator: it is one change of the element's state, and
  // whether it exists at all depends on whether a style was computed between two changes
  // (a loading bar set to a tenth, then full, in one script), which the parser's real-time
  // yields decide: as an indicator it made the same page's overlays differ between loads.
  // Each overlay as [element, box, kind, its text (trimmed; '' for an indicator)].
  globalThis.__galleryOverlays = () => {
    const body = document.body, vw = innerWidth, vh = innerHeight;
    const out = [], seen = new Set(), placed = new Map();
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
    for (let n = 0; n < 3000 && out.length < %(max_overlays)d && walker.nextNode(); n++) {
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
      out.push([el, r, words.length <= 60 && /[0-9]/.test(words) ? 'counter' : 'text', words]);
    }
    for (const a of document.getAnimations().slice(0, 200)) {
      if (out.length >= %(max_overlays)d) break;
      if (a instanceof CSSTransition) continue;
      const el = a.effect && a.effect.target;
      if (!el || !el.getBoundingClientRect || seen.has(el)) continue;
      seen.add(el);
      const r = el.getBoundingClientRect();
      if (r.width <= 0 || r.height <= 0 || r.width * r.height > %(indicator_share)s * vw * vh) continue;
      out.push([el, r, 'indicator', '']);
    }
    return out;
  };
  // Overlays seen at the main load's stops, each with where it was seen: one seen and
  // gone by the end of the load (a loading caption, a hint, a toast) is neither content
  // nor motion, though it changed the pixels where it was (timeline.py).
  const sighted = new Map();
  const shown = (el) => {
    if (!el.isConnected) return false;
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight;
  };
  globalThis.__gallerySight = () => {
    const now = __galleryOverlays();
    for (const [el, r, , words] of now) {
      if (!shown(el)) continue;
      const text = words.slice(0, 200);
      const seen = sighted.get(el);
      if (!seen) {
        if (sighted.size < %(max_sighted)d) {
          sighted.set(el, {box: [r.left, r.top, r.right, r.bottom], area: r.width * r.height,
                           text, changed: false, blinked: false});
        }
        continue;
      }
      if (text !== seen.text) seen.changed = true;
      // A toast that slides a little covers its path. One that travels further is kept
      // where it was first seen: the path of a text cursor that moves along the line it
      // types covers the typed text, which is the page moving.
      const b = seen.box;
      const u = [Math.min(b[0], r.left), Math.min(b[1], r.top), Math.max(b[2], r.right), Math.max(b[3], r.bottom)];
      if ((u[2] - u[0]) * (u[3] - u[1]) <= 2 * seen.area) seen.box = u;
    }
    // Hidden at this stop with nothing in its place: if it is shown again at the end
    // with the same text, it blinks ("PRESS START"), see __galleryBlinks.
    for (const [el] of __galleryGone(now)) sighted.get(el).blinked = true;
  };
  // Gone: not shown now, and nothing shown now in its place. A word rotator or a cycling
  // caption replaces its element with another where it stood: that change is the page
  // moving. ``now``: the overlays there now (``__galleryOverlays()``).
  const overlap = (a, b) =>
    Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) *
    Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
  globalThis.__galleryGone = (now) => {
    const there = now.filter(([el]) => shown(el)).map(([, r]) => [r.left, r.top, r.right, r.bottom]);
    return [...sighted]
      .filter(([el, s]) => !shown(el) &&
        !there.some(b => overlap(b, s.box) >= 0.5 * Math.min(area(b), area(s.box))))
      .map(([el, s]) => [el, s.box]);
  };
  // Blinks: overlays shown now that were hidden at a stop with nothing in their place,
  // their text the same at every stop. Whether a blinking caption is shown or hidden at
  // the end is its phase, not the page: both ways it is an overlay that only comes and
  // goes (a caption typing out changes its text; a word rotator has another word in its
  // place).
  globalThis.__galleryBlinks = () =>
    new Set([...sighted].filter(([el, s]) => s.blinked && !s.changed && shown(el)).map(([el]) => el));
  // Two real animation frames (this world's requestAnimationFrame is not the clock's):
  // a frame callback runs before that frame's commit, so only the second one comes
  // after what was set before the first (a paused animation's time) has been drawn.
  globalThis.__galleryFrame = () => new Promise(r =>
    requestAnimationFrame(() => requestAnimationFrame(() => r(1))));
})();
"""

WORLD_SCRIPT %= {
    "overlay_share": OVERLAY_SHARE,
    "indicator_share": INDICATOR_SHARE,
    "max_overlays": MAX_OVERLAYS,
    "max_sighted": MAX_SIGHTED,
}

#: The page's facts at the end of the load, from the isolated world (``_Load.world``):
#: native DOM getters the page cannot redefine; every string and list is cut here.
COLLECT_SCRIPT = """
(() => {
  const body = document.body;
  const canvases = [...document.querySelectorAll('canvas')].slice(0, 20).map(c => {
    const r = c.getBoundingClientRect();
    return {width: c.width, height: c.height, visible: r.width > 0 && r.height > 0};
  });
  let webglAvailable = false;
  try { webglAvailable = !!document.createElement('canvas').getContext('webgl'); } catch (e) {}
  // Overlays seen at a stop and gone by now first (where each was), then the overlays
  // there now, a blinking caption among them marked so (see WORLD_SCRIPT).
  const now = __galleryOverlays(), gone = __galleryGone(now);
  const overlays = gone.slice(0, %(max_gone)d).map(([, b]) =>
    [Math.floor(b[0]), Math.floor(b[1]), Math.ceil(b[2] - b[0]), Math.ceil(b[3] - b[1]), 'gone']);
  const left = new Set(gone.map(([el]) => el)), blinks = __galleryBlinks();
  for (const [el, r, kind] of now) {
    if (overlays.length >= %(max_overlays)d) break;
    if (left.has(el)) continue;
    const k = kind === 'text' && blinks.has(el) ? 'blink' : kind;
    overlays.push([Math.floor(r.left), Math.floor(r.top), Math.ceil(r.width), Math.ceil(r.height), k]);
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

COLLECT_SCRIPT %= {"max_overlays": MAX_OVERLAYS, "max_gone": MAX_GONE}

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


class Unconfirmed(BrowserGone):
    """The page stopped answering in the browser it shares with other pages. That can
    be the page (a loop) or the browser (seen: its GPU process stalled, and a page
    waiting on it stops answering too, now and then, under load): only the same in a
    browser of the page's own makes it the page's verdict."""


#: Where a served library's ``Math.random()`` calls go (see ``own_random_stream``).
LIB_RANDOM = "__galleryLibRandom"
_MATH_RANDOM_CALL = re.compile(rb"\bMath\.random\(")


def own_random_stream(body: bytes) -> bytes:
    """A CDN library's script with its ``Math.random()`` calls drawing from the
    libraries' own seeded stream instead of the page's.

    Some libraries draw random numbers as often as real time allows (Tailwind's
    Play CDN takes six ids each time it restyles the page, and it restyles each
    time the HTML parser yields). On the page's one stream that moved every
    number the page's own script drew afterwards, so a typing animation typed a
    different line in one load than in the next. Where the stream is missing (a
    worker the library starts from its own source) the call falls back to
    ``Math.random``. Assignments and references without a call are left alone:
    a library that seeds ``Math.random`` for the page still does, and once the
    page (or a library) has put its own ``Math.random`` in place, the libraries'
    calls go to it, as they would in a person's browser.
    """
    return _MATH_RANDOM_CALL.sub(b"(Math." + LIB_RANDOM.encode() + b"||Math.random)(", body)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


@dataclass
class PageResult:
    """What one sample's render produced: the observation, the image files, the pacing."""

    observation: dict[str, Any]
    shots: dict[str, bytes] = field(default_factory=dict)
    preview_frames: list[bytes] = field(default_factory=list)
    #: How the main load was stepped (None: it was not observed to the end).
    pacing: Pacing | None = None


def not_judged(renderer: Host, failures: list[str]) -> PageResult:
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
        renderer: Host,
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
        self.pointed = False  # the mouse has been on the page (see ``settle``)
        self._popups: list[Page] = []  # opened by the page, closed before the next clock call
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
        except asyncio.CancelledError:
            _drop(call)  # the run is stopping: the call's own end is nobody's error
            raise
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
            own = self._in_main_frame(request) if request.is_navigation_request() else False
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
            elif own:
                self._record("navigations", url)
                await route.fulfill(status=204)  # 204 cancels a navigation and keeps the page
                return
            elif own is None:  # a popup's first navigation: recorded here, not as its page
                self._record("blocked", {"url": url, "reason": "a popup outside the sandbox"})
            elif any(host == h or host.endswith("." + h) for h in FONT_HOSTS):
                self._record("fonts", url)
            else:
                self._record("blocked", {"url": url, "reason": "outside the sandbox"})
            await route.abort("blockedbyclient")
        except PlaywrightError:
            pass  # the page or context went away mid-request

    def _in_main_frame(self, request: Any) -> bool | None:
        """Whether a navigation request is the page's own; None for a popup's first one.

        That one has no frame yet: ``request.frame`` raises. Taken for a failure of the
        page, the request was left unanswered, Playwright never reported the popup, and
        the page it came from often drew no frame again, so its captures timed out and
        it was recorded "hung" (16 of 24 renders of a landing page whose sign-up link,
        clicked by an input step, opens a new tab).
        """
        try:
            return request.frame == self.page.main_frame
        except PlaywrightError:
            return None

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
                        "lib_random": LIB_RANDOM,
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
        # The document timeline stands still: every animation runs only where the world
        # script pins it, and one the script cannot see (a range input's thumb, in the
        # browser's own shadow tree) waits where it began instead of running on real time.
        await self.call(
            asyncio.gather(
                self.cdp.send("Performance.enable"),
                self.cdp.send("Page.enable"),
                self.cdp.send("Animation.setPlaybackRate", {"playbackRate": 0}),
            ),
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
        if not page.url.startswith("chrome-error:"):  # else its request was refused
            self._record("popups", page.url)
        self._popups.append(page)

    async def _close_popups(self) -> None:
        """Close the popups the page opened, between clock calls, never during one.

        Playwright's clock runs in every page of the context: a popup closed while
        it ran failed the call ("Target page, context or browser has been closed"),
        and that was recorded as the page's error.
        """
        while self._popups:
            popup = self._popups.pop()
            with contextlib.suppress(PlaywrightError):
                await self.call(popup.close(), "closing a popup")

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
        await self._close_popups()
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

    async def sync_animations(self, *, sight: bool = False) -> None:
        """Pin CSS/Web Animations to the virtual time (called at every stop, in both loads);
        with ``sight``, note the overlays shown now (the main load's stops)."""
        flag = "true" if sight else "false"
        await self.in_world(f"__gallerySync({int(self.vt)}, {flag})", "animation sync")

    async def settle(self) -> None:
        """Let real frames pass before a timed screenshot.

        A CSS transform animation pinned at a new time is drawn a frame later:
        captured at once, its edges came out one way or the other depending on the
        machine's load (seen: 2 renders in 8 differed). After the frames they are
        the same every time. Once the pointer has been on the page, Chromium
        updates what is hovered in those frames (the page moved under it: a
        clicked minesweeper cell opened), which starts transitions on real time:
        they are pinned and drawn before the capture too. A frame that does not
        come in a second is not waited for (the capture has its own remedy for a
        stuck compositor).
        """
        with contextlib.suppress(Hung):
            await self.in_world("__galleryFrame()", "frame", promise=True, limit=1.0)
            if self.pointed:
                await self.sync_animations()
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
        params: dict[str, Any] = (
            # Preview frames are captured at full size and scaled in `images`: a
            # scaled clip made the compositor re-raster, and under load a later
            # full-size shot showed the quarter-size picture in its corner.
            {"format": "jpeg", "quality": images.PREVIEW_QUALITY}
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
                data = base64.b64decode(reply["data"])
                if jpeg:
                    return await asyncio.to_thread(images.preview_frame, data)
                return data
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
        loop), else start and stop a screencast, which makes the compositor draw.

        The page gets the same deadline as any call to answer: with a second, a healthy
        page on a machine busy with 35 others (memory and fork bombs among them) was
        taken for a stuck one and recorded "hung"; a page in a loop does not answer in
        ten seconds either.
        """
        try:
            await self.call(self.cdp.send("Runtime.evaluate", {"expression": "1"}), "ping")
            await self.call(
                self.cdp.send("Page.startScreencast", {"format": "jpeg", "maxWidth": 64}),
                "screencast",
            )
            await asyncio.sleep(0.25)
            await self.call(self.cdp.send("Page.stopScreencast"), "screencast")
        except (Hung, PlaywrightError):
            return False
        return True

    async def send(self, step: InteractStep, phase: str) -> None:
        """One input step, event by event, pinning what each event starts before the
        next (see WORLD_SCRIPT): between Playwright's events of a click real time
        passes, and a transition left running would hand the next one a start
        value that depends on it. Once the pointer is on the page, the frames of
        ``settle`` pass after each event too: Chromium updates what is hovered at a
        real frame after the page changed under the pointer (a pressed cell's
        `:active` shrink took it from under the pointer), and that update must land
        between the same two events every time, not wherever real time put a frame
        (a tic-tac-toe board's hovered cell came out rasterised one way or the other,
        with the same styles either way)."""
        kb, mouse = self.page.keyboard, self.page.mouse
        calls: list[tuple[Any, str]] = []
        if step.key:
            if phase == "start" and step.hold:
                calls = [(lambda: kb.down(step.key), "key down")]
            elif phase == "end":
                calls = [(lambda: kb.up(step.key), "key up")]
            else:
                calls = [
                    (lambda: kb.down(step.key), "key down"),
                    (lambda: kb.up(step.key), "key up"),
                ]
        elif step.click:
            x, y = step.click
            calls = [
                (lambda: mouse.move(x, y), "mouse move"),
                (lambda: mouse.down(), "mouse down"),
                (lambda: mouse.up(), "mouse up"),
            ]
        elif step.drag:
            (x1, y1), (x2, y2) = step.drag
            calls = [
                (lambda: mouse.move(x1, y1), "mouse move"),
                (lambda: mouse.down(), "mouse down"),
                (lambda: mouse.move(x2, y2, steps=8), "drag"),
                (lambda: mouse.up(), "mouse up"),
            ]
        self.pointed = self.pointed or bool(step.click or step.drag)
        for i, (make, what) in enumerate(calls):
            if i:
                await (self.settle() if self.pointed else self.sync_animations())
            await self.call(make(), what)
        if self.pointed:
            await self.settle()

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


def _drop(future: asyncio.Future) -> None:
    """Cancel a call we no longer wait for; whatever it ends with is not an error."""
    future.cancel()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _quiet(awaitable: Any) -> None:
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await awaitable
