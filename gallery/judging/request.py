"""What a vision judge is shown for one sample, as one chat request.

The judge sees what a person would: the timed screenshots, and the frames just
before and just after each scripted input (what the input did), with the prompt
and its rubric as a numbered list. It is also told what a person could not see
at a glance: the smoke checks' verdicts, the console errors, and the page source
(cut to a size). Everything that decides the answer is in the request, and the
request's hash (``generate.client.request_hash``) keys the reply cache, so a
rerun on the same render asks nothing.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from gallery.catalogue.config import ModelSpec
from gallery.catalogue.prompts import InteractStep, Prompt, RubricItem
from gallery.records.store import Sample
from gallery.render import images

#: Characters of the page source sent with the frames (the head of the file).
MAX_SOURCE_CHARS = 12_000
#: Images per request: the timed shots first, then the input frames.
MAX_IMAGES = 8
#: Console errors quoted.
MAX_ERRORS = 5
JPEG_QUALITY = 85

JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "item": {"type": "integer"},
                    "score": {"type": "number"},
                    "reason": {"type": "string"},
                },
                "required": ["item", "score", "reason"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["items"],
    "additionalProperties": False,
}

INSTRUCTIONS = (
    "You review a web page that an AI model wrote from one prompt. Judge what the images show; "
    "the source and the checks below are context, and a page's code may claim what it does not "
    "do. Score every checklist item from 0 (not met) to its points (fully met); part marks are "
    "allowed. A blank, black or broken page meets nothing it does not show."
)


@dataclass(frozen=True)
class Frame:
    """One image for the judge: what it shows (in words) and its JPEG bytes."""

    caption: str
    jpeg: bytes

    @property
    def data_url(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode()


@dataclass(frozen=True)
class JudgeRequest:
    """The request for one sample: the canonical dict the hash covers, and what it holds."""

    body: dict[str, Any]
    rubric: tuple[RubricItem, ...]
    generic: bool
    frames: tuple[Frame, ...]


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _describe_step(step: InteractStep) -> str:
    if step.key:
        return f"key {step.key}" + (f" held {step.hold:g} s" if step.hold else "")
    if step.click:
        return f"click at {step.click[0]},{step.click[1]}"
    if step.drag:
        (x1, y1), (x2, y2) = step.drag
        return f"drag from {x1},{y1} to {x2},{y2}"
    return f"wait {step.wait:g} s"


def frames_of(sample: Sample, prompt: Prompt) -> list[Frame]:
    """The timed shots, then the preview frames just before and after each input."""
    frames: list[Frame] = []
    shots = sample.path / "shots"
    for shot in sorted(shots.glob("*.png")) if shots.is_dir() else []:
        try:
            when = f"{float(shot.name.removesuffix('s.png')):g} s after it loaded"
        except ValueError:
            when = f"in {shot.name}"  # not a name gallery gives a shot
        with Image.open(shot) as img:
            frames.append(Frame(f"the page {when} ({img.width}x{img.height})", _jpeg(img)))
    preview = sample.path / "preview.webp"
    times = (sample.observation or {}).get("frame_times") or []
    if prompt.interact and preview.is_file() and times:
        captured = images.preview_frames(preview.read_bytes(), len(times))
        wanted: dict[int, str] = {}
        for step in prompt.interact:
            if step.wait:
                continue
            what = f"the input ({_describe_step(step)} at {step.at:g} s)"
            before = [i for i in range(len(captured)) if times[i] < step.at]
            after = [i for i in range(len(captured)) if times[i] >= step.at]
            if before:
                wanted.setdefault(before[-1], f"{times[before[-1]]:g} s, just before {what}")
            if after:
                wanted.setdefault(after[0], f"{times[after[0]]:g} s, just after {what}")
        for i in sorted(wanted):
            frames.append(Frame(f"a small preview frame at {wanted[i]}", _jpeg(captured[i])))
    return frames[:MAX_IMAGES]  # the timed shots first, then the input frames


def _checks_text(sample: Sample) -> str:
    verdict = sample.verdict or {}
    lines = [
        f"- {c['name']}: {'passed' if c['passed'] else 'FAILED'}"
        + ("" if c.get("required", True) else " (not required)")
        + (f" — {c['detail']}" if c.get("detail") else "")
        for c in verdict.get("checks", [])
    ]
    errors = [
        str(e.get("message") or "")[:200]
        for e in (sample.observation or {}).get("errors", [])[:MAX_ERRORS]
    ]
    lines.append("Uncaught errors: " + ("; ".join(errors) if errors else "none"))
    return "\n".join(lines)


def _source_text(sample: Sample) -> str:
    page = sample.artifact / "index.html"
    try:
        source = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no source)"
    head = source[:MAX_SOURCE_CHARS]
    cut = f" (the first {len(head)} of {len(source)} characters)" if len(source) > len(head) else ""
    return f"## Page source{cut}\n```html\n{head}\n```"


def rubric_text(rubric: tuple[RubricItem, ...]) -> str:
    return "\n".join(
        f"{i}. [{r.points} point{'s' if r.points != 1 else ''}] {r.item}"
        for i, r in enumerate(rubric, 1)
    )


def build_request(spec: ModelSpec, sample: Sample, prompt: Prompt) -> JudgeRequest:
    """The judge's request for ``sample``: text and images, as sent and as hashed."""
    rubric = prompt.judge_rubric
    frames = tuple(frames_of(sample, prompt))
    text = "\n\n".join(
        [
            INSTRUCTIONS,
            f"## The prompt the model was given\n{prompt.prompt}",
            "## Checklist\n" + rubric_text(rubric),
            "## The images, in order\n"
            + "\n".join(f"Image {i}: {f.caption}." for i, f in enumerate(frames, 1)),
            "## Smoke checks (a headless browser ran the page offline on a virtual clock)\n"
            + _checks_text(sample),
            _source_text(sample),
            "## Reply\nReply with JSON only, exactly this shape, one entry per checklist item in "
            'order: {"items": [{"item": 1, "score": <0 to its points>, "reason": "<one '
            'sentence>"}]}',
        ]
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": f.data_url}} for f in frames]
    body: dict[str, Any] = {
        "kind": "judge",
        "base_url": spec.base_url.rstrip("/"),
        "model": spec.model,
        "params": spec.params,
        "response_format": response_format(spec),
        "messages": [{"role": "user", "content": content}],
    }
    return JudgeRequest(body, rubric, not prompt.rubric, frames)


def response_format(spec: ModelSpec) -> dict[str, Any] | None:
    """The ``response_format`` the lane accepts (None: the reply is parsed from text)."""
    if spec.structured_output == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "rubric_scores", "schema": JSON_SCHEMA, "strict": True},
        }
    if spec.structured_output == "json_object":
        return {"type": "json_object"}
    return None


def summary(req: JudgeRequest) -> dict[str, Any]:
    """What the reply cache keeps of a request: no image data (the hash covers it)."""
    body = {k: v for k, v in req.body.items() if k != "messages"}
    return {**body, "images": len(req.frames), "rubric": len(req.rubric)}
