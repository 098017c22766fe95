"""Reading a judge's reply: one score per rubric item, or why there is none.

A reply is trusted only when it is exactly what was asked for: a JSON object with
one entry per item, each item's score a number from 0 to its points. Anything
else (prose, a fenced block around broken JSON, a missing item, a score out of
range) is *malformed*: asked again, and after the retries recorded as an error,
never repaired into a score the judge did not give.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gallery.catalogue.prompts import RubricItem

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


class Malformed(ValueError):
    """The reply is not the JSON asked for (the message says how, in one line)."""


@dataclass(frozen=True)
class Scored:
    item: int
    text: str
    points: int
    score: float
    reason: str


def _json_object(text: str) -> Any:
    text = text.strip()
    candidates = [text]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise Malformed(f"not JSON: {text[:80]!r}" if text else "an empty reply")


def parse(text: str, rubric: tuple[RubricItem, ...]) -> list[Scored]:
    """The scores in ``text`` for ``rubric``, in rubric order; ``Malformed`` otherwise."""
    data = _json_object(text)
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise Malformed('no "items" list')
    by_index: dict[int, Scored] = {}
    for entry in items:
        if not isinstance(entry, dict):
            raise Malformed("an item that is not an object")
        index, score, reason = entry.get("item"), entry.get("score"), entry.get("reason", "")
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= len(rubric):
            raise Malformed(f"item {index!r} is not 1..{len(rubric)}")
        if index in by_index:
            raise Malformed(f"item {index} scored twice")
        rule = rubric[index - 1]
        if isinstance(score, bool) or not isinstance(score, int | float) or math.isnan(score):
            raise Malformed(f"item {index}: score {score!r} is not a number")
        if not 0 <= score <= rule.points:
            raise Malformed(f"item {index}: score {score} is outside 0..{rule.points}")
        by_index[index] = Scored(index, rule.item, rule.points, float(score), str(reason)[:500])
    missing = [i for i in range(1, len(rubric) + 1) if i not in by_index]
    if missing:
        raise Malformed(f"item(s) {', '.join(map(str, missing))} not scored")
    return [by_index[i] for i in range(1, len(rubric) + 1)]


def normalised(scored: list[Scored]) -> float:
    """The share of the rubric's points given, 0..1."""
    total = sum(s.points for s in scored)
    return round(sum(s.score for s in scored) / total, 4) if total else 0.0
