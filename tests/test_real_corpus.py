"""The labelled real-page corpus manifest (benchmarks/corpus/real) is whole and sound.

The pages themselves are fetched, not committed (benchmarks/real_corpus.py); this
checks what is committed: every page names a public source at a commit, a licence
that allows redistribution, a hash, a split and a person's labels.
"""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

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


MOVING = """<!doctype html><html lang="en"><head><title>m</title></head><body style="margin:0">
<canvas id=c width=1280 height=720></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 0;
(function f() { x = (x + 5) % 1200; g.fillStyle = '#123'; g.fillRect(0, 0, 1280, 720);
  g.fillStyle = 'orange'; g.fillRect(x, 300, 80, 80); requestAnimationFrame(f); })();
</script></body></html>"""
STILL = (
    '<!doctype html><html lang="en"><head><title>s</title></head><body><h1>Hello</h1></body></html>'
)


def _tiny_corpus(tmp_path: Path, monkeypatch) -> list[real_corpus.RealPage]:
    """Two labelled pages standing in for the fetched corpus: one moves, one is still."""
    monkeypatch.setattr(real_corpus, "PAGES", tmp_path / "pages")
    (tmp_path / "pages").mkdir()
    pages = []
    for pid, html, moves in (("moving", MOVING, True), ("still", STILL, False)):
        (tmp_path / "pages" / f"{pid}.html").write_text(html)
        label = real_corpus.Label(True, moves, moves, None, True, pid)
        pages.append(
            real_corpus.RealPage(
                pid,
                "o/r",
                "0" * 40,
                f"{pid}.html",
                "MIT",
                "m",
                "css",
                "0" * 64,
                "tune",
                "none",
                "",
                label,
            )  # fmt: skip
        )
    return pages


def test_verdict_truth_renders_scores_and_repeats(tmp_path: Path, monkeypatch) -> None:
    """The benchmark itself runs (it once broke unseen when the run manifest got a schema):
    two tiny pages through ``render``, scored against their labels, rendered twice."""
    import verdict_truth

    pages = _tiny_corpus(tmp_path, monkeypatch)
    first, _ = verdict_truth.render(pages, tmp_path / "out", 2)
    second, _ = verdict_truth.render(pages, tmp_path / "out", 2)
    works = verdict_truth.agreement(pages, first)["works"]
    assert (works["agree"], works["pages"]) == (2, 2), works
    assert verdict_truth.disagreements(pages, first) == []
    repeat = verdict_truth.repeat_check([first, second])
    assert repeat["outcomes_differ"] == [] and repeat["pixels_differ"] == [], repeat
    assert repeat["pixel_differences"] == {}
    # a shot of the second render one level lighter in a row of 3 pixels: reported with
    # its size, so a faint raster difference is told from a page that looks different
    pid, shot = next((pid, k) for pid, r in second.items() for k in r["shots"])
    image = Image.open(io.BytesIO(second[pid]["shots"][shot])).convert("RGB")
    for x in range(3):
        r, g, b = image.getpixel((x, 5))
        image.putpixel((x, 5), (r, g, b ^ 1))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    second[pid]["shots"][shot] = buf.getvalue()
    repeat = verdict_truth.repeat_check([first, second])
    assert repeat["pixels_differ"] == [pid] and repeat["outcomes_differ"] == []
    assert repeat["pixel_differences"] == {pid: {shot: {"pixels": 3, "max_level": 1}}}


def test_render_throughput_on_the_real_corpus_scores_every_copy(
    tmp_path: Path, monkeypatch
) -> None:
    """render_throughput.py's gallery phase on the real corpus (here two tiny stand-ins):
    fewer pages than the corpus are spread over it, more are whole copies, and the
    verdicts are scored against the labels in the same run."""
    import corpus
    import render_throughput

    from gallery.aio import run_sync

    found = _tiny_corpus(tmp_path, monkeypatch)
    monkeypatch.setattr(real_corpus, "available", lambda pages: found)
    monkeypatch.setattr(real_corpus, "load", lambda: found)
    assert [p.name for p in corpus.real(1)] == ["moving-r0"]
    pages = corpus.real(3)
    assert [p.name for p in pages] == ["moving-r0", "still-r0", "moving-r1"]
    assert pages[2].html.startswith("<!-- copy 1 -->") and pages[2].label == found[0].label
    dirs = corpus.write(pages, tmp_path / "in")
    (tmp_path / "out").mkdir()
    g = run_sync(
        render_throughput.gallery_phase(pages, dirs, 2)
    )  # pytest-playwright's loop may run
    assert sorted(g["verdicts"]) == sorted(p.name for p in pages)
    works = render_throughput.agreement(pages, g["verdicts"])["works"]
    assert (works["agree"], works["pages"]) == (3, 3), g["verdicts"]


def test_render_throughput_lesser_phases_each_observe_less() -> None:
    """``--also`` phases are cumulative: each drops work the one before it still did
    (a first version's ``no-input`` kept axe-core, so the shares did not add up)."""
    import corpus
    import render_throughput

    prompt = corpus.prompt_for("x", {"interact": [{"at": 2.0, "key": "ArrowUp"}]})
    page = corpus.Page("x-r0", "x", 0, "<p>x</p>", prompt)

    def work(p) -> tuple[set, int, int, int]:
        r = p.prompt.render
        kinds = {c.kind for c in p.prompt.checks}
        return kinds, len(p.prompt.interact), len(r.screenshots), r.preview_frames

    phases = [page] + [render_throughput.lesser([page], w)[0] for w in render_throughput.LESSER]
    assert "accessible" in work(page)[0] and work(page)[1] == 1
    for before, after in zip(phases, phases[1:], strict=False):
        (kb, ib, sb, fb), (ka, ia, sa, fa) = work(before), work(after)
        assert ka <= kb and ia <= ib and sa <= sb and fa <= fb
        assert (ka, ia, sa, fa) != (kb, ib, sb, fb) or after is phases[-1]
    no_input = render_throughput.lesser([page], "no-input")[0]
    assert work(no_input)[:2] == ({"runs", "animates", "clean-console", "offline"}, 0)
