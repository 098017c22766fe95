"""gallery.libs against a local fake npm registry (and one opt-in real-registry test)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import tarfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from gallery.render.libs import (
    LibCache,
    LibError,
    LibRef,
    content_type,
    is_cdn_url,
    parse_cdn_url,
    pick_version,
    prefetch,
)


def make_tarball(files: dict[str, bytes | str], prefix: str = "package/") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in files.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class FakeRegistry:
    """Packuments and tarballs served from 127.0.0.1, counting every request."""

    def __init__(self) -> None:
        self.packuments: dict[str, dict[str, Any]] = {}
        self.tarballs: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        self.tarball_delay = 0.0
        self.fail = False
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = unquote(self.path)
                registry.hits[path] += 1
                if registry.fail:
                    self.send_error(503)
                    return
                if path in registry.tarballs:
                    time.sleep(registry.tarball_delay)
                    body, ctype = registry.tarballs[path], "application/octet-stream"
                elif path[1:] in registry.packuments:
                    body = json.dumps(registry.packuments[path[1:]]).encode()
                    ctype = "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(
        self,
        name: str,
        version: str,
        files: dict[str, bytes | str],
        tags: dict[str, str] | None = None,
        tarball: bytes | None = None,
        integrity: str | None = None,
    ) -> None:
        data = tarball if tarball is not None else make_tarball(files)
        path = f"/tarballs/{name}-{version}.tgz"
        self.tarballs[path] = data
        doc = self.packuments.setdefault(name, {"name": name, "dist-tags": {}, "versions": {}})
        dist = {"tarball": self.url + quote(path), "integrity": integrity or sri(data)}
        doc["versions"][version] = {"name": name, "version": version, "dist": dist}
        doc["dist-tags"].update(tags or {})

    def tarball_hits(self, name: str) -> int:
        return sum(n for p, n in self.hits.items() if p.startswith(f"/tarballs/{name}-"))

    @contextlib.contextmanager
    def serving(self) -> Iterator[FakeRegistry]:
        """Answer requests on a daemon thread until the block ends."""
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry().serving() as reg:
        yield reg


@pytest.fixture
def cache(registry: FakeRegistry, tmp_path: Path) -> LibCache:
    return LibCache(cache_dir=tmp_path / "npm", registry=registry.url, timeout=5)


def pkg_json(**fields: Any) -> str:
    return json.dumps({"name": "x", "version": "0.0.0", **fields})


J, U, E = "jsdelivr", "unpkg", "esm"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://cdn.jsdelivr.net/npm/three@0.160.0/build/three.module.js",
         LibRef("three", "0.160.0", "build/three.module.js", J)),
        ("https://cdn.jsdelivr.net/npm/p5@1.9.0", LibRef("p5", "1.9.0", "", J)),
        ("https://cdn.jsdelivr.net/npm/@scope/pkg@1/dist/x.js",
         LibRef("@scope/pkg", "1", "dist/x.js", J)),
        ("https://cdn.jsdelivr.net/npm/@scope/pkg", LibRef("@scope/pkg", "latest", "", J)),
        ("https://cdn.jsdelivr.net/npm/three", LibRef("three", "latest", "", J)),
        ("https://cdn.jsdelivr.net/npm/d3@%5E7/dist/d3.min.js",
         LibRef("d3", "^7", "dist/d3.min.js", J)),
        ("https://cdn.jsdelivr.net/npm/three@0.160.0/examples/jsm/controls/OrbitControls.js",
         LibRef("three", "0.160.0", "examples/jsm/controls/OrbitControls.js", J)),
        ("https://cdn.jsdelivr.net/npm/canvas-confetti@1.9.2/+esm",
         LibRef("canvas-confetti", "1.9.2", "", E)),
        ("https://cdn.jsdelivr.net/gh/user/repo@main/x.js", None),
        ("https://cdn.jsdelivr.net/combine/npm/a@1,npm/b@2", None),
        ("https://unpkg.com/three@0.160.0/build/three.min.js",
         LibRef("three", "0.160.0", "build/three.min.js", U)),
        ("https://unpkg.com/matter-js", LibRef("matter-js", "latest", "", U)),
        ("https://unpkg.com/three@0.160.0?module", LibRef("three", "0.160.0", "", U)),
        ("https://cdnjs.cloudflare.com/ajax/libs/three.js/r128/three.min.js",
         LibRef("three", "0.128.0", "three.min.js", "cdnjs")),
        ("https://cdnjs.cloudflare.com/ajax/libs/p5.js/1.4.0/addons/p5.sound.min.js",
         LibRef("p5", "1.4.0", "addons/p5.sound.min.js", "cdnjs")),
        ("https://cdnjs.cloudflare.com/ajax/libs/Chart.js/4.4.0/chart.umd.js",
         LibRef("chart.js", "4.4.0", "chart.umd.js", "cdnjs")),
        ("https://cdnjs.cloudflare.com/ajax/libs/anime.js/3.2.1/anime.min.js",
         LibRef("animejs", "3.2.1", "anime.min.js", "cdnjs")),
        ("https://cdnjs.cloudflare.com/ajax/libs/gsap/3.12.2/gsap.min.js",
         LibRef("gsap", "3.12.2", "gsap.min.js", "cdnjs")),
        ("https://cdnjs.cloudflare.com/ajax/libs/cannon.js/0.6.2/cannon.min.js",
         LibRef("cannon", "0.6.2", "cannon.min.js", "cdnjs")),
        ("https://esm.sh/three@0.160.0", LibRef("three", "0.160.0", "", E)),
        ("https://esm.sh/canvas-confetti@1.9.2", LibRef("canvas-confetti", "1.9.2", "", E)),
        ("https://esm.sh/v135/three@0.160.0/examples/jsm/controls/OrbitControls.js",
         LibRef("three", "0.160.0", "examples/jsm/controls/OrbitControls.js", E)),
        ("https://cdn.skypack.dev/three@0.160.0", LibRef("three", "0.160.0", "", E)),
        ("https://ga.jspm.io/npm:three@0.160.0/build/three.module.js",
         LibRef("three", "0.160.0", "build/three.module.js", E)),
        ("https://example.com/npm/three@0.160.0/build/three.js", None),
        ("https://cdnjs.cloudflare.com/ajax/libs/three.js/r128", None),
        # Tailwind's Play CDN: the same script, mirrored on npm as tailwindcss-cdn
        ("https://cdn.tailwindcss.com", LibRef("tailwindcss-cdn", "3", "tailwindcss.js", "npm")),
        ("https://cdn.tailwindcss.com/3.4.1",
         LibRef("tailwindcss-cdn", "3.4.1", "3.4.1/tailwindcss.js", "npm")),
        ("https://cdn.tailwindcss.com?plugins=forms,typography",
         LibRef("tailwindcss-cdn", "3", "tailwindcss-with-all-plugins.js", "npm")),
        ("https://cdn.tailwindcss.com/some/other/path", None),
    ],
)  # fmt: skip
def test_parse_cdn_url(url: str, expected: LibRef | None) -> None:
    assert parse_cdn_url(url) == expected


def test_is_cdn_url() -> None:
    assert is_cdn_url("https://cdn.jsdelivr.net/gh/user/repo/x.js")  # known host, odd form
    assert is_cdn_url("https://unpkg.com/three")
    assert not is_cdn_url("https://example.com/three.js")
    assert not is_cdn_url("three")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("1.9.0", "1.9.0"), ("^1.9", "1.10.2"), ("~1.9", "1.9.1"), ("1", "1.10.2"),
        ("1.x", "1.10.2"), ("1.9.x", "1.9.1"), (">=1 <2", "1.10.2"), (">=1.9.1 <1.10", "1.9.1"),
        ("*", "2.0.0"), ("", "1.10.2"), ("latest", "1.10.2"), ("next", "2.1.0-beta.1"),
        ("2.1.0-beta.1", "2.1.0-beta.1"), ("^0.160", "0.160.1"), ("~0.160.0", "0.160.1"),
        ("^0.0.3", "0.0.3"), ("<1", "0.160.1"), ("<=1.9", "1.9.1"), (">1.9", "2.0.0"),
        ("^3 || ~1.9.0", "1.9.1"), (">= 2", "2.0.0"), ("=1.9.0", "1.9.0"), ("v1.9.0", "1.9.0"),
    ],
)  # fmt: skip
def test_pick_version(spec: str, expected: str) -> None:
    versions = ["0.0.3", "0.160.0", "0.160.1", "1.9.0", "1.9.1", "1.10.2", "2.0.0",
                "2.1.0-beta.1"]  # fmt: skip
    doc = {"name": "p", "dist-tags": {"latest": "1.10.2", "next": "2.1.0-beta.1"},
           "versions": dict.fromkeys(versions, {})}  # fmt: skip
    assert pick_version(doc, spec) == expected


@pytest.mark.parametrize("spec", ["^5", "nope", "1 - 2", ">=3"])
def test_pick_version_no_match(spec: str) -> None:
    with pytest.raises(LibError):
        pick_version({"name": "p", "versions": {"1.0.0": {}, "2.0.0-rc.1": {}}}, spec)


def test_resolve_range_and_tag(registry: FakeRegistry, cache: LibCache) -> None:
    for v in ("1.9.0", "1.9.4", "1.10.0", "2.0.0-rc.1"):
        registry.add("lib", v, {"package.json": pkg_json(main="lib.js"), "lib.js": f"//{v}"})
    registry.packuments["lib"]["dist-tags"] = {"latest": "1.9.4", "next": "2.0.0-rc.1"}
    assert cache.resolve(LibRef("lib", "^1.9", "")).version == "1.10.0"
    assert cache.resolve(LibRef("lib", "latest", "")).body == b"//1.9.4"
    assert cache.resolve(LibRef("lib", "", "lib.js")).version == "1.9.4"
    assert cache.resolve(LibRef("lib", "next", "")).version == "2.0.0-rc.1"
    f = cache.fetch_url("https://cdn.jsdelivr.net/npm/lib@~1.9.0/lib.js")
    assert (f.version, f.path, f.content_type) == ("1.9.4", "lib.js", content_type("x.js"))
    with pytest.raises(LibError, match="no version matches"):
        cache.resolve(LibRef("lib", "^3", ""))
    with pytest.raises(LibError, match="unknown npm package"):
        cache.resolve(LibRef("missing", "latest", ""))
    with pytest.raises(LibError, match="not found"):
        cache.resolve(LibRef("lib", "1.9.0", "nope.js"))
    with pytest.raises(LibError, match="not a known CDN"):
        cache.fetch_url("https://example.com/lib.js")
    with pytest.raises(LibError, match="unsupported CDN URL"):
        cache.fetch_url("https://cdn.jsdelivr.net/gh/u/r/x.js")


def test_entry_resolution(registry: FakeRegistry, cache: LibCache) -> None:
    files = {"jsd.js": "jsd", "unp.js": "unp", "br.js": "br", "main.js": "main",
             "esm.mjs": "esm", "index.js": "index"}  # fmt: skip
    meta = {"jsdelivr": "./jsd.js", "unpkg": "unp.js", "browser": "br.js", "main": "main"}
    registry.add("full", "1.0.0", {"package.json": pkg_json(**meta, module="esm.mjs"), **files})
    registry.add("nomod", "1.0.0", {"package.json": pkg_json(browser={"x": False}), **files})
    registry.add(
        "exp",
        "1.0.0",
        {"package.json": pkg_json(main="main.js", exports={".": {"require": "./main.js",
                                  "import": "./esm.mjs"}}), **files},
    )  # fmt: skip
    get = cache.fetch_url
    assert get("https://cdn.jsdelivr.net/npm/full@1").body == b"jsd"
    assert get("https://unpkg.com/full@1").body == b"unp"
    assert get("https://esm.sh/full@1").body == b"esm"
    assert get("https://esm.sh/exp@1").body == b"esm"
    assert get("https://cdn.skypack.dev/exp").path == "esm.mjs"
    assert get("https://unpkg.com/exp@1").body == b"main"
    assert get("https://cdn.jsdelivr.net/npm/nomod@1").body == b"index"
    assert get("https://cdn.jsdelivr.net/npm/full@1/main").path == "main.js"  # extensionless
    assert get("https://cdn.jsdelivr.net/npm/full@1/main.min.js").body == b"main"


def test_bare_specifiers(registry: FakeRegistry, cache: LibCache) -> None:
    meta = pkg_json(
        main="./build/three.cjs",
        module="./build/three.module.js",
        exports={".": {"import": "./build/three.module.js", "require": "./build/three.cjs"},
                 "./addons/*": "./examples/jsm/*", "./examples/jsm/*": "./examples/jsm/*"},
    )  # fmt: skip
    files = {"package.json": meta, "build/three.module.js": "export const REVISION='160';",
             "build/three.cjs": "cjs", "examples/jsm/controls/OrbitControls.js": "orbit"}  # fmt: skip
    registry.add("three", "0.160.0", files, tags={"latest": "0.160.0"})
    assert cache.resolve_bare("three").path == "build/three.module.js"
    orbit = cache.resolve_bare("three/addons/controls/OrbitControls.js")
    assert (orbit.path, orbit.body) == ("examples/jsm/controls/OrbitControls.js", b"orbit")
    assert cache.resolve_bare("three@0.160.0/examples/jsm/controls/OrbitControls.js").body == (
        b"orbit"
    )
    assert cache.resolve_bare("https://unpkg.com/three@0.160.0/build/three.cjs").body == b"cjs"
    for bad in ("./local.js", "/abs.js", "data:text/javascript,1"):
        with pytest.raises(LibError):
            cache.resolve_bare(bad)


def test_cdnjs_search_and_three_r128(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("three", "0.128.0", {"package.json": pkg_json(main="build/three.js"),
                                      "build/three.min.js": "min", "build/three.js": "full"})  # fmt: skip
    f = cache.fetch_url("https://cdnjs.cloudflare.com/ajax/libs/three.js/r128/three.min.js")
    assert (f.package, f.version, f.path, f.body) == ("three", "0.128.0", "build/three.min.js",
                                                      b"min")  # fmt: skip
    registry.add("p5", "1.4.0", {"package.json": pkg_json(), "lib/p5.min.js": "p5",
                                 "lib/addons/p5.sound.min.js": "sound",
                                 "docs/deep/more/p5.sound.min.js": "wrong"})  # fmt: skip
    base = "https://cdnjs.cloudflare.com/ajax/libs/p5.js/1.4.0/"
    assert cache.fetch_url(base + "p5.min.js").path == "lib/p5.min.js"
    assert cache.fetch_url(base + "addons/p5.sound.min.js").body == b"sound"
    registry.add("animejs", "3.2.1", {"package.json": pkg_json(), "x/long/anime.min.js": "b",
                                      "lib/deep/er/anime.min.js": "c", "y/anime.min.js": "a",
                                      "style.css": "p{}"})  # fmt: skip
    base = "https://cdnjs.cloudflare.com/ajax/libs/anime.js/3.2.1/"
    assert cache.fetch_url(base + "anime.min.js").body == b"a"  # shortest path wins
    css = cache.fetch_url(base + "style.css")
    assert css.content_type == "text/css; charset=utf-8"


def test_integrity_mismatch_caches_nothing(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("bad", "1.0.0", {"index.js": "x"}, integrity=sri(b"something else"))
    with pytest.raises(LibError, match="integrity mismatch"):
        cache.resolve(LibRef("bad", "1.0.0", ""))
    assert not (cache.cache_dir / "bad" / "1.0.0").exists()
    assert [p.name for p in (cache.cache_dir / "bad").iterdir()] == [".packument.json"]


def test_shasum_fallback(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("old", "1.0.0", {"index.js": "x"})
    dist = registry.packuments["old"]["versions"]["1.0.0"]["dist"]
    dist["shasum"] = hashlib.sha1(registry.tarballs["/tarballs/old-1.0.0.tgz"]).hexdigest()
    del dist["integrity"]
    assert cache.resolve(LibRef("old", "1", "")).body == b"x"


def test_offline_warm_and_cold(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("warm", "1.2.3", {"package.json": pkg_json(main="a.js"), "a.js": "A"},
                 tags={"latest": "1.2.3"})  # fmt: skip
    cache.resolve(LibRef("warm", "^1", ""))
    before = sum(registry.hits.values())
    offline = LibCache(cache.cache_dir, registry="http://127.0.0.1:9", offline=True)
    for spec in ("1.2.3", "^1", "latest", ""):
        assert offline.resolve(LibRef("warm", spec, "a.js")).body == b"A"
    assert offline.fetch_url("https://unpkg.com/warm").body == b"A"
    with pytest.raises(LibError, match="offline"):
        offline.resolve(LibRef("cold", "1.0.0", ""))
    with pytest.raises(LibError, match="no version matches"):
        offline.resolve(LibRef("warm", "^2", ""))
    (cache.cache_dir / "warm" / ".packument.json").unlink()  # unpacked dirs alone suffice
    assert LibCache(cache.cache_dir, offline=True).resolve(LibRef("warm", "^1", "")).body == b"A"
    assert sum(registry.hits.values()) == before


def test_packument_cached_between_instances(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("p", "1.0.0", {"index.js": "x"}, tags={"latest": "1.0.0"})
    cache.resolve(LibRef("p", "latest", ""))
    LibCache(cache.cache_dir, registry=registry.url).resolve(LibRef("p", "^1", ""))
    assert registry.hits["/p"] == 1
    assert registry.tarball_hits("p") == 1


def test_stale_packument_used_when_registry_fails(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("p", "1.0.0", {"index.js": "x"}, tags={"latest": "1.0.0"})
    cache.resolve(LibRef("p", "^1", ""))
    packument = cache.cache_dir / "p" / ".packument.json"
    old = time.time() - 2 * 86400
    os.utime(packument, (old, old))
    registry.fail = True
    again = LibCache(cache.cache_dir, registry=registry.url)
    assert again.resolve(LibRef("p", "^1", "")).version == "1.0.0"
    assert again.resolve(LibRef("p", "latest", "")).version == "1.0.0"
    assert registry.hits["/p"] == 2  # one refresh attempt, then the stale copy is kept


def test_concurrent_resolves_download_once(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("big", "1.0.0", {"package.json": pkg_json(main="m.js"), "m.js": "M" * 1000})
    registry.tarball_delay = 0.3
    results: list[bytes | Exception] = []

    def work() -> None:
        try:
            results.append(cache.fetch_url("https://cdn.jsdelivr.net/npm/big@1").body)
        except Exception as e:  # pragma: no cover - reported by the assert below
            results.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"M" * 1000] * 8
    assert registry.tarball_hits("big") == 1
    assert registry.hits["/big"] == 1


def test_tarball_path_traversal_refused(registry: FakeRegistry, cache: LibCache,
                                        tmp_path: Path) -> None:  # fmt: skip
    evil = make_tarball({"index.js": "ok", "../../escaped.js": "evil"})
    registry.add("evil", "1.0.0", {}, tarball=evil)
    with pytest.raises(LibError, match="escapes"):
        cache.resolve(LibRef("evil", "1.0.0", ""))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("package/link.js")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    registry.add("links", "1.0.0", {}, tarball=buf.getvalue())
    with pytest.raises(LibError):
        cache.resolve(LibRef("links", "1.0.0", "link.js"))
    assert not list(tmp_path.rglob("escaped.js"))
    assert not (cache.cache_dir / "evil" / "1.0.0").exists()
    registry.add("ok", "1.0.0", {"index.js": "x"})
    registry.add("other", "1.0.0", {"secret.js": "s"})
    assert cache.resolve(LibRef("other", "1.0.0", "secret.js")).body == b"s"
    with pytest.raises(LibError, match="not found"):  # nor can URL paths climb out
        cache.fetch_url("https://cdn.jsdelivr.net/npm/ok@1.0.0/../../other/1.0.0/secret.js")


def test_prefetch(registry: FakeRegistry, cache: LibCache) -> None:
    registry.add("a", "2.0.0", {"index.js": "a"}, tags={"latest": "2.0.0"})
    seen: list[tuple[str, str | None]] = []
    out = prefetch(cache, ["a", "nope"], progress=lambda n, v: seen.append((n, v)))
    assert out["a"] == "2.0.0" and isinstance(out["nope"], LibError)
    assert seen == [("a", "2.0.0"), ("nope", None)]
    assert (cache.cache_dir / "a" / "2.0.0" / "index.js").read_text() == "a"


def test_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GALLERY_LIBS_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("GALLERY_NPM_REGISTRY", "http://mirror.invalid/")
    c = LibCache()
    assert (c.cache_dir, c.registry) == (tmp_path / "c", "http://mirror.invalid")


def test_content_types() -> None:
    assert content_type("a/b.mjs") == "application/javascript; charset=utf-8"
    assert content_type("x.wasm") == "application/wasm"
    assert content_type("f.woff2") == "font/woff2"
    assert content_type("m.glb") == "model/gltf-binary"
    assert content_type("LICENSE") == "application/octet-stream"


@pytest.mark.network
def test_real_registry_three(tmp_path: Path) -> None:
    try:
        urllib.request.urlopen("https://registry.npmjs.org/-/ping", timeout=10).close()
    except OSError as e:
        pytest.skip(f"npm registry unreachable: {e}")
    cache = LibCache(cache_dir=tmp_path, registry="https://registry.npmjs.org")
    f = cache.fetch_url("https://cdn.jsdelivr.net/npm/three@0.160.0/build/three.module.js")
    assert f.version == "0.160.0" and f.content_type.startswith("application/javascript")
    assert f.body.startswith(b"/**") and b"REVISION" in f.body
