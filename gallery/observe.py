"""The observation of one page: the timeline of the main load and its control.

``render.py`` owns the browser, the sandbox and the clock; this module decides
*what to look at when*: which virtual times to stop at, when to send input,
which frames become screenshots and the preview, how a heavy page is sampled,
and what is measured at the end (DOM, checks' JS, axe-core). The result is
the ``observation.json`` that ``checks.py`` turns into a verdict.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError

from . import images
from .render import (
    COLLECT_SCRIPT,
    ELEMENT_CHECK,
    FRAME_MS,
    HEAVY_PROBE_S,
    HEAVY_PROBE_WALL_FACTOR,
    JS_CHECK,
    PROBE_FIRST_MS,
    PROBE_MS,
    SAMPLE_WINDOW_MS,
    VERY_HEAVY_FRAME_S,
    BrowserGone,
    Hung,
    PageResult,
    _Load,
    _plan,
    shot_name,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from .prompts import Prompt
    from .render import Renderer


async def observe(
    renderer: Renderer, browser: Browser, artifact: Path, prompt: Prompt
) -> PageResult:
    """Main load with input, then (when input is scripted) the control load without.

    Raises ``BrowserGone`` when the browser fails under the page: what the page
    did up to then is not its verdict.
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
        ops = await _timeline(main, prompt, stops, preview_times, events, result, deadline)
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

    if first_input is not None and status == "ok":
        obs["interactive"] = await _control(
            renderer, browser, artifact, prompt, ops, first_input, result
        )
    obs["real_time_s"] = round(time.monotonic() - started, 3)
    result.observation = obs
    return result


async def _failure(renderer: Renderer, load: _Load, exc: Exception) -> tuple[str, str]:
    """What a failed call says about the page: (status, detail), or ``BrowserGone``.

    A hang or an error counts against the page only while its browser still
    answers (asked once the load is closed): a browser that died or stalls
    failed every page it held.
    """
    detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if not await renderer.alive(load.browser, probe=True):
        raise BrowserGone(f"the browser stopped answering while the page ran ({detail})")
    if isinstance(exc, Hung):
        return "hung", detail
    return ("crashed" if load.obs["crashed"] else "error"), detail


async def _close(renderer: Renderer, load: _Load) -> None:
    """Close a load's context; a context that will not close takes its browser with it."""
    closed = await load.close()
    # (A dead browser is relaunched by the next load that needs it.)
    if not closed and load.browser is renderer.browser and await renderer.alive(load.browser):
        await renderer.replace_browser(load.browser)


async def _timeline(
    main: _Load, prompt: Prompt, stops, preview_times, events, result: PageResult, deadline: float
):
    """Step the clock through every stop; returns the op log for the control load."""
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
    if probe:
        cpu0, _ = await main.cpu_time()
        t0 = time.monotonic()
        for ms in _probe_steps(probe):
            await main.advance("run", ms)
            ops.append(("run", ms))
            cpu, gl = await main.cpu_time(finish_gl=True)
            cpu, wall = cpu - cpu0, time.monotonic() - t0
            if cpu > allowance or (gl and wall > allowance * HEAVY_PROBE_WALL_FACTOR):
                main.mode = "sampled"
                break
    frames = max(1, round(main.vt / FRAME_MS))
    main.obs["probe"] = {
        "virtual_ms": main.vt,
        "cpu_s": round(cpu, 4),
        "real_s": round(wall, 4),
        "webgl": gl,
    }
    # A very heavy page gets no frames of its own around the shots: only the one
    # that fast-forwarding fires at each stop (enough for the preview to move).
    cost = max(cpu, wall / HEAVY_PROBE_WALL_FACTOR if gl else 0.0)
    very_heavy = cost / frames > VERY_HEAVY_FRAME_S
    window = 0 if very_heavy else SAMPLE_WINDOW_MS
    for stop in stops:
        target = int(round(stop * 1000))
        delta = target - main.vt
        over_budget = time.monotonic() - (deadline - budget) > budget * 0.6
        if delta > 0:
            if over_budget:
                main.mode = "budget"
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
        await main.sync_animations()
        for t, step, phase in events:
            if t == stop:
                await main.send(step, phase)
        if stop in shots:
            await main.settle()
            result.shots[shot_name(stop)] = await main.screenshot()
        if stop in previews:
            # All preview frames are JPEG: mixing in the PNG shots would make
            # compression noise look like motion.
            result.preview_frames.append(await main.screenshot(jpeg=True))
            main.obs.setdefault("frame_times", []).append(stop)
    return ops


def _probe_steps(probe: int) -> list[int]:
    """The probe span in two steps (ms): the first 50, then the rest."""
    first = min(probe, PROBE_FIRST_MS)
    return [ms for ms in (first, probe - first) if ms > 0]


async def _collect(renderer: Renderer, main: _Load, prompt: Prompt) -> None:
    """DOM facts, the prompt's JS and element checks, and axe-core when asked for."""
    page = main.page
    main.obs["page"] = await main.call(page.evaluate(COLLECT_SCRIPT), "collect")
    js, elements = {}, {}
    for check in prompt.checks:
        if check.kind == "js":
            js[check.name] = await main.call(
                page.evaluate(JS_CHECK, check.params["expr"]), "js check"
            )
        elif check.kind == "element":
            sel = check.params["selector"]
            elements[sel] = await main.call(page.evaluate(ELEMENT_CHECK, sel), "element check")
    main.obs["js"], main.obs["elements"] = js, elements
    if any(c.kind == "accessible" for c in prompt.checks):
        main.obs["axe"] = await _axe(renderer, main)


AXE_RUN = (
    "axe.run(document, {resultTypes: ['violations']})"
    ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
    " nodes: v.nodes.length, target: (v.nodes[0] || {}).target})))"
)


async def _axe(renderer: Renderer, main: _Load) -> dict[str, Any]:
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


def _measure(obs: dict[str, Any], result: PageResult, prompt: Prompt) -> None:
    """Pixel facts: frame-to-frame change, visible content, colours."""
    frames = [images.load(f) for f in result.preview_frames]  # decode each frame once
    times = obs.get("frame_times", [])
    first_input = obs.get("first_input_s")
    diffs = []
    for i in range(1, len(frames)):
        diffs.append({"t": times[i], "diff": round(images.diff_ratio(frames[i - 1], frames[i]), 5)})
    obs["frames"] = diffs
    before_input = [
        d for d, t in zip(diffs, times[1:], strict=False) if first_input is None or t < first_input
    ]
    # Motion without input: frames up to the first input, and after it only in the control load.
    obs["motion"] = max((d["diff"] for d in before_input), default=0.0)
    shots = [images.load(result.shots[k]) for k in sorted(result.shots)]
    obs["content"] = [round(images.content_fraction(s), 5) for s in shots]
    obs["colors"] = images.distinct_colors(shots[-1]) if shots else 0
    obs["shots"] = sorted(result.shots)


async def _control(
    renderer: Renderer,
    browser: Browser,
    artifact: Path,
    prompt: Prompt,
    ops,
    first_input: float,
    result,
):
    """Replay the main load's clock steps with no input; compare the shots after the input."""
    compare_at = [t for t in prompt.render.screenshots if t >= first_input]
    compare_at = compare_at or [prompt.render.screenshots[-1]]
    # The control load gets a budget of its own: it repeats the main load's steps.
    # It runs in the main load's browser: that one answered until the end.
    if browser is not renderer.browser and browser in renderer._retired:
        browser = await renderer.shared_browser()
    control = _Load(
        renderer, browser, artifact, prompt, renderer.seed, time.monotonic() + prompt.render.budget
    )
    out: dict[str, Any] = {"compared_at": compare_at, "diff": [], "motion_after_input": 0.0}
    try:
        await control.open()
        last = None
        for kind, arg in ops:
            if kind == "stop":
                await control.sync_animations()
                if arg in compare_at:
                    await control.settle()
                    shot = await control.screenshot()
                    main_shot = result.shots[shot_name(arg)]
                    diff = await asyncio.to_thread(images.diff_ratio, main_shot, shot)
                    out["diff"].append(round(diff, 5))
                    if last is not None:
                        motion = await asyncio.to_thread(images.diff_ratio, last, shot)
                        out["motion_after_input"] = max(out["motion_after_input"], motion)
                    last = shot
                    if arg == compare_at[-1]:
                        break
            else:
                await control.advance(kind, arg)
        out["errors"] = control.obs["errors"][:20]
    except (Hung, PlaywrightError) as exc:
        await _close(renderer, control)
        status, detail = await _failure(renderer, control, exc)
        out["error"] = f"{status}: {detail}" if status != "error" else detail
    finally:
        await _close(renderer, control)
    return out
