"""CDN script/style URLs -> the same package files from the npm registry, cached on disk.

Generated pages load libraries from CDNs (jsDelivr, unpkg, cdnjs, esm.sh, Skypack, jspm),
but the sandbox has no network and CI machines often reach only the npm registry. Every
file those CDNs serve for npm packages is in the package tarball, so we resolve the URL
to (package, version spec, path), pick the version from the registry's packument, and
serve the file from an unpacked, integrity-checked tarball in ``cache_dir``.

Limits, on purpose: esm.sh / Skypack / jsDelivr ``+esm`` rewrite a package's ES module
build so its bare imports work in a browser; we serve the ESM entry as-is. That is right
for self-contained builds (three's ``build/three.module.js``, canvas-confetti) and fails
in the page, not here, for builds that import other packages. ``/gh/`` and ``/combine/``
URLs are not npm packages and do not parse.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import operator
import os
import re
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import platformdirs

from gallery.errors import GalleryError
from gallery.records.fsutil import atomic_folder, write_bytes

DEFAULT_REGISTRY = "https://registry.npmjs.org"
PACKUMENT_TTL = 24 * 3600.0
STALE_RETRY = 300.0
MAX_TARBALL = 256 * 1024 * 1024
COMMON_LIBRARIES: tuple[str, ...] = (
    "three", "p5", "matter-js", "pixi.js", "phaser", "d3", "gsap", "chart.js", "tone",
    "cannon-es", "planck", "canvas-confetti", "tsparticles", "animejs", "axe-core",
)  # fmt: skip


class LibError(GalleryError):
    """A CDN URL or specifier could not be served from npm (the reason is one line)."""


@dataclass(frozen=True)
class LibRef:
    """What a CDN URL names. ``cdn`` picks the entry-field order when ``path`` is empty
    ("npm"/"jsdelivr", "unpkg", "esm" for esm.sh/Skypack/+esm/bare imports, "cdnjs",
    whose flattened paths are searched for in the package)."""

    package: str
    spec: str
    path: str
    cdn: str = "npm"


@dataclass
class LibFile:
    body: bytes
    content_type: str
    package: str
    version: str
    path: str


_JS = "application/javascript; charset=utf-8"
CONTENT_TYPES = {
    "js": _JS, "mjs": _JS, "cjs": _JS, "css": "text/css; charset=utf-8",
    "json": "application/json; charset=utf-8", "map": "application/json; charset=utf-8",
    "wasm": "application/wasm", "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8", "md": "text/plain; charset=utf-8",
    "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "webp": "image/webp", "ico": "image/x-icon", "woff": "font/woff",
    "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject", "glb": "model/gltf-binary",
    "gltf": "model/gltf+json", "mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav",
}  # fmt: skip

# cdnjs library name -> npm package (lowercased keys; unlisted names map to themselves).
CDNJS_NAMES = {
    "three.js": "three", "p5.js": "p5", "anime.js": "animejs", "cannon.js": "cannon",
    "tween.js": "@tweenjs/tween.js", "lodash.js": "lodash", "dat-gui": "dat.gui",
    "font-awesome": "@fortawesome/fontawesome-free", "normalize": "normalize.css",
    "pixi.js": "pixi.js", "matter-js": "matter-js", "chart.js": "chart.js",
}  # fmt: skip

_JSDELIVR = {"cdn.jsdelivr.net", "fastly.jsdelivr.net", "gcore.jsdelivr.net"}
#: Tailwind's Play CDN (v3): not an npm URL, but its script is published on npm as
#: ``tailwindcss-cdn`` (a mirror of the same file, one folder per Play CDN version).
TAILWIND_PLAY = "cdn.tailwindcss.com"
TAILWIND_PACKAGE = "tailwindcss-cdn"
_CDN_HOSTS = _JSDELIVR | {"unpkg.com", "cdnjs.cloudflare.com", "esm.sh", "cdn.esm.sh",
                          "esm.run", "cdn.skypack.dev", "ga.jspm.io", TAILWIND_PLAY}  # fmt: skip


def content_type(path: str) -> str:
    """The Content-Type a CDN would send, from the file extension."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return CONTENT_TYPES.get(ext, "application/octet-stream")


def _split_spec(text: str, cdn: str) -> LibRef | None:
    """``name[@spec][/path]`` (scoped names too) -> LibRef."""
    parts = text.lstrip("/").split("/")
    n = 2 if parts[0].startswith("@") else 1
    if len(parts) < n or not parts[n - 1]:
        return None
    head, path = "/".join(parts[:n]), "/".join(parts[n:])
    name, at, spec = head.rpartition("@") if head.count("@") > n - 1 else (head, "", "")
    if not at:
        name = head
    if path.endswith("+esm"):
        path, cdn = path[: -len("+esm")].rstrip("/"), "esm"
    return LibRef(name, spec or "latest", path.strip("/"), cdn)


def parse_cdn_url(url: str) -> LibRef | None:
    """A CDN URL -> LibRef, or None when it is not an npm-backed CDN URL we understand."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), unquote(parts.path)
    if parts.scheme not in ("http", "https", "") or host not in _CDN_HOSTS:
        return None
    if host in _JSDELIVR:
        return _split_spec(path[5:], "jsdelivr") if path.startswith("/npm/") else None
    if host == "esm.run":
        return _split_spec(path, "esm")
    if host == TAILWIND_PLAY:
        # /, /3.4.1, /?plugins=forms,typography: the same script, with plugins or not
        m = re.fullmatch(r"/?(\d+\.\d+\.\d+)?/?", path)
        if m is None:
            return None
        name = "tailwindcss-with-all-plugins.js" if "plugins=" in parts.query else "tailwindcss.js"
        version = m.group(1)
        return LibRef(
            TAILWIND_PACKAGE, version or "3", f"{version}/{name}" if version else name, "npm"
        )
    if host == "unpkg.com":
        return None if path.startswith("/browse/") else _split_spec(path, "unpkg")
    if host == "ga.jspm.io":
        return _split_spec(path[5:], "esm") if path.startswith("/npm:") else None
    if host in ("esm.sh", "cdn.esm.sh", "cdn.skypack.dev"):
        path = re.sub(r"^/(v\d+|stable|pin/v\d+)/", "/", path)
        return None if path.startswith(("/-/", "/gh/", "/new/")) else _split_spec(path, "esm")
    m = re.match(r"^/ajax/libs/([^/]+)/([^/]+)/(.+)$", path)  # cdnjs
    if not m:
        return None
    name, version, file = m.groups()
    package = CDNJS_NAMES.get(name.lower(), name.lower())
    if package == "three" and (r := re.fullmatch(r"r(\d+)", version)):
        version = f"0.{r.group(1)}.0"
    return LibRef(package, version, file, "cdnjs")


#: What ``written_cdn_urls`` reads of a page's files, and how many URLs it keeps: a page
#: that writes ten thousand CDN URLs gets its first ones looked up, not the machine busy.
SCAN_BYTES = 4 * 1024 * 1024
SCAN_URLS = 100
_SCANNED = (".html", ".htm", ".js", ".mjs", ".cjs", ".css", ".json", ".svg", ".jsx", ".ts", ".tsx")
_WRITTEN = re.compile(
    r"(?:https?:)?//(?:" + "|".join(re.escape(h) for h in sorted(_CDN_HOSTS)) + r")"
    r"(?:/[^\s\"'`<>()\\]*)?",
    re.I,
)


def written_cdn_urls(artifact: Path) -> list[str]:
    """The CDN URLs written in a page's own files (script and link tags, import maps,
    ``import`` and ``fetch`` in its source text), in order, without repeats.

    These, and only these, are looked up in the registry before the page runs: a
    URL the page builds at run time (a package name carrying its data) is never
    asked for. A template (``.../npm/${name}@1/x.js``) is kept as written and fails
    as a package name, without a request.
    """
    found: dict[str, None] = {}
    budget = SCAN_BYTES
    files = sorted(p for p in artifact.rglob("*") if p.is_file() and p.suffix.lower() in _SCANNED)
    for path in files:
        if budget <= 0 or len(found) >= SCAN_URLS:
            break
        try:
            with open(path, "rb") as fh:
                data = fh.read(budget)
        except OSError:
            continue
        budget -= len(data)
        for m in _WRITTEN.finditer(data.decode("utf-8", errors="replace")):
            url = m.group(0)
            url = "https:" + url if url.startswith("//") else url
            found.setdefault(url.rstrip(".,;"), None)
            if len(found) >= SCAN_URLS:
                break
    return list(found)


def is_cdn_url(url: str) -> bool:
    """True for any URL on a CDN host we serve from npm, even in a form we cannot parse,
    so the renderer routes it here and records why it failed instead of a silent block."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in _CDN_HOSTS


# --- versions: a small npm semver subset ---------------------------------------------

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(
    r"^(<=|>=|<|>|=|\^|~>?|)v?(\*|[xX]|\d+)(?:\.(\*|[xX]|\d+))?(?:\.(\*|[xX]|\d+))?"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_OPS = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le,
        "==": operator.eq}  # fmt: skip
Version = tuple[int, int, int]


def _release(v: str) -> Version | None:
    """(major, minor, patch) of a release version; None for prereleases and junk."""
    m = _VERSION.match(v)
    return (int(m[1]), int(m[2]), int(m[3])) if m and not m[4] else None


def _bump(nums: list[int], i: int) -> Version:
    out = nums[: i + 1] + [0] * (2 - i)
    out[i] += 1
    return (out[0], out[1], out[2])


def _comparator(token: str) -> list[tuple[str, Version]]:
    """One comparator (``^1.2``, ``>=1``, ``1.x``) -> the bounds it means."""
    m = _COMPARATOR.match(token)
    if not m:
        raise ValueError(token)
    op, nums = m[1], []
    for g in m.groups()[1:]:
        if g is None or not g.isdigit():
            break
        nums.append(int(g))
    n, lo = len(nums), (*nums, 0, 0, 0)[:3]
    if n == 0:
        return [("<", (0, 0, 0))] if op in (">", "<") else []
    if op in ("", "="):
        return [("==", lo)] if n == 3 else [(">=", lo), ("<", _bump(nums, n - 1))]
    if op == "^":
        i = next((i for i, x in enumerate(nums) if x), n - 1)
        return [(">=", lo), ("<", _bump(nums, i))]
    if op.startswith("~"):
        return [(">=", lo), ("<", _bump(nums, 1 if n >= 2 else 0))]
    if op in (">=", "<") or n == 3:
        return [(op, lo)]
    return [(">=", _bump(nums, n - 1))] if op == ">" else [("<", _bump(nums, n - 1))]


def parse_range(spec: str) -> Callable[[Version], bool]:
    """An npm range (``^ ~ >= <= > < = x *``, spaces = and, ``||`` = or) -> predicate.
    Hyphen ranges and prerelease ranges are not supported (ValueError)."""
    sets = []
    for part in spec.split("||"):
        part = re.sub(r"(<=|>=|<|>|=|\^|~>?)\s+", r"\1", part.strip())
        sets.append([b for tok in part.split() for b in _comparator(tok)])
    return lambda v: any(all(_OPS[op](v, b) for op, b in bounds) for bounds in sets)


def pick_version(packument: dict[str, Any], spec: str) -> str:
    """The version a spec means: dist-tag, exact version (prereleases too), or the
    highest release matching the range."""
    name, versions = packument.get("name", "package"), packument.get("versions") or {}
    tags, spec = packument.get("dist-tags") or {}, spec.strip() or "latest"
    if tags.get(spec) in versions:
        return tags[spec]
    if spec.lstrip("=v") in versions:
        return spec.lstrip("=v")
    try:
        match = (lambda v: True) if spec == "latest" else parse_range(spec)
    except ValueError:
        raise LibError(f"{name}: unsupported version spec {spec!r}") from None
    ok = [(r, v) for v in versions if (r := _release(v)) and match(r)]
    if not ok:
        raise LibError(f"{name}: no version matches {spec!r}")
    return max(ok)[1]


# --- package files --------------------------------------------------------------------


def _exports_target(exports: Any, sub: str) -> str | None:
    """Resolve a subpath (``"."``, ``"./addons/x.js"``) through package.json ``exports``,
    preferring browser-loadable ES module conditions."""

    def pick(t: Any, star: str) -> str | None:
        if isinstance(t, str):
            return t.replace("*", star)
        items = t if isinstance(t, list) else []
        if isinstance(t, dict):
            items = [t[c] for c in ("import", "module", "browser", "default") if c in t]
        return next((r for x in items if (r := pick(x, star))), None)

    if isinstance(exports, (str, list)) or (
        isinstance(exports, dict) and not any(k.startswith(".") for k in exports)
    ):
        exports = {".": exports}
    if not isinstance(exports, dict):
        return None
    if sub in exports:
        return pick(exports[sub], "")
    for key in sorted((k for k in exports if "*" in k), key=len, reverse=True):
        pre, _, post = key.partition("*")
        if sub.startswith(pre) and sub.endswith(post) and len(sub) >= len(pre) + len(post):
            return pick(exports[key], sub[len(pre) : len(sub) - len(post)])
    return None


def _entry_candidates(meta: dict[str, Any], cdn: str) -> list[str]:
    """Where a CDN looks when the URL names no file, in that CDN's order."""
    esm = [meta.get("module"), _exports_target(meta.get("exports"), ".")]
    own = {"unpkg": ["unpkg"], "esm": []}.get(cdn, ["jsdelivr", "unpkg"])
    out = (esm if cdn == "esm" else []) + [meta.get(f) for f in own]
    browser = meta.get("browser")
    out += [browser if isinstance(browser, str) else None, meta.get("main"), "index.js"]
    return [c for c in out if isinstance(c, str) and c]


def _file_in(root: Path, rel: str) -> str | None:
    """``rel`` (or rel.js, rel/index.js) as a file inside root; never outside it."""
    rel = re.sub(r"^(\./)+", "", rel).lstrip("/")
    for cand in (rel, rel + ".js", rel + "/index.js"):
        p = (root / cand).resolve()
        if p.is_relative_to(root.resolve()) and p.is_file():
            return p.relative_to(root.resolve()).as_posix()
    return None


def _safe_extract(data: bytes, dest: Path) -> None:
    """Unpack an npm tarball into dest without its top directory; any member that
    would land outside dest, or a link/device the ``data`` filter refuses, aborts."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise LibError(f"tarball member escapes the package: {member.name}")
                rel = "/".join(parts[1:])
                if rel and (member.isfile() or member.isdir()):
                    tar.extract(member.replace(name=rel), dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise LibError(f"cannot unpack tarball: {e}") from None


def _verify(data: bytes, dist: dict[str, Any], what: str) -> None:
    """Check the tarball against ``dist.integrity`` (SRI) or ``dist.shasum`` (sha1)."""
    sri = {}
    for item in str(dist.get("integrity") or "").split():
        algo, _, digest = item.partition("-")
        if algo in ("sha512", "sha384", "sha256", "sha1"):
            sri.setdefault(algo, set()).add(digest.split("?")[0])
    for algo in ("sha512", "sha384", "sha256", "sha1"):
        if algo in sri:
            got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
            if got not in sri[algo]:
                raise LibError(f"{what}: tarball {algo} integrity mismatch")
            return
    if not dist.get("shasum"):
        raise LibError(f"{what}: registry gives no integrity or shasum")
    if hashlib.sha1(data).hexdigest() != str(dist["shasum"]).lower():
        raise LibError(f"{what}: tarball shasum mismatch")


_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(cache_dir: Path, package: str) -> threading.Lock:
    """One lock per (cache, package) in this process, so concurrent route handlers
    download a tarball once; other processes are kept safe by atomic renames."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((str(cache_dir), package), threading.Lock())


class LibCache:
    """npm packages unpacked under ``cache_dir/<package>/<version>/``, plus packuments
    (``.packument.json``, refreshed after a day) so a warm cache works offline."""

    def __init__(self, cache_dir: Path | None = None, registry: str | None = None,
                 offline: bool = False, timeout: float = 30.0) -> None:  # fmt: skip
        env_dir = os.environ.get("GALLERY_LIBS_CACHE")
        default = Path(platformdirs.user_cache_dir("gallery")) / "npm"
        self.cache_dir = Path(cache_dir or env_dir or default).expanduser().absolute()
        reg = registry or os.environ.get("GALLERY_NPM_REGISTRY") or DEFAULT_REGISTRY
        self.registry, self.offline, self.timeout = reg.rstrip("/"), offline, timeout
        self._packuments: dict[str, tuple[float, dict[str, Any]]] = {}

    def offline_view(self) -> LibCache:
        """The same cache that never asks the registry: what is on disk, and nothing else."""
        return LibCache(self.cache_dir, self.registry, offline=True, timeout=self.timeout)

    def _get(self, url: str, accept: str = "*/*") -> bytes:
        if self.offline:  # belt and braces: offline never reaches this
            raise LibError(f"offline: will not fetch {url}")
        req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "gallery"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            data = resp.read(MAX_TARBALL + 1)
        if len(data) > MAX_TARBALL:
            raise LibError(f"{url}: larger than {MAX_TARBALL} bytes")
        return data

    def _packument(self, package: str) -> dict[str, Any]:
        """Memory, then disk within the TTL, then the registry, then a stale copy (kept
        for a few minutes, so an unreachable registry does not stall every request)."""
        now, file = time.time(), self.cache_dir / package / ".packument.json"
        if (hit := self._packuments.get(package)) and (self.offline or now < hit[0]):
            return hit[1]
        age = now - file.stat().st_mtime if file.is_file() else None
        if not self.offline and (age is None or age >= PACKUMENT_TTL):
            url = f"{self.registry}/{quote(package, safe='@')}"
            try:
                data = self._get(url, "application/vnd.npm.install-v1+json; q=1.0, */*")
                doc = json.loads(data)
                write_bytes(file, data)
                self._packuments[package] = (now + PACKUMENT_TTL, doc)
                return doc
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise LibError(f"unknown npm package {package!r}") from None
                if age is None:
                    raise LibError(f"{package}: registry answered HTTP {e.code}") from None
            except (OSError, ValueError) as e:
                if age is None:
                    raise LibError(f"{package}: registry unreachable ({e})") from None
            age = PACKUMENT_TTL - STALE_RETRY
        if age is not None:
            doc = json.loads(file.read_bytes())
            self._packuments[package] = (now + PACKUMENT_TTL - age, doc)
            return doc
        local = [p.name for p in (self.cache_dir / package).glob("*") if _VERSION.match(p.name)]
        if not local:
            raise LibError(f"offline and {package} is not cached")
        return {"name": package, "versions": dict.fromkeys(local, {})}

    def ensure(self, package: str, spec: str = "latest") -> tuple[str, Path]:
        """Resolve ``spec`` and make sure that version is unpacked; (version, dir)."""
        if not re.fullmatch(r"(@[\w.-]+/)?[\w.-]+", package) or package.startswith("."):
            raise LibError(f"invalid npm package name {package!r}")
        spec = spec.strip() or "latest"
        with _lock(self.cache_dir, package):
            if _VERSION.match(spec) and (self.cache_dir / package / spec).is_dir():
                return spec, self.cache_dir / package / spec
            packument = self._packument(package)
            version = pick_version({"name": package, **packument}, spec)
            vdir = self.cache_dir / package / version
            if not vdir.is_dir():
                if self.offline:
                    raise LibError(f"offline and {package}@{version} is not cached")
                self._download(package, version, packument, vdir)
            return version, vdir

    def _download(self, package: str, version: str, packument: dict[str, Any],
                  vdir: Path) -> None:  # fmt: skip
        dist = (packument.get("versions", {}).get(version) or {}).get("dist") or {}
        if not dist.get("tarball"):
            raise LibError(f"{package}@{version}: registry gives no tarball")
        try:
            data = self._get(dist["tarball"])
        except (OSError, ValueError) as e:
            raise LibError(f"{package}@{version}: tarball download failed ({e})") from None
        _verify(data, dist, f"{package}@{version}")
        # another process may unpack the same version at once: the first one wins
        with atomic_folder(vdir, replace=False) as tmp:
            _safe_extract(data, tmp)

    def resolve(self, ref: LibRef) -> LibFile:
        """The file a LibRef names, downloading the package if needed."""
        version, vdir = self.ensure(ref.package, ref.spec)
        try:
            meta = json.loads((vdir / "package.json").read_bytes())
        except (OSError, ValueError):
            meta = {}
        path = re.sub(r"^(\./)+", "", ref.path).lstrip("/")
        if not path:
            cands = _entry_candidates(meta, ref.cdn)
        else:
            cands = [path]
            if target := _exports_target(meta.get("exports"), "./" + path):
                cands.insert(0 if ref.cdn == "esm" else 1, target)
            if path.endswith(".min.js"):  # jsDelivr minifies on the fly
                cands.append(path[: -len(".min.js")] + ".js")
            if ref.cdn == "cdnjs":
                cands += [f"{d}/{path}" for d in ("dist", "build", "lib")]
        found = next((f for c in cands if (f := _file_in(vdir, c))), None)
        if found is None and ref.cdn == "cdnjs" and path:
            found = _search(vdir, path)
        if found is None:
            raise LibError(f"{path or 'entry file'} not found in {ref.package}@{version}")
        body = (vdir / found).read_bytes()
        return LibFile(body, content_type(found), ref.package, version, found)

    def fetch_url(self, url: str) -> LibFile:
        ref = parse_cdn_url(url)
        if ref is None:
            what = "unsupported CDN URL form" if is_cdn_url(url) else "not a known CDN URL"
            raise LibError(f"{what}: {url}")
        return self.resolve(ref)

    def resolve_bare(self, specifier: str) -> LibFile:
        """An import-map/bare specifier (``three``, ``three/addons/x.js``, ``pkg@1/x``),
        resolved the way a bundler would (``exports``, then the raw path)."""
        if is_cdn_url(specifier):
            return self.fetch_url(specifier)
        if specifier.startswith((".", "/")) or ":" in specifier:
            raise LibError(f"not a bare module specifier: {specifier}")
        ref = _split_spec(specifier, "esm")
        if ref is None:
            raise LibError(f"not a bare module specifier: {specifier}")
        return self.resolve(ref)


def _search(root: Path, path: str) -> str | None:
    """cdnjs flattens packages: find ``path`` by suffix, else by basename; shortest wins."""
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    base = path.rsplit("/", 1)[-1]
    by_suffix = [f for f in files if f.endswith("/" + path)]
    for hits in (by_suffix, [f for f in files if f.rsplit("/", 1)[-1] == base]):
        if hits:
            return min(hits, key=lambda f: (f.count("/"), len(f), f))
    return None


def prefetch(cache: LibCache, names: Iterable[str] = COMMON_LIBRARIES,
             progress: Callable[[str, str | None], None] | None = None,
             ) -> dict[str, str | LibError]:  # fmt: skip
    """Warm the cache with the latest version of each package (for offline runs/CI).
    ``progress(name, version)`` is called after each, with None when it failed."""
    out: dict[str, str | LibError] = {}
    for name in names:
        try:
            out[name] = cache.ensure(name, "latest")[0]
        except LibError as e:
            out[name] = e
        if progress:
            value = out[name]
            progress(name, value if isinstance(value, str) else None)
    return out
