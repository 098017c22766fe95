"""The labelled real-page corpus manifest (benchmarks/corpus/real) is whole and sound.

The pages themselves are fetched, not committed (benchmarks/real_corpus.py); this
checks what is committed: every page names a public source at a commit, a licence
that allows redistribution, a hash, a split and a person's labels.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import real_corpus  # noqa: E402

REDISTRIBUTABLE = {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "CC0-1.0",
                   "CC-BY-4.0", "Unlicense", "MPL-2.0"}  # fmt: skip


def test_manifest_is_whole() -> None:
    pages = real_corpus.load()
    assert len(pages) >= 60
    assert len({p.repo for p in pages}) >= 3 and len({p.model for p in pages}) >= 10
    assert len({p.id for p in pages}) == len(pages) == len({p.sha256 for p in pages})
    for p in pages:
        assert re.fullmatch(r"[0-9a-f]{40}", p.commit), p.id
        assert re.fullmatch(r"[0-9a-f]{64}", p.sha256), p.id
        assert p.licence in REDISTRIBUTABLE, (p.id, p.licence)
        assert p.split in real_corpus.SPLITS, p.id
        assert p.path.endswith((".html", ".htm")), p.id
        p.interact()  # every input names a known way to touch the page


def test_a_third_is_held_out_and_labels_are_mixed() -> None:
    pages = real_corpus.load()
    splits = Counter(p.split for p in pages)
    # a third of the first corpus was set aside; the fresh set came later, from new sources
    first = len(pages) - splits["fresh"]
    assert 0.25 <= splits["held-out"] / first <= 0.42, splits
    assert splits["fresh"] >= 40, splits
    works = Counter(p.label.works for p in pages)
    assert works[True] and works[False] >= 10, works
    for split in real_corpus.SPLITS:
        part = [p for p in pages if p.split == split]
        assert any(not p.label.works for p in part) and any(p.label.works for p in part), split
