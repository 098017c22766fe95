"""Values read back from a page are checked before anything is built on them.

The page's script can redefine what its own JavaScript world returns, and a
crafted reply can carry any JSON: what is not of the expected type, range and
size is left out, and the observation records that the page tampered with it.
"""

from __future__ import annotations

from typing import Any

from gallery.render.timeline import _element_result, _js_result, _page_facts

GOOD_FACTS = {
    "title": "t",
    "text": "hello",
    "dom_nodes": 12,
    "canvases": [{"width": 300, "height": 150, "visible": True}],
    "webgl_available": True,
    "overlays": [[10, 10, 80, 20, "counter"], [-4, 600, 200, 30, "gone"], [5, 5, 9, 9, "blink"]],
    "lang": "en",
}
GOOD_RECORDS = {
    "contexts": [["2d", True]],
    "dialogs": [["alert", "hi"]],
    "dialog_count": 1,
    "opens": ["https://x.example/"],
    "open_count": 1,
    "console_dropped": 0,
}


def read(facts: Any, records: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    obs: dict[str, Any] = {}
    return _page_facts(facts, records, obs), obs


def test_good_values_pass_through() -> None:
    page, obs = read(GOOD_FACTS, GOOD_RECORDS)
    assert "tampered" not in obs
    assert page["overlays"] == [
        [10, 10, 80, 20, "counter"],
        [-4, 600, 200, 30, "gone"],
        [5, 5, 9, 9, "blink"],
    ]
    assert page["contexts"] == [["2d", True]] and page["dialog_count"] == 1


def test_wrong_types_are_left_out_and_recorded() -> None:
    facts = {**GOOD_FACTS, "text": {"not": "a string"}, "dom_nodes": "many",
             "overlays": [[1, 2, 3, 4, "evil"], "x"], "canvases": "lots"}  # fmt: skip
    records = {**GOOD_RECORDS, "dialog_count": "many", "dialogs": [[1, 2]], "opens": [5]}
    page, obs = read(facts, records)
    assert page["text"] == "" and page["dom_nodes"] == 0 and page["dialog_count"] == 0
    assert page["overlays"] == [] and page["canvases"] == [] and page["opens"] == []
    assert set(obs["tampered"]) >= {"overlays", "canvases", "dialog_count", "dialogs", "opens"}


def test_sizes_are_capped_whatever_the_page_sends() -> None:
    huge = "x" * 5_000_000
    facts = {**GOOD_FACTS, "title": huge, "text": huge,
             "overlays": [[0, 0, 1, 1, "text"]] * 100_000}  # fmt: skip
    records = {**GOOD_RECORDS, "dialogs": [["alert", huge]] * 100_000, "opens": [huge] * 10}
    page, _ = read(facts, records)
    assert len(page["title"]) == 300 and len(page["text"]) == 2000
    assert len(page["overlays"]) == 30 and len(page["dialogs"]) == 50
    assert all(len(m) == 200 for _, m in page["dialogs"]) and all(
        len(u) == 300 for u in page["opens"]
    )


def test_no_facts_at_all() -> None:
    page, obs = read(None, "garbage")
    assert page["text"] == "" and page["canvases"] == [] and obs["tampered"] == ["page facts"]


def test_check_results_are_checked() -> None:
    assert _js_result({"value": True}) == {"value": True}
    assert _js_result({"value": "yes"}) == {
        "error": "the expression's result could not be read back"
    }
    assert _js_result({"error": "e" * 1000})["error"] == "e" * 300
    assert _element_result({"count": 3, "visible": "all"}) == {"count": 3, "visible": 0}
    assert "error" in _element_result(None)


def test_no_observation_file_is_larger_than_a_megabyte() -> None:
    from gallery.render.stage import MAX_OBSERVATION_BYTES, observation_bytes

    flood = {
        "status": "ok",
        "console": [{"type": "log", "text": "x" * 500}] * 50_000,
        "requests": {"blocked": [{"url": "u" * 500, "reason": "r"}] * 50_000},
    }
    data = observation_bytes(flood)
    assert len(data) <= MAX_OBSERVATION_BYTES
    assert b'"cut": true' in data and b'"status": "ok"' in data
    small = {"status": "ok", "console": []}
    assert b"cut" not in observation_bytes(small)
