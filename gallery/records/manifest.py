"""``run.json``: the one typed owner of a run's manifest.

Every writer goes through ``Run.update_manifest`` / ``Run.save_manifest``
(``records/store.py``), which validate against ``RunManifest`` here; every
reader gets the same normalised shape (a prompt entry is always ``{id,
sha256}``, whatever an older writer left). A manifest that does not fit is a
``RecordError`` naming the file and the field. JSON layout on disk: the
project's one (``fsutil.dump_json``), fields in the order below, unset ones left
out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from gallery.records.fsutil import dump_json
from gallery.records.schemas import convert, read


class ModelEntry(msgspec.Struct, omit_defaults=True):
    """One lane as it was asked for: where its replies came from."""

    name: str
    label: str | None = None
    provider: str | None = None
    model_id: str | None = None
    base_url: str | None = None
    api: str | None = None
    params: dict[str, Any] | None = None
    concurrency: int | None = None
    priced: bool | None = None
    imported: bool = False
    reference: bool = False
    #: why the lane has no samples in this run (a missing key), None when it has
    skipped: str | None = None


class PromptEntry(msgspec.Struct, omit_defaults=True):
    id: str
    #: of the prompt text the samples answer (None: imported pages, no text sent)
    sha256: str | None = None


class Totals(msgspec.Struct):
    """``records.totals.run_totals``: recomputed from the samples on disk."""

    samples: int = 0
    ok: int = 0
    no_artifact: int = 0
    failed: int = 0
    replayed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_complete: bool = True
    wall_s: float = 0.0


class MergedFrom(msgspec.Struct, omit_defaults=True):
    id: str
    shard: str | None = None
    status: str | None = None


class RunManifest(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    #: how far the run's job got: running, generated, rendering, building, finished,
    #: imported, merged (see ``gallery.job``)
    status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    rendered_at: str | None = None
    chromium: str | None = None
    system_prompt: str | None = None
    concurrency: int | None = None
    samples: int | None = None
    models: list[ModelEntry] = []
    prompts: list[PromptEntry | str] = []
    totals: Totals | None = None
    shard: str | None = None
    merged_at: str | None = None
    merged_from: list[MergedFrom] = []

    def __post_init__(self) -> None:
        # older writers listed imported prompts by id alone: one shape for every reader
        self.prompts = [PromptEntry(p) if isinstance(p, str) else p for p in self.prompts]

    def model(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def prompt_ids(self) -> list[str]:
        return [p.id if isinstance(p, PromptEntry) else p for p in self.prompts]


def from_builtins(data: Any, path: Path) -> RunManifest:
    """Validate plain data (what a writer built, or what JSON gave) as a manifest."""
    return convert(data, RunManifest, path)


def to_builtins(manifest: RunManifest) -> dict[str, Any]:
    data = msgspec.to_builtins(manifest)
    return data if isinstance(data, dict) else {}


def read_manifest(path: Path) -> RunManifest | None:
    """The run's manifest, None when it has none yet."""
    data = read(path)
    return None if data is None else from_builtins(data, path)


def encode(manifest: RunManifest) -> bytes:
    return dump_json(to_builtins(manifest))
