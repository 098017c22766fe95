"""A served library's random draws do not move the page's own random numbers.

Tailwind's Play CDN draws ids each time it restyles the page, as often as the
HTML parser happens to yield; on one shared stream that moved every number the
page drew after it, and a typing animation typed a different line in each load.
Here two libraries (from a fake registry on loopback) draw different amounts at
load, and the page behind each must still draw the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_libs import FakeRegistry

from gallery.aio import run_sync
from gallery.catalogue.prompts import parse_prompt
from gallery.render.libs import LibCache
from gallery.render.page import own_random_stream
from gallery.render.sandbox import Renderer

LIB = """window.libDrew = [];
for (let i = 0; i < %d; i++) window.libDrew.push(Math.random());
window.seedRandom = () => { Math.random = () => 0.25; };
window.libDraw = () => Math.random();"""

PAGE = """<!doctype html><html lang="en"><head><title>draws</title>
<script src="https://cdn.jsdelivr.net/npm/draws-lib@%s/index.js"></script>
</head><body><h1 id="h">waiting</h1><script>
const mine = [Math.random(), Math.random()].map(v => v.toFixed(12)).join(' ');
const lib = window.libDrew.length + ' ' + window.libDrew.every(v => v >= 0 && v < 1) +
  ' ' + new Set(window.libDrew).size;
window.seedRandom();
document.getElementById('h').textContent = 'page ' + mine + ' lib ' + lib +
  ' seeded ' + Math.random() + ' ' + window.libDraw();
</script></body></html>"""


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    for version, draws in (("1.0.0", 0), ("2.0.0", 7)):
        reg.add(
            "draws-lib",
            version,
            {"package.json": '{"name": "draws-lib"}', "index.js": LIB % draws},
        )
    with reg.serving():
        yield reg


def test_a_librarys_draws_leave_the_pages_numbers_alone(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    prompt = parse_prompt({"id": "p", "title": "p", "prompt": "p"}, Path("p.toml"))
    libs = LibCache(cache_dir=tmp_path / "npm", registry=registry.url, timeout=5)
    pages = {}
    for version in ("1.0.0", "2.0.0"):
        d = tmp_path / version
        d.mkdir()
        (d / "index.html").write_text(PAGE % version)
        pages[version] = d

    async def go() -> dict[str, dict]:
        async with Renderer(libs=libs) as r:
            return {v: (await r.render(d, prompt)).observation for v, d in pages.items()}

    obs = run_sync(go())
    text = {v: o["page"]["text"] for v, o in obs.items()}
    for v, o in obs.items():
        assert o["status"] == "ok", (v, o["detail"])
    quiet, busy = text["1.0.0"], text["2.0.0"]
    assert quiet.split(" lib ")[0] == busy.split(" lib ")[0], text  # the page's own draws
    assert "lib 0 true 0" in quiet, quiet
    assert "lib 7 true 7" in busy, busy  # the library still draws, distinct numbers in [0, 1)
    # a page (here through the library) that seeds Math.random seeds the library's draws too
    assert quiet.endswith("seeded 0.25 0.25") and busy.endswith("seeded 0.25 0.25"), text


def test_only_calls_are_redirected() -> None:
    src = b"a=Math.random();b=Math.random;Math.random=f;c=myMath.random();d=Math.random ()"
    out = own_random_stream(src).decode()
    assert out.count("(Math.__galleryLibRandom||Math.random)(") == 1
    assert "b=Math.random;Math.random=f;c=myMath.random();d=Math.random ()" in out
