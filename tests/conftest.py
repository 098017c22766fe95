"""Shared fixtures: the project's paths and pytest-playwright wired to the discovered Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.render.browser import find_chromium, launch_args

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "network: needs the npm registry (skipped when unreachable)")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return str(find_chromium().path)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, chromium_path: str) -> dict:
    """pytest-playwright's browser (the one that browses the built site) is the Chromium
    gallery finds, with a person's flags: not the render's deterministic drawing, under
    which a page holding a sandboxed iframe sometimes stops drawing (see ``launch_args``)."""
    args = launch_args(deterministic=False)
    return {**browser_type_launch_args, "executable_path": chromium_path, "args": args}


@pytest.fixture
def llm_server():
    """A local OpenAI-compatible server (tests/llm_server.py) on 127.0.0.1, fresh per test."""
    from llm_server import LLMServer

    with LLMServer() as server:
        yield server
