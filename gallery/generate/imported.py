"""Pages made elsewhere (a chat UI, another tool) become samples: ``gallery import``.

Each file becomes one sample of a prompt in a lane of its own, with a
``reply.json`` of the one shape (``replies.imported_record``) and the page as
its artifact; the run's manifest lists the lane as imported. Then the render
stage judges them like any other page.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gallery.catalogue.prompts import Prompt
from gallery.errors import UsageError
from gallery.generate.replies import imported_record
from gallery.records.fsutil import dump_json
from gallery.records.store import Run, Sample, SampleKey, check_name, utcnow


def import_pages(run: Run, files: Iterable[Path], prompt: Prompt, label: str) -> list[Sample]:
    """Store pages made elsewhere as samples of ``prompt`` under the lane ``label``."""
    check_name(label, "--model")
    paths = [Path(f) for f in files]
    if not paths:
        raise UsageError("give at least one HTML file to import", field="FILES")
    pages = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read: {exc.strerror}", source=path) from None
        text = data.decode("utf-8", errors="replace")
        if "<" not in text or not any(
            tag in text.lower() for tag in ("<html", "<body", "<script", "<canvas", "<div", "<svg")
        ):
            raise UsageError("does not look like an HTML page", source=path)
        pages.append((path, text))
    existing = [
        s.key.index for s in run.samples() if s.key.prompt == prompt.id and s.key.model == label
    ]
    start = max(existing, default=0) + 1
    out = []
    for offset, (path, text) in enumerate(pages):
        key = SampleKey(prompt.id, label, start + offset)
        reply = imported_record(key, text, path.name)
        out.append(
            run.write_sample(key, {"reply.json": dump_json(reply), "artifact/index.html": text})
        )
    manifest = run.manifest() or {"id": run.id, "started_at": utcnow(), "status": "imported"}
    lanes = manifest.setdefault("models", [])
    if not any(m["name"] == label for m in lanes):
        lanes.append({"name": label, "imported": True})
    prompts = manifest.setdefault("prompts", [])
    if prompt.id not in [p["id"] for p in prompts]:
        prompts.append({"id": prompt.id})
    run.save_manifest(manifest)
    return out
