"""``gallery doctor``: what is present and what is missing.

Each finding is ``(ok, what, detail)`` where ok is True, False (a problem that
stops gallery from working) or None (worth knowing, not a failure: a model
whose key is unset is skipped, not broken).
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from gallery.errors import GalleryError

if TYPE_CHECKING:
    from gallery.catalogue.workspace import Workspace

Finding = tuple[bool | None, str, str]


def check_browser(explicit: Path | None) -> list[Finding]:
    """Find Chromium and prove it launches headless under Playwright."""
    from gallery.render.browser import chromium_version, find_chromium, launch_args

    try:
        import playwright
        from playwright.sync_api import sync_playwright

        version = getattr(playwright, "__version__", "") or _dist_version("playwright")
        out: list[Finding] = [(True, "playwright", version)]
    except ImportError:
        return [(False, "playwright", "not installed (pip install -e '.[test]')")]
    try:
        info = find_chromium(explicit)
    except GalleryError as exc:
        return [*out, (False, "chromium", str(exc))]
    out.append(
        (True, "chromium", f"{info.path} ({info.how}) {chromium_version(info.path)}".strip())
    )

    def probe() -> bool:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(info.path), args=launch_args())
            page = browser.new_page()
            page.set_content("<canvas id=c></canvas>")
            webgl = page.evaluate("!!document.getElementById('c').getContext('webgl')")
            browser.close()
        return bool(webgl)

    try:
        # In a thread of its own: Playwright's sync API refuses to start in a thread that
        # already runs an event loop (a notebook, a test session driving a browser).
        with ThreadPoolExecutor(max_workers=1) as pool:
            webgl = pool.submit(probe).result()
        out.append((True, "chromium launch", "headless page rendered"))
        out.append(
            (
                True if webgl else None,
                "webgl",
                "available (SwiftShader)" if webgl else "unavailable",
            )
        )
    except Exception as exc:  # noqa: BLE001 - report any launch failure as a finding
        out.append((False, "chromium launch", str(exc).splitlines()[0]))
    return out


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def diagnose(paths: Workspace, chromium: Path | None = None) -> list[Finding]:
    """Every finding, in the order a user would fix them."""
    findings: list[Finding] = [(sys.version_info >= (3, 11), "python", sys.version.split()[0])]
    findings += check_browser(chromium)
    try:
        config = paths.load_config()
        findings.append((True, "config", f"{paths.config_path}: {len(config.models)} models"))
        for m in config.select([]):
            if m.is_reference:
                continue
            status = m.key_status
            detail = f"{m.api_key_env} {status}" if m.api_key_env else "no key needed"
            findings.append((True if status != "missing" else None, f"model {m.name}", detail))
        if config.defaults.judge:
            j = config.models[config.defaults.judge]
            status = j.key_status
            detail = f"{j.api_key_env} {status}" if j.api_key_env else "no key needed"
            if status == "missing":
                detail += ": `gallery run` skips the judge step"
            findings.append((True if status != "missing" else None, f"judge {j.name}", detail))
    except GalleryError as exc:
        findings.append((False, "config", str(exc)))
    try:
        catalogue = paths.load_prompts()
        refs = sum(1 for p in catalogue.values() if p.reference_path)
        findings.append(
            (True, "prompts", f"{paths.prompts_dir}: {len(catalogue)} prompts, {refs} references")
        )
    except GalleryError as exc:
        findings.append((False, "prompts", str(exc)))
    findings.append(_writable(paths.out))
    return findings


def _writable(out: Path) -> Finding:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".doctor-"):
            pass
    except OSError as exc:
        return (False, "output dir", f"{out} is not writable: {exc.strerror}")
    return (True, "output dir", f"{out} writable")
