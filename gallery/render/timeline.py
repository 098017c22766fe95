"""The observation of one page: the timeline of the main load and its control.

``sandbox.py`` and ``page.py`` own the browser, the sandbox and the clock; this module decides
*what to look at when*: which virtual times to stop at, when to send input,
which frames become screenshots and the preview, how a heavy page is sampled,
and what is measured at the end (DOM, checks' JS, axe-core). The result is
the ``observation.json`` that ``checks/judge.py`` turns into a verdict.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import msgspec
from playwright.async_api import Error as PlaywrightError

from gallery.checks.judge import KINDS, input_changed, moves_without_input
from gallery.render import images
from gallery.render.images import PREVIEW_WIDTH
from gallery.render.pacing import Pacing
from gallery.render.page import (
    COLLECT_SCRIPT,
    ELEMENT_CHECK,
    FRAME_MS,
    HEAVY_PROBE_S,
    HEAVY_PROBE_WALL_FACTOR,
    JS_CHECK,
    MAX_OVERLAYS,
    PROBE_FIRST_MS,
    PROBE_MS,
    RECORDS_SCRIPT,
    SAMPLE_WINDOW_MS,
    VERY_HEAVY_FRAME_S,
    BrowserGone,
    Host,
    Hung,
    PageResult,
    Unconfirmed,
    _Load,
    _plan,
    shot_name,
)

#: A heavy page whose frames at every stop would take more than this share of its
#: budget stops only at its timed shots and inputs (no preview frames between).
SPARSE_SHARE = 0.5

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from gallery.catalogue.prompts import Prompt


async def observe(
    renderer: Host, browser: Browser, artifact: Path, prompt: Prompt, pacing: Pacing | None = None
) -> PageResult:
    """Main load with input, then (when input is scripted) the control load without.

    ``pacing`` steps the page as an earlier render of it was stepped (None: the
    probe decides). Raises ``BrowserGone`` when the browser fails under the page:
    what the page did up to then is not its verdict.
    """
    started = time.monotonic()
    deadline = started + prompt.render.budget
    stops, preview_times, events = _plan(prompt)
    first_input = min((t for t, _, _ in events), default=None)
    main = _Load(renderer, browser, artifact, prompt, renderer.seed, deadline)
    result = PageResult(observation={})
    status, detail = "ok", None
    ops: list[tuple[str, Any]] = []
    failed: Exception | None = None
    try:
        await main.open()
        ops = await _timeline(main, prompt, stops, preview_times, events, result, deadline, pacing)
        await _collect(renderer, main, prompt)
    except (Hung, PlaywrightError) as exc:
        failed = exc
    finally:
        await _close(renderer, main)
    if failed is not None:
        status, detail = await _failure(renderer, main, failed)
    if main.obs["crashed"]:
        status, detail = "crashed", detail or "the page crashed (out of memory?)"

    obs = main.obs
    obs["status"] = status
    obs["detail"] = detail
    obs["mode"] = main.mode
    obs["virtual_time_s"] = main.vt / 1000
    obs["chromium"] = renderer.version
    obs["seed"] = renderer.seed
    obs["first_input_s"] = first_input
    # Pillow work off the event loop, so the other pages in flight keep going.
    await asyncio.to_thread(_measure, obs, result, prompt)
    result.observation = obs

    if first_input is not None and status == "ok":
        obs["interactive"] = await _control(
            renderer, browser, artifact, prompt, ops, first_input, result
        )
    obs["real_time_s"] = round(time.monotonic() - started, 3)
    result.observation = obs
    return result


async def _failure(renderer: Host, load: _Load, exc: Exception) -> tuple[str, str]:
    """What a failed call says about the page: (status, detail), or ``BrowserGone``.

    A hang or an error counts against the page only while its browser still
    answers (asked once the load is closed): a browser that died or stalls
    failed every page it held. A hang in the shared browser is the page's only
    once it hangs again in a browser of its own (``Unconfirmed``).
    """
    detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if not await renderer.alive(load.browser, probe=True):
        raise BrowserGone(f"the browser stopped answering while the page ran ({detail})")
    if isinstance(exc, Hung) and renderer.is_shared(load.browser):
        raise Unconfirmed(f"the page stopped answering in the shared browser ({detail})")
    if isinstance(exc, Hung):
        return "hung", detail
    return ("crashed" if load.obs["crashed"] else "error"), detail


async def _close(renderer: Host, load: _Load) -> None:
    """Close a load's context; a context that will not close takes its browser with it."""
    closed = await load.close()
    # (A dead browser is relaunched by the next load that needs it.)
    if not closed and load.browser is renderer.browser and await renderer.alive(load.browser):
        await renderer.replace_browser(load.browser)


async def _timeline(
    main: _Load,
    prompt: Prompt,
    stops,
    preview_times,
    events,
    result: PageResult,
    deadline: float,
    pacing: Pacing | None = None,
):
    """Step the clock through every stop; returns the op log for the control load.

    The pacing used (``pacing`` when given, else the probe's decision) is left in
    ``result.pacing`` once the last stop is reached.
    """
    ops: list[tuple[str, Any]] = []
    shots = set(prompt.render.screenshots)
    previews = set(preview_times)
    budget = prompt.render.budget
    # Probe: run the first frames for real and time them to pick the mode. The
    # first 50 ms (three frames) go first, and a page that has already used the
    # whole probe's allowance then is heavy at once: the verdict is the one the
    # full span would give (time only grows), but a fractal that needs 200 ms a
    # frame computes three frames here instead of fifteen. (One step more, not
    # more: each step is a round trip, and on a loaded machine round trips alone
    # would eat into a light page's margin.)
    probe = min(PROBE_MS, int(stops[0] * 1000)) if stops[0] > 0 else 0
    allowance = HEAVY_PROBE_S * probe / PROBE_MS
    main.mode = "full"
    cpu = wall = 0.0
    gl = 0
    ran: list[int] = []
    if probe:
        cpu0, _ = await main.cpu_time()
        t0 = time.monotonic()
        for ms in pacing.probe_ms if pacing else _probe_steps(probe):
            await main.advance("run", ms)
            ops.append(("run", ms))
            ran.append(ms)
            cpu, gl = await main.cpu_time(finish_gl=True)
            cpu, wall = cpu - cpu0, time.monotonic() - t0
            heavy = cpu > allowance or (gl and wall > allowance * HEAVY_PROBE_WALL_FACTOR)
            if heavy and not pacing:
                main.mode = "sampled"
                break
    frames = max(1, round(main.vt / FRAME_MS))
    main.obs["probe"] = {
        "virtual_ms": main.vt,
        "cpu_s": round(cpu, 4),
        "real_s": round(wall, 4),
        "webgl": gl,
    }
    if pacing is None:
        # A very heavy page gets no frames of its own around the shots: only the one
        # that fast-forwarding fires at each stop (enough for the preview to move).
        cost = max(cpu, wall / HEAVY_PROBE_WALL_FACTOR if gl else 0.0)
        very_heavy = cost / frames > VERY_HEAVY_FRAME_S
        # A page so heavy that one frame at each stop would not fit in its budget
        # (WebGL drawn in software can take seconds a frame) is looked at only where
        # it matters: the timed shots and the input. Three shots seen are a verdict;
        # fifteen frames begun and none finished are a hang that is ours, not the page's.
        per_frame = max(cpu, wall) / frames
        sampled = main.mode == "sampled"
        pacing = Pacing(
            mode=main.mode,
            probe_ms=tuple(ran),
            window_ms=SAMPLE_WINDOW_MS if sampled and not very_heavy else 0,
            sparse=sampled and per_frame * len(stops) > SPARSE_SHARE * budget,
        )
        main.obs["pacing_from"] = "probe"
    else:
        main.obs["pacing_from"] = "memo"
    main.mode = pacing.mode
    window = pacing.window_ms
    if pacing.sparse:
        needed = shots | {t for t, _, _ in events}
        stops = [t for t in stops if t in needed]
        previews = shots  # the preview is made of the shots' frames
        main.obs["sparse"] = True
    budget_from = None
    for stop in stops:
        target = int(round(stop * 1000))
        delta = target - main.vt
        out_of_time = time.monotonic() - (deadline - budget) > budget * 0.6
        over_budget = out_of_time or (pacing.budget_from is not None and stop >= pacing.budget_from)
        if delta > 0:
            if over_budget:
                main.mode = "budget"
                budget_from = stop if budget_from is None else budget_from
                steps = [("ff", delta)]
            elif main.mode == "full":
                steps = [("run", delta)]
            elif stop in shots and window and delta > window:
                steps = [("ff", delta - window), ("run", window)]
            else:
                steps = [("ff", delta)]
            for kind, ms in steps:
                await main.advance(kind, ms)
                ops.append((kind, ms))
        ops.append(("stop", stop))
        await main.sync_animations(sight=True)
        sent = False
        for t, step, phase in events:
            if t == stop:
                await main.send(step, phase)
                sent = True
        if sent:
            # what the input started (a hover, a press) is pinned at its first instant,
            # not left to run on real time until the screenshot
            await main.sync_animations()
        if stop in shots:
            await main.settle()
            result.shots[shot_name(stop)] = await main.screenshot()
        if stop in previews:
            # All preview frames are JPEG: mixing in the PNG shots would make
            # compression noise look like motion.
            result.preview_frames.append(await main.screenshot(jpeg=True))
            main.obs.setdefault("frame_times", []).append(stop)
    result.pacing = msgspec.structs.replace(pacing, budget_from=budget_from)
    main.obs["pacing"] = msgspec.to_builtins(result.pacing)
    return ops


def _probe_steps(probe: int) -> list[int]:
    """The probe span in two steps (ms): the first 50, then the rest."""
    first = min(probe, PROBE_FIRST_MS)
    return [ms for ms in (first, probe - first) if ms > 0]


async def _collect(renderer: Host, main: _Load, prompt: Prompt) -> None:
    """DOM facts, the prompt's JS and element checks, and axe-core when asked for.

    DOM facts come from the isolated world; gallery's records and the prompt's
    ``js`` expressions from the page's own world (that is what they are about),
    and nothing read back is trusted before ``_page_facts`` has checked it.
    """
    facts = _value(await main.in_world(COLLECT_SCRIPT, "collect"))
    records = _value(
        await main.call(
            main.cdp.send(
                "Runtime.evaluate", {"expression": RECORDS_SCRIPT, "returnByValue": True}
            ),
            "records",
        )
    )
    main.obs["page"] = _page_facts(facts, records, main.obs)
    js, elements = {}, {}
    collects = {KINDS[c.kind].collects for c in prompt.checks}
    for check in prompt.checks:
        if KINDS[check.kind].collects == "js":
            got = await main.call(main.page.evaluate(JS_CHECK, check.params["expr"]), "js check")
            js[check.name] = _js_result(got)
        elif KINDS[check.kind].collects == "element":
            sel = check.params["selector"]
            got = _value(await main.in_world(ELEMENT_CHECK % json.dumps(sel), "element check"))
            elements[sel] = _element_result(got)
    main.obs["js"], main.obs["elements"] = js, elements
    if "axe" in collects:
        main.obs["axe"] = await _axe(renderer, main)


def _value(reply: Any) -> Any:
    """The value of a CDP ``Runtime.evaluate`` reply (None when it threw or has none)."""
    if not isinstance(reply, dict) or "exceptionDetails" in reply:
        return None
    return (reply.get("result") or {}).get("value")


#: The shapes of what the page's world sends back (``COLLECT_SCRIPT``, the records):
#: checked by msgspec, item by item, so one bad item is dropped, not the whole list.
Count = Annotated[int, msgspec.Meta(ge=0)]


class _Canvas(msgspec.Struct):
    width: Count
    height: Count
    visible: bool = False


OverlayKind = Literal["text", "counter", "indicator", "gone", "blink"]
_Overlay = tuple[int, int, int, int, OverlayKind]
_Pair = tuple[str, bool | str]


def _as(value: Any, shape: Any) -> Any:
    """``value`` as ``shape``, or None when it is not one."""
    try:
        return msgspec.convert(value, shape)
    except (msgspec.ValidationError, TypeError):
        return None


def _text(value: Any, limit: int) -> str:
    got = _as(value, str)
    return got[:limit] if got is not None else ""


def _count(value: Any) -> int:
    got = _as(value, Count)
    return got if got is not None else 0


def _page_facts(facts: Any, records: Any, obs: dict[str, Any]) -> dict[str, Any]:
    """The page's facts and gallery's records, checked for type, range and size.

    The page can redefine what its own world returns (and, through the DevTools
    protocol, send any JSON back): whatever is not of the expected shape is left
    out, and that it was is recorded (``obs["tampered"]``), as the page's doing.
    """
    bad: list[str] = []
    f = facts if isinstance(facts, dict) else {}
    r = records if isinstance(records, dict) else {}
    if not isinstance(facts, dict):
        bad.append("page facts")

    def rows(value: Any, name: str, shape: Any, limit: int) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            bad.append(name)
            return []
        good = [shape(v) for v in value[:limit]]
        if any(g is None for g in good):
            bad.append(name)
        return [g for g in good if g is not None]

    def canvas(v: Any) -> dict | None:
        c = _as(v, _Canvas)
        return None if c is None else {"width": c.width, "height": c.height, "visible": c.visible}

    def rect(v: Any) -> list | None:
        r = _as(v, _Overlay)
        return None if r is None else [*(max(-(10**5), min(10**5, n)) for n in r[:4]), r[4]]

    def pair(v: Any, a: int, b: int) -> list | None:
        got = _as(v, _Pair)
        if got is None:
            return None
        first, second = got
        return [first[:a], second if isinstance(second, bool) else second[:b]]

    def url(v: Any) -> str | None:
        got = _as(v, str)
        return None if got is None else got[:300]

    for key in ("dialog_count", "open_count", "console_dropped"):
        if r.get(key) is not None and _count(r.get(key)) != r.get(key):
            bad.append(key)
    out = {
        "title": _text(f.get("title"), 300),
        "text": _text(f.get("text"), 2000),
        "dom_nodes": _count(f.get("dom_nodes")),
        "canvases": rows(f.get("canvases"), "canvases", canvas, 20),
        "webgl_available": f.get("webgl_available") is not False,
        "overlays": rows(f.get("overlays"), "overlays", rect, MAX_OVERLAYS),
        "lang": _text(f.get("lang"), 100) or None,
        "contexts": rows(r.get("contexts"), "contexts", lambda v: pair(v, 40, 0), 50),
        "dialogs": rows(r.get("dialogs"), "dialogs", lambda v: pair(v, 20, 200), 50),
        "dialog_count": _count(r.get("dialog_count")),
        "opens": rows(r.get("opens"), "opens", url, 50),
        "open_count": _count(r.get("open_count")),
        "console_dropped": _count(r.get("console_dropped")),
    }
    if bad:
        obs["tampered"] = sorted(set(bad))
    return out


def _js_result(got: Any) -> dict[str, Any]:
    if isinstance(got, dict) and isinstance(got.get("value"), bool):
        return {"value": got["value"]}
    if isinstance(got, dict) and isinstance(got.get("error"), str):
        return {"error": got["error"][:300]}
    return {"error": "the expression's result could not be read back"}


def _element_result(got: Any) -> dict[str, Any]:
    if isinstance(got, dict) and isinstance(got.get("error"), str):
        return {"error": got["error"][:300]}
    if isinstance(got, dict):
        return {"count": _count(got.get("count")), "visible": _count(got.get("visible"))}
    return {"error": "the selector's result could not be read back"}


AXE_RUN = (
    "axe.run(document, {resultTypes: ['violations']})"
    ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
    " nodes: v.nodes.length, target: (v.nodes[0] || {}).target})))"
)


async def _axe(renderer: Host, main: _Load) -> dict[str, Any]:
    """axe-core on the page as it stands at the end, from a JavaScript world of its own.

    An isolated world shares the page's DOM but not its globals, so axe gets the
    real timers it schedules its work on while the page's clock stays paused:
    the page does not animate (in real time) under axe, which costs a heavy page
    seconds and made the result depend on the machine's speed. No ``<script>``
    is added to the page either.
    """
    source = await renderer.axe_source()
    if source is None:
        return {"error": renderer._axe_error}
    cdp = main.cdp
    tree = await main.call(cdp.send("Page.getFrameTree"), "frame tree")
    world = await main.call(
        cdp.send(
            "Page.createIsolatedWorld",
            {"frameId": tree["frameTree"]["frame"]["id"], "worldName": "gallery-axe"},
        ),
        "axe world",
    )
    world_id = world["executionContextId"]
    run = {"awaitPromise": True, "returnByValue": True}
    for expression, what, extra in ((source, "axe inject", {}), (AXE_RUN, "axe-core", run)):
        reply = await main.call(
            cdp.send(
                "Runtime.evaluate", {"expression": expression, "contextId": world_id, **extra}
            ),
            what,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text")
            return {"error": f"{what} failed: {str(text).splitlines()[0][:300]}"}
    return {"violations": reply["result"].get("value")}


#: What an overlay is: a box of text, a counter (short text with a number), an indicator
#: (a small element a CSS animation moves: a spinner, a pulsing dot), one of these
#: seen at a stop and gone by the end of the load (a loading caption, a hint, a toast),
#: or a box of text that blinks: hidden at a stop with nothing in its place and shown
#: again, its text unchanged ("PRESS START").
OVERLAY_KINDS: tuple[str, ...] = get_args(OverlayKind)
#: Overlays whose changes are not the page moving (a caption typing out is; one that
#: only appears and goes, or blinks, is not).
STILL_OVERLAYS = ("counter", "indicator", "gone", "blink")


def overlay_rects(
    obs: dict[str, Any], scale: float, kinds: tuple[str, ...] = OVERLAY_KINDS
) -> list[images.Rect]:
    """The page's overlays of ``kinds`` (CSS px) as rectangles of an image at ``scale``,
    with a margin for anti-aliasing and glow."""
    pad = 2
    return [
        (int(x * scale) - pad, int(y * scale) - pad, int(w * scale) + 2 * pad + 1,
         int(h * scale) + 2 * pad + 1)
        for x, y, w, h, kind in (obs.get("page") or {}).get("overlays", [])
        if kind in kinds
    ]  # fmt: skip


def _measure(obs: dict[str, Any], result: PageResult, prompt: Prompt) -> None:
    """Pixel facts: frame-to-frame change, visible content, colours.

    Motion is measured twice: between consecutive preview frames (JPEG, a fraction
    of a second apart), and between the timed screenshots before any input
    (lossless, seconds apart, at full size), which show a slow zoom or a faint
    pulse that consecutive small frames do not. Overlays (small boxes of text laid
    over the page, small animated indicators: a frame counter, a caption, a
    spinner) count neither as content nor as motion; the figures with them are
    kept (``*_with_overlays``) to say so.
    """
    r = prompt.render
    frame_rects = overlay_rects(obs, PREVIEW_WIDTH / r.viewport[0], STILL_OVERLAYS)
    shot_rects = overlay_rects(obs, r.device_scale, STILL_OVERLAYS)
    content_rects = overlay_rects(obs, r.device_scale)
    frames = [images.load(f) for f in result.preview_frames]  # decode each frame once
    times = obs.get("frame_times", [])
    first_input = obs.get("first_input_s")

    def before_input(t: float) -> bool:
        return first_input is None or t < first_input

    diffs, loose = [], 0.0  # loose: with the overlays
    for i in range(1, len(frames)):
        diff = images.diff_ratio(frames[i - 1], frames[i], exclude=frame_rects)
        diffs.append({"t": times[i], "diff": round(diff, 5)})
        if before_input(times[i]):
            loose = max(loose, images.diff_ratio(frames[i - 1], frames[i]) if frame_rects else diff)
    obs["frames"] = diffs
    # Motion without input: frames up to the first input, and after it only in the control load.
    obs["motion"] = max(
        (d["diff"] for d, t in zip(diffs, times[1:], strict=False) if before_input(t)),
        default=0.0,
    )
    shots = [(float(k[:-5]), images.load(result.shots[k])) for k in sorted(result.shots)]
    still = [(t, img) for t, img in shots if before_input(t)]
    obs["shot_motion"] = []
    for (ta, a), (tb, b) in zip(still, still[1:], strict=False):
        diff = images.faint_diff_ratio(a, b, shot_rects)
        obs["shot_motion"].append({"from": ta, "to": tb, "diff": round(diff, 5)})
        if shot_rects:
            diff = images.faint_diff_ratio(a, b)
        loose = max(loose, diff)
    obs["motion_with_overlays"] = round(loose, 5)
    obs["content"] = [
        round(images.content_fraction(img, exclude=content_rects), 5) for _, img in shots
    ]
    obs["content_with_overlays"] = (
        [round(images.content_fraction(img), 5) for _, img in shots]
        if content_rects
        else obs["content"]
    )
    obs["colors"] = images.distinct_colors(shots[-1][1]) if shots else 0
    obs["shots"] = sorted(result.shots)


def _early_compare(obs: dict[str, Any], events) -> float | None:
    """The preview frame at which the control load is first compared (virtual s).

    The first preview frame after the last input event: by then a key held or a
    click has had frames to show its effect. None when there is none before the
    last timed shot (the shots are compared anyway).
    """
    last_event = max(t for t, _, _ in events)
    after = [t for t in obs.get("frame_times", []) if t > last_event]
    return after[0] if after else None


async def _control(
    renderer: Host,
    browser: Browser,
    artifact: Path,
    prompt: Prompt,
    ops,
    first_input: float,
    result,
):
    """Replay the main load's clock steps with no input; compare what the input changed.

    Compared with the main load: the first preview frame after the input (JPEG, as
    the preview's frames) and the timed shots from the input on (PNG). The replay
    ends at the preview frame when the page already moved on its own before the
    input and the input changed that frame: the rest could change neither
    ``interactive`` nor ``animates``, and it is most of the control load's cost.
    """
    obs = result.observation or {}
    compare_at = [t for t in prompt.render.screenshots if t >= first_input]
    compare_at = compare_at or [prompt.render.screenshots[-1]]
    early = _early_compare(obs, _plan(prompt)[2])
    if early is not None and early >= compare_at[-1]:
        early = None
    decided = moves_without_input(obs)
    # The control load gets a budget of its own: it repeats the main load's steps.
    # It runs in the main load's browser: that one answered until the end.
    if browser is not renderer.browser and renderer.is_shared(browser):
        browser = await renderer.shared_browser()
    control = _Load(
        renderer, browser, artifact, prompt, renderer.seed, time.monotonic() + prompt.render.budget
    )
    out: dict[str, Any] = {"compared_at": [], "diff": [], "motion_after_input": 0.0}
    # Without input the control load goes on as the main load would have: its shots
    # (and the main load's last shot before the input) show motion without input.
    rects = overlay_rects(obs, prompt.render.device_scale, STILL_OVERLAYS)
    still = [k for k in sorted(result.shots) if float(k[:-5]) < first_input]
    last = result.shots[still[-1]] if still else None
    try:
        await control.open()
        for kind, arg in ops:
            if kind != "stop":
                await control.advance(kind, arg)
                continue
            await control.sync_animations()
            # In the main load's order at a stop: the timed shot, then the preview frame.
            if arg in compare_at:
                await control.settle()
                shot = await control.screenshot()
                main_shot = result.shots[shot_name(arg)]
                diff = await asyncio.to_thread(images.diff_ratio, main_shot, shot)
                out["compared_at"].append(arg)
                out["diff"].append(round(diff, 5))
                if last is not None:
                    motion = await asyncio.to_thread(images.faint_diff_ratio, last, shot, rects)
                    out["motion_after_input"] = max(out["motion_after_input"], round(motion, 5))
                last = shot
                if arg == compare_at[-1]:
                    break
            if arg == early:
                frame = await control.screenshot(jpeg=True)
                main_frame = result.preview_frames[obs["frame_times"].index(arg)]
                diff = await asyncio.to_thread(images.diff_ratio, main_frame, frame)
                out["compared_at"].append(arg)
                out["diff"].append(round(diff, 5))
                if decided and input_changed(diff):
                    out["ended_early"] = arg
                    break
        out["errors"] = control.obs["errors"][:20]
    except (Hung, PlaywrightError) as exc:
        await _close(renderer, control)
        status, detail = await _failure(renderer, control, exc)
        out["error"] = f"{status}: {detail}" if status != "error" else detail
    finally:
        await _close(renderer, control)
    return out
