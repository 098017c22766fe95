"""Finding and launching a usable Chromium.

Playwright's own browser download is not possible everywhere (closed
networks, distro Chromium only), so gallery looks in order for: an explicit
path (``--chromium`` / ``GALLERY_CHROMIUM``), a Playwright-installed Chromium,
then ``chromium``, ``chromium-browser`` and ``google-chrome`` on PATH.
The launch flags stop Chromium from making stray connections of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gallery.errors import BrowserNotFound

PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: No background traffic: the sandbox must see only the page's own requests.
QUIET_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-quic",
)

#: Headless WebGL through SwiftShader (software GL), so 3D pages render without a GPU.
#: 2D canvas is rasterised on the CPU instead: through emulated-GPU SwiftShader a
#: full-viewport 2D frame costs about ten times as much (33.7 vs 2.9 ms measured).
WEBGL_FLAGS = (
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-accelerated-2d-canvas",
    "--disable-gpu-compositing",
)


#: The same pixels for the same page in every render: headless Chromium's own
#: ``--deterministic-mode`` set, less its begin-frame control (which Playwright cannot
#: drive). Animations run on the main thread, so a paused one is drawn where it was
#: pinned, not where the compositor had run it on real time (seen: a clock's second
#: hand, a pulsing title, a turning teabag each drawn at a different instant in one
#: render in three); every raster and image decode is done before a frame is drawn;
#: and a user scroll (a Space press, a wheel) jumps instead of gliding in real time.
DETERMINISM_FLAGS = (
    "--run-all-compositor-stages-before-draw",
    "--disable-threaded-animation",
    "--disable-checker-imaging",
    "--disable-image-animation-resync",
    "--disable-new-content-rendering-timeout",
    "--disable-smooth-scrolling",
)


@dataclass(frozen=True)
class ChromiumInfo:
    path: Path
    how: str  # "option", "GALLERY_CHROMIUM", "playwright", "PATH"


def _playwright_browsers_dir() -> Path | None:
    """Where Playwright keeps its browsers (``PLAYWRIGHT_BROWSERS_PATH`` or the default)."""
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if env == "0":
        try:
            import playwright
        except ImportError:
            return None
        return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ms-playwright"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "ms-playwright"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"


def _playwright_chromium() -> Path | None:
    """The Chromium Playwright installed, if its executable exists."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    # Asking Playwright starts its Node driver (about a second); when its browsers
    # folder holds no Chromium at all, the answer is known without it.
    folder = _playwright_browsers_dir()
    if folder is not None and not any(folder.glob("chromium-*")):
        return None
    try:
        with sync_playwright() as p:
            path = Path(p.chromium.executable_path)
    except Exception:  # noqa: BLE001 - Playwright raises plain Exception when not installed
        return None
    return path if path.is_file() else None


def find_chromium(explicit: str | os.PathLike[str] | None = None) -> ChromiumInfo:
    """The first usable Chromium in the documented order, or BrowserNotFound."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BrowserNotFound("no such file", field="--chromium", source=path)
        return ChromiumInfo(path, "option")
    env = os.environ.get("GALLERY_CHROMIUM")
    if env:
        path = Path(env)
        if not path.is_file():
            raise BrowserNotFound(f"GALLERY_CHROMIUM points to a missing file: {path}")
        return ChromiumInfo(path, "GALLERY_CHROMIUM")
    pw = _playwright_chromium()
    if pw:
        return ChromiumInfo(pw, "playwright")
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return ChromiumInfo(Path(found), "PATH")
    raise BrowserNotFound(
        "no Chromium found: set GALLERY_CHROMIUM, run `python -m playwright install chromium`, "
        "or install your system's chromium package (`make setup` does this)"
    )


#: How long a remembered ``--version`` answer is trusted without asking again.
VERSION_CACHE_TTL = 24 * 3600.0


def _version_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("gallery")) / "chromium-versions.json"


def chromium_version(path: Path) -> str:
    """``Chromium 156.0...`` as the binary reports it (empty when it cannot say).

    Running ``--version`` costs a process start (through distribution wrapper
    scripts, a few of them), on every ``gallery render`` or ``run``, even when
    nothing needs rendering. The answer is remembered per binary, keyed by its
    resolved path, size and modification time (a package upgrade changes them),
    and asked again after a day in any case.
    """
    import json
    import time

    try:
        real = Path(path).resolve()
        st = real.stat()
    except OSError:
        return _ask_version(path)
    key = f"{real}\0{st.st_size}\0{st.st_mtime_ns}"
    cache = _version_cache()
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if (
        isinstance(entry, dict)
        and entry.get("version")
        and time.time() - entry.get("at", 0) < VERSION_CACHE_TTL
    ):
        return entry["version"]
    version = _ask_version(path)
    if version:
        # keep only other binaries that still exist
        known = {
            k: v
            for k, v in known.items()
            if not k.startswith(f"{real}\0") and Path(k.split("\0")[0]).exists()
        }
        known[key] = {"version": version, "at": time.time()}
        try:
            from gallery.records.fsutil import write_json

            write_json(cache, known)
        except OSError:
            pass
    return version


def _ask_version(path: Path) -> str:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def launch_args(*, webgl: bool = True, deterministic: bool = True) -> list[str]:
    """Chromium flags: quiet networking, software WebGL, deterministic drawing, and
    ``--no-sandbox`` when root.

    ``deterministic=False`` is a person's browser, for browsing the built site: with
    ``--run-all-compositor-stages-before-draw`` a page holding a sandboxed iframe
    sometimes never draws a frame again after it loads (no ``requestAnimationFrame``
    fires; 7 of 120 fresh browsers opening a sample page, none without the flag).
    """
    args = list(QUIET_FLAGS)
    if webgl:
        args += WEBGL_FLAGS
    if deterministic:
        args += DETERMINISM_FLAGS
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def launch_options(explicit: str | None = None) -> dict:
    """Keyword arguments for ``playwright.chromium.launch``."""
    info = find_chromium(explicit)
    return {"executable_path": str(info.path), "args": launch_args(), "headless": True}


def install_chromium() -> str:
    """Install a Chromium the way this machine allows; returns what was done.

    Root on Debian/Ubuntu gets the distro package (Playwright's download is not
    reachable everywhere); anyone else gets ``playwright install chromium``.
    """
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and Path("/etc/debian_version").exists() and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
        return "installed Debian's chromium package"
    import sys

    subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    return "installed Playwright's Chromium"


def ensure_chromium() -> ChromiumInfo:
    """Find a Chromium, installing one first when there is none (used by ``make setup``)."""
    try:
        return find_chromium()
    except BrowserNotFound:
        print(f"gallery: no Chromium found; {install_chromium()}")
        return find_chromium()


if __name__ == "__main__":  # python -m gallery.render.browser: the setup step
    found = ensure_chromium()
    print(f"gallery: chromium {found.path} ({found.how})")
