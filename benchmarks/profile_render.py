"""Where a page's render time goes: per-phase timings over the benchmark corpus.

    .venv/bin/python benchmarks/profile_render.py [--variants 1] [--concurrency 4]
        [--pyinstrument out.html] [--only mandelbrot-heavy ...]

Wraps the renderer's calls into the page (context + load, clock steps,
screenshots, animation sync, DOM collection, axe-core, control load, close)
and the Python-side image work (diffs, WebP preview), and prints the summed
time of each phase over all pages (summed across concurrent pages, so it is
"busy time", not wall time) with its share, plus the slowest pages.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

from gallery.render import images  # noqa: E402
from gallery.render import page as render  # noqa: E402
from gallery.render import timeline as observe  # noqa: E402
from gallery.render.libs import LibCache  # noqa: E402

PHASES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def _wrap_async(owner, name: str, label: str | None = None, key=None) -> None:
    original = getattr(owner, name)

    async def wrapped(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            lab = label or name
            if key is not None:
                lab = f"{lab}:{key(*args, **kwargs)}"
            PHASES[lab] += time.perf_counter() - t0
            COUNTS[lab] += 1

    setattr(owner, name, wrapped)


def _wrap_sync(owner, name: str, label: str | None = None) -> None:
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            PHASES[label or name] += time.perf_counter() - t0
            COUNTS[label or name] += 1

    setattr(owner, name, wrapped)


def instrument() -> None:
    _wrap_async(render._Load, "open", "open (context+load)")
    _wrap_async(render._Load, "advance", "clock", key=lambda self, kind, ms: kind)
    _wrap_async(render._Load, "sync_animations", "animation sync")
    _wrap_async(
        render._Load,
        "screenshot",
        "screenshot",
        key=lambda self, jpeg=False: "jpeg" if jpeg else "png",
    )
    _wrap_async(render._Load, "send", "input")
    _wrap_async(render._Load, "close", "close context")
    _wrap_async(observe, "_collect", "collect (DOM, js checks, axe)")
    _wrap_async(observe, "_axe", "  of which axe-core")
    _wrap_async(observe, "_control", "control load (interactive)")
    _wrap_sync(observe, "_measure", "pixel measures (Pillow)")
    _wrap_sync(images, "animated_webp", "preview.webp (Pillow)")


async def run(pages, dirs, concurrency: int) -> list[tuple[str, dict]]:
    from gallery.render.sandbox import Renderer

    out = []
    async with Renderer(libs=LibCache()) as renderer:
        sem = asyncio.Semaphore(concurrency)

        async def one(page):
            async with sem:
                res = await renderer.render(dirs[page.name], page.prompt)
            await asyncio.to_thread(images.animated_webp, res.preview_frames)
            out.append((page.name, res.observation))

        await asyncio.gather(*(one(p) for p in pages))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--pyinstrument", help="also write a pyinstrument HTML profile here")
    args = ap.parse_args()
    instrument()
    pages = corpus.build(args.variants, args.only)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = corpus.write(pages, Path(tmp))
        profiler = None
        if args.pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        t0 = time.perf_counter()
        results = asyncio.run(run(pages, dirs, args.concurrency))
        wall = time.perf_counter() - t0
        if profiler:
            profiler.stop()
            Path(args.pyinstrument).write_text(profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    busy = sum(obs["real_time_s"] for _, obs in results)
    print(
        f"{len(pages)} pages, concurrency {args.concurrency}: wall {wall:.1f}s, "
        f"{wall / len(pages):.3f}s/page; summed page time {busy:.1f}s"
    )
    print(f"{'phase':40} {'calls':>6} {'seconds':>8} {'share':>6}")
    for name, secs in sorted(PHASES.items(), key=lambda kv: -kv[1]):
        print(f"{name:40} {COUNTS[name]:6d} {secs:8.2f} {secs / busy:6.1%}")
    print("slowest pages:")
    for name, obs in sorted(results, key=lambda r: -r[1]["real_time_s"])[:8]:
        print(f"  {name:32} {obs['real_time_s']:6.2f}s  mode={obs['mode']} status={obs['status']}")


if __name__ == "__main__":
    main()
