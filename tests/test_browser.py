"""Chromium discovery order, launch flags, and a real-browser smoke test."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from gallery.errors import BrowserNotFound
from gallery.render import browser


def _fake_binary(path: Path) -> Path:
    path.write_text("#!/bin/sh\necho 'Chromium 1.2.3'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_explicit_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALLERY_CHROMIUM", str(_fake_binary(tmp_path / "env-chrome")))
    info = browser.find_chromium(_fake_binary(tmp_path / "opt-chrome"))
    assert (info.path.name, info.how) == ("opt-chrome", "option")


def test_env_var_before_playwright_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_CHROMIUM", str(_fake_binary(tmp_path / "env-chrome")))
    info = browser.find_chromium()
    assert (info.path.name, info.how) == ("env-chrome", "GALLERY_CHROMIUM")
    assert browser.chromium_version(info.path) == "Chromium 1.2.3"


def test_path_names_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GALLERY_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "_playwright_chromium", lambda: None)
    _fake_binary(tmp_path / "google-chrome")
    _fake_binary(tmp_path / "chromium-browser")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.find_chromium().path.name == "chromium-browser"


def test_playwright_browser_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GALLERY_CHROMIUM", raising=False)
    pw = _fake_binary(tmp_path / "pw-chrome")
    monkeypatch.setattr(browser, "_playwright_chromium", lambda: pw)
    assert browser.find_chromium().how == "playwright"


def test_nothing_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GALLERY_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "_playwright_chromium", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserNotFound, match="no Chromium found"):
        browser.find_chromium()


def test_missing_env_path_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALLERY_CHROMIUM", str(tmp_path / "gone"))
    with pytest.raises(BrowserNotFound, match="GALLERY_CHROMIUM"):
        browser.find_chromium()


def test_launch_flags_are_quiet() -> None:
    args = browser.launch_args()
    for flag in (
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        assert flag in args
    assert ("--no-sandbox" in args) == (os.geteuid() == 0)


def test_site_browsing_flags_leave_out_deterministic_drawing() -> None:
    """The render draws deterministically; a person's browser (the site tests') does not."""
    person = browser.launch_args(deterministic=False)
    assert not set(browser.DETERMINISM_FLAGS) & set(person)
    assert set(browser.DETERMINISM_FLAGS) <= set(browser.launch_args())
    assert set(browser.QUIET_FLAGS) <= set(person)


def test_real_chromium_screenshots_a_local_page(tmp_path: Path) -> None:
    """The discovered Chromium launches with gallery's flags and draws a page."""
    from PIL import Image

    page_file = tmp_path / "index.html"
    page_file.write_text(
        "<!doctype html><html lang=en><title>t</title>"
        "<body style='margin:0;background:#fff'><div style='width:50px;height:50px;background:#f00'></div>"
    )
    shot = tmp_path / "shot.png"

    def draw() -> None:
        with sync_playwright() as p:
            b = p.chromium.launch(**browser.launch_options())
            page = b.new_page(viewport={"width": 200, "height": 100})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(shot))
            b.close()

    # A thread of its own, as doctor does: the sync API will not start where a test
    # session's pytest-playwright already runs its event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(draw).result()
    img = Image.open(shot).convert("RGB")
    assert img.size == (200, 100)
    assert img.getpixel((10, 10)) == (255, 0, 0)
    assert img.getpixel((150, 50)) == (255, 255, 255)
