"""Domain errors.

Library code raises these; only ``gallery.cli`` turns them into a one-line
message and an exit code, so the stages stay usable from Python and tests.
"""

from __future__ import annotations

from pathlib import Path


class GalleryError(Exception):
    """Base of every error gallery reports to a user.

    ``source`` is the file or option at fault and ``field`` the key inside it,
    so every message can say exactly where to look.
    """

    exit_code = 2

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.source = str(source) if source is not None else None
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.source and self.field:
            where = f"{self.source}: {self.field}: "
        elif self.source:
            where = f"{self.source}: "
        elif self.field:
            where = f"{self.field}: "
        return f"{where}{self.message}"


class ConfigError(GalleryError):
    """gallery.toml (models, pricing, defaults) is missing or malformed."""


class PromptError(GalleryError):
    """A prompt file in the catalogue is missing or malformed."""


class UsageError(GalleryError):
    """A command-line option or argument cannot be honoured."""


class RunNotFound(GalleryError):
    """A run id, ``latest`` or path names no stored run."""


class BrowserNotFound(GalleryError):
    """No usable Chromium could be found or launched."""


class RecordError(GalleryError):
    """A record on disk that is not what gallery writes (hand-edited, truncated, foreign)."""
