"""pytest plugin (``pytest11`` entry point): stored samples as test items.

``pytest --gallery RUN`` will turn each stored sample into an item (issue #6).
Until then the option exists and says so, so that the entry point never
breaks an unrelated pytest session.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gallery", "gallery: stored samples as tests")
    group.addoption("--gallery", metavar="RUN", default=None, help="Run id, 'latest' or a path.")
    group.addoption(
        "--gallery-rerender",
        action="store_true",
        default=False,
        help="Re-render each page in Chromium and fail when a check that passed no longer does.",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--gallery", default=None):
        raise pytest.UsageError("--gallery is not built yet (issue #6)")
