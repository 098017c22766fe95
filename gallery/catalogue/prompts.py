"""The prompt catalogue: ``prompts/<id>.toml``, one demo each.

A prompt carries the text sent to the models and everything needed to judge
the page a model writes back: how to render it (viewport, screenshot times in
virtual seconds, budget), what input to script, and which checks apply.
The file shape is a contract (see the README); only ``id``, ``title`` and
``prompt`` are required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.catalogue.tomlcheck import check_keys, read_toml, typed
from gallery.errors import PromptError

#: Checks every page can get (names are a contract, see design.md).
STANDARD_CHECKS = ("runs", "animates", "interactive", "clean-console", "offline", "accessible")

#: Prompt-specific check kinds and the parameter each one needs (None: no parameter).
PARAM_CHECKS: dict[str, tuple[str, type] | None] = {
    "text": ("text", str),
    "js": ("expr", str),
    "canvas": None,
    "webgl": None,
    "colors": ("min", int),
    "element": ("selector", str),
}

CHECK_KINDS = STANDARD_CHECKS + tuple(PARAM_CHECKS)

#: Used when a prompt lists no checks: what any runnable demo should do.
DEFAULT_CHECKS = ("runs", "clean-console", "offline")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: Modifiers a key step may hold (``Shift+ArrowUp``), as Playwright names them.
_MODIFIERS = ("Shift", "Control", "Alt", "Meta", "ControlOrMeta")
_KEY_RE = re.compile(
    r"^[A-Za-z0-9]+$|^(Arrow(Up|Down|Left|Right)|Space|Enter|Escape|Tab|Backspace|Shift|Control|Alt|Meta|F[0-9]{1,2})$"
)


@dataclass(frozen=True)
class RenderSettings:
    """How a page is observed. Times are virtual seconds; ``budget`` is real seconds."""

    viewport: tuple[int, int] = (1280, 720)
    device_scale: float = 1.0
    screenshots: tuple[float, ...] = (0.5, 2.0, 5.0)
    budget: float = 30.0
    preview_frames: int = 12


@dataclass(frozen=True)
class InteractStep:
    """One scripted input at virtual time ``at``: a key press/hold, a click, a drag or a wait."""

    at: float
    key: str | None = None
    hold: float = 0.0
    click: tuple[int, int] | None = None
    drag: tuple[tuple[int, int], tuple[int, int]] | None = None
    wait: float = 0.0


@dataclass(frozen=True)
class CheckSpec:
    """A check to run on the prompt's pages. ``required`` checks decide ``passed``."""

    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    required: bool = True


@dataclass(frozen=True)
class Prompt:
    """One demo prompt and how its pages are judged."""

    id: str
    title: str
    prompt: str
    source: str = ""
    tags: tuple[str, ...] = ()
    render: RenderSettings = RenderSettings()
    interact: tuple[InteractStep, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    path: Path | None = None

    @property
    def reference_path(self) -> Path | None:
        """``prompts/<id>.reference.html``, the hand-written reference, if the file exists."""
        if self.path is None:
            return None
        ref = self.path.with_name(f"{self.id}.reference.html")
        return ref if ref.is_file() else None


_TOP_KEYS = {"id", "title", "prompt", "source", "tags", "render", "interact", "checks"}
_RENDER_KEYS = {"viewport", "device_scale", "screenshots", "budget", "preview_frames"}
_STEP_KEYS = {"at", "key", "hold", "click", "drag", "wait"}


def _point(value: Any, *, source: Path, field: str) -> tuple[int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise PromptError(f"must be [x, y] in pixels, got {value!r}", source=source, field=field)
    return (int(value[0]), int(value[1]))


def _render(raw: Any, source: Path) -> RenderSettings:
    raw = typed(raw, dict, source=source, field="render", error=PromptError)
    check_keys(raw, _RENDER_KEYS, source=source, where="render", error=PromptError)
    kw: dict[str, Any] = {}
    if "viewport" in raw:
        w, h = _point(raw["viewport"], source=source, field="render.viewport")
        if not (100 <= w <= 4096 and 100 <= h <= 4096):
            raise PromptError(
                "must be between 100 and 4096 px each", source=source, field="render.viewport"
            )
        kw["viewport"] = (w, h)
    if "device_scale" in raw:
        v = typed(
            raw["device_scale"],
            float,
            source=source,
            field="render.device_scale",
            error=PromptError,
        )
        if not 0.5 <= v <= 4:
            raise PromptError(
                "must be between 0.5 and 4", source=source, field="render.device_scale"
            )
        kw["device_scale"] = v
    if "screenshots" in raw:
        shots = typed(
            raw["screenshots"], list, source=source, field="render.screenshots", error=PromptError
        )
        times = [
            typed(t, float, source=source, field="render.screenshots", error=PromptError)
            for t in shots
        ]
        if not times or any(t < 0 or t > 120 for t in times) or times != sorted(times):
            raise PromptError(
                "must be a non-empty, increasing list of virtual seconds between 0 and 120",
                source=source,
                field="render.screenshots",
            )
        kw["screenshots"] = tuple(times)
    if "budget" in raw:
        v = typed(raw["budget"], float, source=source, field="render.budget", error=PromptError)
        if not 1 <= v <= 600:
            raise PromptError(
                "must be between 1 and 600 real seconds", source=source, field="render.budget"
            )
        kw["budget"] = v
    if "preview_frames" in raw:
        v = typed(
            raw["preview_frames"],
            int,
            source=source,
            field="render.preview_frames",
            error=PromptError,
        )
        if not 2 <= v <= 60:
            raise PromptError(
                "must be between 2 and 60", source=source, field="render.preview_frames"
            )
        kw["preview_frames"] = v
    return RenderSettings(**kw)


def _step(raw: Any, source: Path, where: str) -> InteractStep:
    raw = typed(raw, dict, source=source, field=where, error=PromptError)
    check_keys(raw, _STEP_KEYS, source=source, where=where, error=PromptError, required=("at",))
    at = typed(raw["at"], float, source=source, field=f"{where}.at", error=PromptError)
    if at < 0:
        raise PromptError("must be >= 0 virtual seconds", source=source, field=f"{where}.at")
    actions = [k for k in ("key", "click", "drag", "wait") if k in raw]
    if len(actions) != 1:
        raise PromptError(
            "needs exactly one of key, click, drag or wait", source=source, field=where
        )
    kw: dict[str, Any] = {"at": at}
    if "key" in raw:
        key = typed(raw["key"], str, source=source, field=f"{where}.key", error=PromptError)
        *modifiers, name = key.split("+")
        if not _KEY_RE.match(name):
            raise PromptError(f"unknown key name {key!r}", source=source, field=f"{where}.key")
        if bad := [m for m in modifiers if m not in _MODIFIERS]:
            raise PromptError(
                f"unknown modifier {bad[0]!r} in {key!r} (use {', '.join(_MODIFIERS)})",
                source=source,
                field=f"{where}.key",
            )
        kw["key"] = key
    if "hold" in raw:
        if "key" not in raw:
            raise PromptError("only applies to a key step", source=source, field=f"{where}.hold")
        kw["hold"] = typed(
            raw["hold"], float, source=source, field=f"{where}.hold", error=PromptError
        )
    if "click" in raw:
        kw["click"] = _point(raw["click"], source=source, field=f"{where}.click")
    if "drag" in raw:
        d = raw["drag"]
        if not isinstance(d, list) or len(d) != 2:
            raise PromptError("must be [[x1, y1], [x2, y2]]", source=source, field=f"{where}.drag")
        kw["drag"] = (
            _point(d[0], source=source, field=f"{where}.drag"),
            _point(d[1], source=source, field=f"{where}.drag"),
        )
    if "wait" in raw:
        kw["wait"] = typed(
            raw["wait"], float, source=source, field=f"{where}.wait", error=PromptError
        )
    return InteractStep(**kw)


def _check(raw: Any, source: Path, where: str) -> CheckSpec:
    raw = typed(raw, dict, source=source, field=where, error=PromptError)
    kind = typed(raw.get("kind"), str, source=source, field=f"{where}.kind", error=PromptError)
    if kind not in CHECK_KINDS:
        raise PromptError(
            f"unknown check kind {kind!r} (known: {', '.join(CHECK_KINDS)})",
            source=source,
            field=f"{where}.kind",
        )
    param = PARAM_CHECKS.get(kind)
    allowed = {"kind", "name", "required"} | ({param[0]} if param else set())
    check_keys(raw, allowed, source=source, where=where, error=PromptError)
    params: dict[str, Any] = {}
    if param:
        pname, ptype = param
        if pname not in raw:
            raise PromptError(
                f"is required for a {kind!r} check", source=source, field=f"{where}.{pname}"
            )
        params[pname] = typed(
            raw[pname], ptype, source=source, field=f"{where}.{pname}", error=PromptError
        )
    name = raw.get("name")
    if name is None:
        name = kind if not param else f"{kind}:{params[param[0]]}"
    name = typed(name, str, source=source, field=f"{where}.name", error=PromptError)
    required = typed(
        raw.get("required", True), bool, source=source, field=f"{where}.required", error=PromptError
    )
    return CheckSpec(kind=kind, name=name, params=params, required=required)


def parse_prompt(data: dict[str, Any], source: Path) -> Prompt:
    """Validate one prompt table; every error names ``source`` and the field."""
    check_keys(
        data,
        _TOP_KEYS,
        source=source,
        where="",
        error=PromptError,
        required=("id", "title", "prompt"),
    )
    pid = typed(data["id"], str, source=source, field="id", error=PromptError)
    if not _ID_RE.match(pid):
        raise PromptError("must be lowercase letters, digits and dashes", source=source, field="id")
    if source.suffix == ".toml" and source.stem != pid:
        raise PromptError(f"must match the file name ({source.stem!r})", source=source, field="id")
    title = typed(data["title"], str, source=source, field="title", error=PromptError)
    text = typed(data["prompt"], str, source=source, field="prompt", error=PromptError)
    if not text.strip():
        raise PromptError("must not be empty", source=source, field="prompt")
    tags = typed(data.get("tags", []), list, source=source, field="tags", error=PromptError)
    for tag in tags:
        typed(tag, str, source=source, field="tags", error=PromptError)
    steps = typed(
        data.get("interact", []), list, source=source, field="interact", error=PromptError
    )
    interact = tuple(_step(s, source, f"interact[{i}]") for i, s in enumerate(steps))
    raw_checks = typed(
        data.get("checks", []), list, source=source, field="checks", error=PromptError
    )
    checks = tuple(_check(c, source, f"checks[{i}]") for i, c in enumerate(raw_checks))
    if not checks:
        kinds = DEFAULT_CHECKS + (("interactive",) if interact else ())
        checks = tuple(CheckSpec(kind=k, name=k) for k in kinds)
    names = [c.name for c in checks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PromptError(
            f"duplicate check name {dupes[0]!r} (give one a `name`)", source=source, field="checks"
        )
    if any(c.kind == "interactive" for c in checks) and not interact:
        raise PromptError(
            "an 'interactive' check needs [[interact]] steps to script",
            source=source,
            field="checks",
        )
    return Prompt(
        id=pid,
        title=title,
        prompt=text,
        source=typed(data.get("source", ""), str, source=source, field="source", error=PromptError),
        tags=tuple(tags),
        render=_render(data.get("render", {}), source),
        interact=interact,
        checks=checks,
        path=source,
    )


def load_prompt(path: Path) -> Prompt:
    """Read and validate ``prompts/<id>.toml``."""
    return parse_prompt(read_toml(path, PromptError), path)


def load_catalogue(directory: Path) -> dict[str, Prompt]:
    """Every prompt in ``directory``, by id, in file-name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PromptError("prompt directory not found", source=directory)
    prompts: dict[str, Prompt] = {}
    for path in sorted(directory.glob("*.toml")):
        prompt = load_prompt(path)
        prompts[prompt.id] = prompt
    if not prompts:
        raise PromptError("no prompts (*.toml) in this directory", source=directory)
    return prompts


def select(
    catalogue: dict[str, Prompt], ids: tuple[str, ...] | list[str], *, option: str = "--prompt"
) -> list[Prompt]:
    """The prompts named by ``ids`` (all when empty), or a UsageError naming the unknown one."""
    if not ids:
        return list(catalogue.values())
    out = []
    for pid in ids:
        if pid not in catalogue:
            raise PromptError(
                f"unknown prompt {pid!r} (known: {', '.join(catalogue)})", field=option
            )
        out.append(catalogue[pid])
    return out
