"""The prompt catalogue: ``prompts/<id>.toml``, one demo each.

A prompt carries the text sent to the models and everything needed to judge
the page a model writes back: how to render it (viewport, screenshot times in
virtual seconds, budget), what input to script, and which checks apply.
The file shape is a contract (see the README); only ``id``, ``title`` and
``prompt`` are required.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from gallery.catalogue.schema import convert, read_toml
from gallery.checks.judge import DEFAULT_CHECKS, KINDS, CheckSpec
from gallery.errors import PromptError

if TYPE_CHECKING:
    from gallery.records.store import Run, Sample

#: Checks every page can get (names are a contract, see design.md).
STANDARD_CHECKS = tuple(k.name for k in KINDS.values() if k.standard)
CHECK_KINDS = tuple(KINDS)

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
class RubricItem:
    """One observable requirement a judge can decide from the page's frames, worth ``points``."""

    item: str
    points: int = 1


#: What a prompt without ``[[rubric]]`` is judged on.
GENERIC_RUBRIC = (
    RubricItem(
        "The page does what the prompt asks: its main subject is there and recognisable.", 4
    ),
    RubricItem("The page looks finished: nothing broken, blank, overlapping or cut off.", 3),
    RubricItem("It moves or responds to input the way the prompt implies (or needs neither).", 3),
)


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
    #: The judge's checklist; empty: ``GENERIC_RUBRIC`` (see ``judge_rubric``).
    rubric: tuple[RubricItem, ...] = ()
    path: Path | None = None

    @property
    def judge_rubric(self) -> tuple[RubricItem, ...]:
        """The checklist a vision judge scores this prompt's pages on."""
        return self.rubric or GENERIC_RUBRIC

    @property
    def reference_path(self) -> Path | None:
        """``prompts/<id>.reference.html``, the hand-written reference, if the file exists."""
        if self.path is None:
            return None
        ref = self.path.with_name(f"{self.id}.reference.html")
        return ref if ref.is_file() else None


Number = float  # a TOML integer is accepted where a number is asked for


class _Render(msgspec.Struct, forbid_unknown_fields=True):
    """``[render]``: how pages of this prompt are observed (ranges checked in ``_render``)."""

    viewport: list[Number] | None = None
    device_scale: Number | None = None
    screenshots: list[Number] | None = None
    budget: Number | None = None
    preview_frames: int | None = None


class _Step(msgspec.Struct, forbid_unknown_fields=True):
    """``[[interact]]``: one scripted input (exactly one of key, click, drag, wait)."""

    at: Number
    key: str | None = None
    hold: Number | None = None
    click: list[Number] | None = None
    drag: list[list[Number]] | None = None
    wait: Number | None = None


class _Check(msgspec.Struct, forbid_unknown_fields=True):
    """``[[checks]]``: a check kind, with the one parameter its kind takes."""

    kind: str
    name: str | None = None
    required: bool = True
    text: str | None = None
    expr: str | None = None
    min: int | None = None
    selector: str | None = None


class _Rubric(msgspec.Struct, forbid_unknown_fields=True):
    """``[[rubric]]``: one checklist item for the vision judge."""

    item: str
    points: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


class _PromptFile(msgspec.Struct, forbid_unknown_fields=True):
    """``prompts/<id>.toml`` (rules across keys in ``parse_prompt``)."""

    id: str
    title: str
    prompt: str
    source: str = ""
    tags: list[str] = []
    render: _Render = msgspec.field(default_factory=_Render)
    interact: list[_Step] = []
    checks: list[_Check] = []
    rubric: list[_Rubric] = []


def _point(value: list[float] | None, *, source: Path, field: str) -> tuple[int, int]:
    if value is None or len(value) != 2:
        raise PromptError(f"must be [x, y] in pixels, got {value!r}", source=source, field=field)
    return (int(value[0]), int(value[1]))


def _render(raw: _Render, source: Path) -> RenderSettings:
    kw: dict[str, Any] = {}
    if raw.viewport is not None:
        w, h = _point(raw.viewport, source=source, field="render.viewport")
        if not (100 <= w <= 4096 and 100 <= h <= 4096):
            raise PromptError(
                "must be between 100 and 4096 px each", source=source, field="render.viewport"
            )
        kw["viewport"] = (w, h)
    if raw.device_scale is not None:
        if not 0.5 <= raw.device_scale <= 4:
            raise PromptError(
                "must be between 0.5 and 4", source=source, field="render.device_scale"
            )
        kw["device_scale"] = raw.device_scale
    if raw.screenshots is not None:
        times = raw.screenshots
        if not times or any(t < 0 or t > 120 for t in times) or times != sorted(times):
            raise PromptError(
                "must be a non-empty, increasing list of virtual seconds between 0 and 120",
                source=source,
                field="render.screenshots",
            )
        kw["screenshots"] = tuple(times)
    if raw.budget is not None:
        if not 1 <= raw.budget <= 600:
            raise PromptError(
                "must be between 1 and 600 real seconds", source=source, field="render.budget"
            )
        kw["budget"] = raw.budget
    if raw.preview_frames is not None:
        if not 2 <= raw.preview_frames <= 60:
            raise PromptError(
                "must be between 2 and 60", source=source, field="render.preview_frames"
            )
        kw["preview_frames"] = raw.preview_frames
    return RenderSettings(**kw)


def _step(raw: _Step, source: Path, where: str) -> InteractStep:
    if raw.at < 0:
        raise PromptError("must be >= 0 virtual seconds", source=source, field=f"{where}.at")
    actions = [k for k in ("key", "click", "drag", "wait") if getattr(raw, k) is not None]
    if len(actions) != 1:
        raise PromptError(
            "needs exactly one of key, click, drag or wait", source=source, field=where
        )
    kw: dict[str, Any] = {"at": raw.at}
    if raw.key is not None:
        *modifiers, name = raw.key.split("+")
        if not _KEY_RE.match(name):
            raise PromptError(f"unknown key name {raw.key!r}", source=source, field=f"{where}.key")
        if bad := [m for m in modifiers if m not in _MODIFIERS]:
            raise PromptError(
                f"unknown modifier {bad[0]!r} in {raw.key!r} (use {', '.join(_MODIFIERS)})",
                source=source,
                field=f"{where}.key",
            )
        kw["key"] = raw.key
    if raw.hold is not None:
        if raw.key is None:
            raise PromptError("only applies to a key step", source=source, field=f"{where}.hold")
        kw["hold"] = raw.hold
    if raw.click is not None:
        kw["click"] = _point(raw.click, source=source, field=f"{where}.click")
    if raw.drag is not None:
        if len(raw.drag) != 2:
            raise PromptError("must be [[x1, y1], [x2, y2]]", source=source, field=f"{where}.drag")
        kw["drag"] = (
            _point(raw.drag[0], source=source, field=f"{where}.drag"),
            _point(raw.drag[1], source=source, field=f"{where}.drag"),
        )
    if raw.wait is not None:
        kw["wait"] = raw.wait
    return InteractStep(**kw)


def _check(raw: _Check, source: Path, where: str) -> CheckSpec:
    kind = raw.kind
    if kind not in CHECK_KINDS:
        raise PromptError(
            f"unknown check kind {kind!r} (known: {', '.join(CHECK_KINDS)})",
            source=source,
            field=f"{where}.kind",
        )
    param = KINDS[kind].param
    allowed = {"kind", "name", "required"} | ({param[0]} if param else set())
    for key in ("text", "expr", "min", "selector"):
        if getattr(raw, key) is not None and key not in allowed:
            raise PromptError(
                f"unknown key (allowed: {', '.join(sorted(allowed))})",
                source=source,
                field=f"{where}.{key}",
            )
    params: dict[str, Any] = {}
    if param:
        pname, ptype = param
        value = getattr(raw, pname)
        if value is None:
            raise PromptError(
                f"is required for a {kind!r} check", source=source, field=f"{where}.{pname}"
            )
        params[pname] = value
    name = (
        raw.name if raw.name is not None else (kind if not param else f"{kind}:{params[param[0]]}")
    )
    return CheckSpec(kind=kind, name=name, params=params, required=raw.required)


def parse_prompt(data: dict[str, Any], source: Path) -> Prompt:
    """Validate one prompt table; every error names ``source`` and the field."""
    raw = convert(data, _PromptFile, source=source, where="", error=PromptError)
    if not _ID_RE.match(raw.id):
        raise PromptError("must be lowercase letters, digits and dashes", source=source, field="id")
    if source.suffix == ".toml" and source.stem != raw.id:
        raise PromptError(f"must match the file name ({source.stem!r})", source=source, field="id")
    if not raw.prompt.strip():
        raise PromptError("must not be empty", source=source, field="prompt")
    interact = tuple(_step(s, source, f"interact[{i}]") for i, s in enumerate(raw.interact))
    checks = tuple(_check(c, source, f"checks[{i}]") for i, c in enumerate(raw.checks))
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
    for i, r in enumerate(raw.rubric):
        if not r.item.strip():
            raise PromptError("must not be empty", source=source, field=f"rubric[{i}].item")
    if len(raw.rubric) > 20:
        raise PromptError("at most 20 items", source=source, field="rubric")
    return Prompt(
        id=raw.id,
        title=raw.title,
        prompt=raw.prompt,
        source=raw.source,
        tags=tuple(raw.tags),
        render=_render(raw.render, source),
        interact=interact,
        checks=checks,
        rubric=tuple(RubricItem(r.item.strip(), r.points) for r in raw.rubric),
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


def samples_with_prompts(
    run: Run, catalogue: dict[str, Prompt], select: Callable[[Sample], bool] | None = None
) -> Iterator[tuple[Sample, Prompt]]:
    """The run's samples (those ``select`` keeps) with their prompts; ``PromptError`` for a
    sample whose prompt the catalogue does not have (the stages cannot judge it)."""
    for sample in run.samples():
        if select and not select(sample):
            continue
        prompt = catalogue.get(sample.key.prompt)
        if prompt is None:
            raise PromptError(
                f"run {run.id} has samples for prompt {sample.key.prompt!r}, which is not in "
                "the catalogue",
                field="--prompts",
            )
        yield sample, prompt
