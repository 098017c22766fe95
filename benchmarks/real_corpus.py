"""The labelled corpus of real model-written pages (``benchmarks/corpus/real/``).

``manifest.toml`` names each page by its public source — repository, commit,
path, licence, the model that wrote it — with its SHA-256, the input its task
implies, which third of the corpus it belongs to (``tune`` or ``held-out``),
and a person's labels: does it run, does it move on its own, is it meant to,
does it answer the input. Labels were decided by looking at each page run on
the real clock (``look.py`` contact sheets), not by any of gallery's checks.

The pages themselves are not in this repository (they are other people's
code): ``fetch`` brings them into ``benchmarks/corpus/real/pages/`` (ignored by
git) from GitHub at the recorded commits, or from a folder of copies, and
refuses any file whose hash differs from the manifest's.

    python benchmarks/real_corpus.py fetch [--from DIR]
    python benchmarks/real_corpus.py list [--split tune|held-out|fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "corpus" / "real"
MANIFEST = HERE / "manifest.toml"
PAGES = HERE / "pages"
RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
#: ``tune``: the engine was changed looking at these; ``held-out``: set aside while it was;
#: ``fresh``: gathered after the held-out figure had been reported and looked at, from
#: sources not used before, and never rendered by gallery before its own figure was.
SPLITS = ("tune", "held-out", "fresh")
#: Scripted input at 2 virtual s, by the manifest's ``input``: what a person would try.
INPUTS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "click": [
        {"at": 2.0, "click": [640, 360]},
        {"at": 2.1, "click": [427, 360]},
        {"at": 2.2, "click": [853, 240]},
    ],
    "drag": [{"at": 2.0, "drag": [[256, 480], [128, 540]]}],
}


@dataclass(frozen=True)
class Label:
    """What a person saw: ``responds`` is None where no input applies."""

    runs: bool
    animates: bool
    meant_to_animate: bool
    responds: bool | None
    certain: bool
    note: str

    @property
    def works(self) -> bool:
        """Runs, and moves when it is meant to: what ``runs ∧ animates`` is measured against."""
        return self.runs and (self.animates or not self.meant_to_animate)


@dataclass(frozen=True)
class RealPage:
    id: str
    repo: str
    commit: str
    path: str
    licence: str
    model: str
    kind: str
    sha256: str
    split: str
    input: str
    prompt: str
    label: Label

    @property
    def file(self) -> Path:
        return PAGES / f"{self.id}.html"

    def interact(self) -> list[dict[str, Any]]:
        """The scripted input of this page's prompt."""
        if self.input.startswith("key:"):
            return [{"at": 2.0, "key": self.input[4:], "hold": 0.5}]
        return INPUTS[self.input]


def load(manifest: Path = MANIFEST) -> list[RealPage]:
    """Every page of the manifest, in its order."""
    data = tomllib.loads(manifest.read_text(encoding="utf-8"))["pages"]
    pages = []
    for pid, e in data.items():
        lab = e["label"]
        responds = lab.get("responds")
        pages.append(
            RealPage(
                id=pid,
                repo=e["repo"],
                commit=e["commit"],
                path=e["path"],
                licence=e["licence"],
                model=e["model"],
                kind=e["kind"],
                sha256=e["sha256"],
                split=e["split"],
                input=e["input"],
                prompt=e.get("prompt", ""),
                label=Label(
                    runs=lab["runs"],
                    animates=lab["animates"],
                    meant_to_animate=lab["meant_to_animate"],
                    responds=responds if isinstance(responds, bool) else None,
                    certain=lab.get("certain", True),
                    note=lab.get("note", ""),
                ),
            )
        )
    return pages


def _good(data: bytes, page: RealPage) -> bool:
    return hashlib.sha256(data).hexdigest() == page.sha256


def fetch(pages: list[RealPage], source: Path | None = None) -> tuple[int, list[str]]:
    """Bring every missing page into ``PAGES``; (how many are present, the failures)."""
    PAGES.mkdir(parents=True, exist_ok=True)
    present, failed = 0, []
    for page in pages:
        if page.file.is_file() and _good(page.file.read_bytes(), page):
            present += 1
            continue
        try:
            if source is not None:
                data = (source / f"{page.id}.html").read_bytes()
            else:
                url = RAW.format(repo=page.repo, commit=page.commit, path=page.path)
                with urllib.request.urlopen(url, timeout=30) as resp:
                    data = resp.read()
        except OSError as exc:
            failed.append(f"{page.id}: {exc}")
            continue
        if not _good(data, page):
            failed.append(f"{page.id}: SHA-256 differs from the manifest's")
            continue
        page.file.write_bytes(data)
        present += 1
    return present, failed


def available(pages: list[RealPage]) -> list[RealPage]:
    """The pages whose files are here and match the manifest."""
    return [p for p in pages if p.file.is_file() and _good(p.file.read_bytes(), p)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="bring the pages into benchmarks/corpus/real/pages/")
    f.add_argument("--from", dest="source", type=Path, help="a folder of <id>.html copies")
    ls = sub.add_parser("list", help="the pages, one line each")
    ls.add_argument("--split", choices=SPLITS)
    args = ap.parse_args()
    pages = load()
    if args.cmd == "fetch":
        present, failed = fetch(pages, args.source)
        print(f"{present} of {len(pages)} pages present in {PAGES}")
        for line in failed:
            print(f"  not fetched: {line}", file=sys.stderr)
        sys.exit(1 if failed else 0)
    for p in pages:
        if args.split in (None, p.split):
            lab = p.label
            print(
                f"{p.id:<48} {p.split:<8} runs={lab.runs!s:<5} animates={lab.animates!s:<5} "
                f"meant={lab.meant_to_animate!s:<5} {p.licence}"
            )


if __name__ == "__main__":
    main()
