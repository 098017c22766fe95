"""Observations -> named verdicts, and the one registry of check kinds.

Each check answers one question a person would ask on opening the page, and
explains a failure in one line. A kind is registered once here (``@kind``):
its name, the one parameter a prompt gives it, what the render stage must
collect for it, and how it judges. The prompt catalogue validates against
``KINDS``; the render stage asks ``KINDS[k].collects`` what to gather. ``verdict.json`` is a contract::

    {"passed": bool, "score": float, "checks": [{"name", "kind", "passed", "required", "detail"}]}

``passed`` is true when every *required* check passes; ``score`` is the share of
all checks that pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class CheckSpec:
    """A check a prompt asks for. ``required`` checks decide ``passed``."""

    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    required: bool = True


Judge = Callable[[dict[str, Any], CheckSpec], tuple[bool, str]]


@dataclass(frozen=True)
class CheckKind:
    """One kind of check: the registry's entry."""

    name: str
    judge: Judge
    #: the one parameter a prompt gives this kind, and its type (None: no parameter)
    param: tuple[str, type] | None = None
    #: what the render stage gathers for it beyond the standard observation
    collects: Literal["js", "element", "axe"] | None = None
    #: a standard check: any prompt may ask for it, with no parameter
    standard: bool = False


#: Every kind of check, by name (filled by ``@kind`` below; names are a contract).
KINDS: dict[str, CheckKind] = {}

#: Used when a prompt lists no checks: what any runnable demo should do.
DEFAULT_CHECKS = ("runs", "clean-console", "offline")


def kind(
    name: str,
    *,
    param: tuple[str, type] | None = None,
    collects: Literal["js", "element", "axe"] | None = None,
    standard: bool = False,
) -> Callable[[Judge], Judge]:
    """Register a check kind (a decorator on its judge)."""

    def register(fn: Judge) -> Judge:
        KINDS[name] = CheckKind(name, fn, param, collects, standard)
        return fn

    return register


#: Share of pixels (after a per-pixel threshold) that must change to count as motion/response.
MOTION_MIN = 0.0002
#: The same between timed screenshots (lossless, seconds apart, the same pixels for a
#: still page): a dim planet creeping a few pixels a second is motion.
SHOT_MOTION_MIN = 0.00005
#: Share of pixels that must stand out from the background for a page to show something.
VISIBLE_MIN = 0.0001
#: axe-core impacts that fail ``accessible``.
BLOCKING_IMPACTS = ("serious", "critical")

_ERROR_TEXT = re.compile(
    r"(\b(uncaught|exception|traceback)\b|\b[A-Z][a-zA-Z]*Error\b|\berror\s*:|is not defined|"
    r"is not a function|failed to (load|compile|initiali[sz]e)|not supported|cannot read propert)",
    re.I,
)


def _fail(detail: str) -> tuple[bool, str]:
    return False, detail


def _errors_before_input(obs: dict[str, Any]) -> list[dict[str, Any]]:
    first = obs.get("first_input_s")
    return [e for e in obs.get("errors", []) if first is None or e.get("t", 0) < first]


def moves_without_input(obs: dict[str, Any]) -> bool:
    """Whether what has been observed so far already makes ``animates`` pass.

    The render stage asks this to end a control load early: once the page is known
    to move on its own and the input is known to have changed it, more of the
    control load cannot change either verdict.
    """
    return _motion(obs)[0]


def input_changed(diff: float) -> bool:
    """Whether pixels that differ from a load without input (this share) are the input's doing."""
    return diff >= MOTION_MIN


def _motion(obs: dict[str, Any]) -> tuple[bool, float]:
    """Whether the page moved without input (outside overlays), and the most pixels
    that changed: between preview frames, or (a lower bar: they are lossless, seconds
    apart and exact) between timed shots or the control load's shots."""
    inter = obs.get("interactive") or {}
    frames = obs.get("motion", 0.0)
    shots = max(
        [inter.get("motion_after_input", 0.0)] + [m["diff"] for m in obs.get("shot_motion", [])]
    )
    return frames >= MOTION_MIN or shots >= SHOT_MOTION_MIN, max(frames, shots)


@kind("runs", standard=True)
def check_runs(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    errors = _errors_before_input(obs)
    moving, _ = _motion(obs)
    if errors and not moving:
        return _fail(f"uncaught error: {errors[0]['message'][:160]}")
    content = max(obs.get("content") or [0.0])
    if content < VISIBLE_MIN:
        if max(obs.get("content_with_overlays") or [0.0]) >= VISIBLE_MIN:
            return _fail(
                "nothing visible but an overlay (small text laid over the page, a small "
                "animated indicator: a caption, a counter, a spinner)"
            )
        return _fail(
            f"nothing visible (page is one colour; {content:.3%} of pixels differ from the background)"
        )
    text = (obs.get("page") or {}).get("text", "").strip()
    if text and len(text) < 400 and _ERROR_TEXT.search(text):
        line = next((ln for ln in text.splitlines() if _ERROR_TEXT.search(ln)), text)
        return _fail(f"page shows an error message: {line.strip()[:160]!r}")
    # An error the page survives (it goes on moving) is clean-console's business:
    # a person looking at the page does not see it.
    also = (
        f"; it goes on moving after an uncaught error ({errors[0]['message'][:80]})"
        if errors
        else ""
    )
    return True, f"loaded; {content:.1%} of pixels show content{also}"


@kind("animates", standard=True)
def check_animates(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    moving, motion = _motion(obs)
    if moving:
        return True, f"up to {motion:.2%} of pixels change without input"
    if obs.get("motion_with_overlays", 0.0) >= MOTION_MIN:
        return _fail(
            "nothing moves but an overlay (small text laid over the page, a small animated "
            "indicator: a counter, a caption, a spinner)"
        )
    return _fail(f"no motion: at most {motion:.3%} of pixels change without input")


@kind("interactive", standard=True)
def check_interactive(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    inter = obs.get("interactive")
    if not inter:
        return _fail("no scripted input was run")
    if inter.get("error"):
        return _fail(f"control load failed: {inter['error']}")
    diff = max(inter.get("diff") or [0.0])
    if input_changed(diff):
        return True, f"input changed {diff:.2%} of pixels compared with a load without input"
    return _fail("the scripted input changed nothing compared with a load without input")


def _blocked_urls(obs: dict[str, Any]) -> set[str]:
    req = obs.get("requests", {})
    return {b["url"] for b in req.get("blocked", [])} | set(req.get("fonts", []))


@kind("clean-console", standard=True)
def check_clean_console(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    refused = _blocked_urls(obs)
    errors, missing = [], set()
    for m in obs.get("console", []):
        if m["type"] != "error":
            continue
        if m["text"].startswith("Failed to load resource"):
            # One missing file is one error, however many times it was asked for: three
            # <img> of one absent file make one, two or three requests as Chromium's
            # in-flight sharing happens to go, and the count must not follow that race.
            url = m.get("url")
            if url in refused or url in missing:
                continue
            missing.add(url)
        errors.append(m)
    uncaught = obs.get("errors", [])
    if uncaught:
        return _fail(f"{len(uncaught)} uncaught error(s), first: {uncaught[0]['message'][:160]}")
    if errors:
        return _fail(f"{len(errors)} console error(s), first: {errors[0]['text'][:160]}")
    return True, "no console errors"


@kind("offline", standard=True)
def check_offline(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    req = obs.get("requests", {})
    fonts = req.get("fonts", [])
    external = obs.get("external", [])
    if external:
        return _fail(
            f"{len(external)} link(s) to a program outside the browser (never opened), "
            f"first: {external[0][:160]}"
        )
    blocked = [b["url"] for b in req.get("blocked", [])] + list(obs.get("navigations", [])) + fonts
    if blocked:
        only_fonts = (
            " (web fonts only; the page fell back to local fonts)"
            if len(fonts) == len(blocked)
            else ""
        )
        return _fail(
            f"{len(blocked)} request(s) tried to leave the sandbox{only_fonts}, first: {blocked[0][:160]}"
        )
    cdn = len(req.get("cdn", []))
    return True, f"all requests served in the sandbox ({cdn} CDN file(s) from npm)"


@kind("accessible", collects="axe", standard=True)
def check_accessible(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    axe = obs.get("axe")
    if not axe:
        return _fail("axe-core did not run")
    if axe.get("error"):
        return _fail(axe["error"])
    bad = [v for v in axe.get("violations", []) if v.get("impact") in BLOCKING_IMPACTS]
    if bad:
        ids = ", ".join(f"{v['id']} ({v['impact']})" for v in bad[:4])
        return _fail(f"{len(bad)} serious/critical axe violation(s): {ids}")
    minor = len(axe.get("violations", []))
    return True, "no serious or critical axe violations" + (f" ({minor} minor)" if minor else "")


@kind("text", param=("text", str))
def check_text(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    want = spec.params["text"]
    text = (obs.get("page") or {}).get("text", "")
    if want.lower() in text.lower():
        return True, f"visible text contains {want!r}"
    return _fail(f"visible text does not contain {want!r}")


@kind("js", param=("expr", str), collects="js")
def check_js(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    res = (obs.get("js") or {}).get(spec.name)
    if res is None:
        return _fail("expression was not evaluated")
    if "error" in res:
        return _fail(f"expression threw: {res['error']}")
    expr = spec.params["expr"]
    return (True, f"{expr} is true") if res["value"] else _fail(f"{expr} is false")


@kind("canvas")
def check_canvas(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    page = obs.get("page") or {}
    made = [t for t, ok in page.get("contexts", []) if ok]
    if made and page.get("canvases"):
        return True, f"canvas with a {made[0]} context"
    if page.get("canvases"):
        return _fail("a <canvas> exists but no drawing context was created")
    return _fail("no <canvas> on the page")


@kind("webgl")
def check_webgl(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    page = obs.get("page") or {}
    gl = [t for t, ok in page.get("contexts", []) if "webgl" in t]
    if any(ok for t, ok in page.get("contexts", []) if "webgl" in t):
        return True, f"{gl[0]} context created"
    if gl:
        return _fail("a WebGL context was requested but could not be created")
    if page and not page.get("webgl_available", True):
        return _fail("no WebGL context (WebGL is unavailable in this Chromium)")
    return _fail("no WebGL context was created")


@kind("colors", param=("min", int))
def check_colors(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    n, want = obs.get("colors", 0), spec.params["min"]
    if n >= want:
        return True, f"{n} distinct colours (at least {want} asked)"
    return _fail(f"only {n} distinct colours (at least {want} asked)")


@kind("element", param=("selector", str), collects="element")
def check_element(obs: dict[str, Any], spec: CheckSpec) -> tuple[bool, str]:
    sel = spec.params["selector"]
    res = (obs.get("elements") or {}).get(sel) or {}
    if res.get("error"):
        return _fail(f"bad selector: {res['error']}")
    if res.get("visible"):
        return True, f"{res['visible']} visible element(s) match {sel!r}"
    if res.get("count"):
        return _fail(f"{res['count']} element(s) match {sel!r} but none is visible")
    return _fail(f"nothing matches {sel!r}")


def judge(
    obs: dict[str, Any] | None,
    specs: tuple[CheckSpec, ...] | list[CheckSpec],
    *,
    no_page: str | None = None,
) -> dict[str, Any]:
    """The verdict for one sample. ``no_page`` is the reason there was nothing to render.

    An observation with status ``unjudged`` (the browser or the harness failed, not
    the page) gives a verdict with ``judged: false`` and the reason: it is not the
    page's, so it is never compared, reused or shown as a failure of the page.
    """
    results = []
    status = (obs or {}).get("status", "ok")
    if status == "unjudged":
        reason = str(obs.get("detail") or "not judged")
        checks = [
            {"name": s.name, "kind": s.kind, "passed": False, "required": s.required,
             "detail": reason}
            for s in specs
        ]  # fmt: skip
        return {"passed": False, "score": 0.0, "judged": False, "reason": reason, "checks": checks}
    for spec in specs:
        if no_page is not None:
            ok, detail = False, f"no page to run: {no_page}"
        elif status != "ok" and spec.kind != "offline":
            ok, detail = False, f"page {status}: {obs.get('detail') or status}"
        else:
            ok, detail = KINDS[spec.kind].judge(obs, spec)
        results.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "passed": ok,
                "required": spec.required,
                "detail": detail,
            }
        )
    passed = all(r["passed"] for r in results if r["required"]) and bool(results)
    score = round(sum(r["passed"] for r in results) / len(results), 4) if results else 0.0
    return {"passed": passed, "score": score, "checks": results}
