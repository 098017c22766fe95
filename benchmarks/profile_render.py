"""Where a page's render time goes: per-phase timings over the benchmark corpus.

    .venv/bin/python benchmarks/profile_render.py [--variants 1] [--concurrency N]
        [--pyinstrument out.html] [--only mandelbrot-heavy ...] [--real [N]]

Wraps the renderer's calls into the page (context + load, clock steps,
screenshots, animation sync, DOM collection, axe-core, control load, close)
and the Python-side image work (diffs, WebP preview), and prints the summed
time of each phase over all pages (summed across concurrent pages, so it is
"busy time", not wall time) with its share, the CPU time of each process
(Chromium's by type, and its busiest threads), plus the slowest pages.
``--real [N]``: pages of the labelled real-model corpus instead of fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
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
from gallery.render.stage import default_concurrency  # noqa: E402


class ProcessCPU:
    """CPU seconds by Chromium process type and thread name, for this process's children.

    Sampled from ``/proc`` every half second (a thread's last reading is its total),
    so the split between page script (the renderer's main thread), WebGL in software
    (SwiftShader's worker threads in the GPU process), compositing (Viz) and
    gallery's own Python is measured, not guessed.
    """

    def __init__(self, interval: float = 0.5):
        import threading

        self.interval = interval
        self.last: dict[tuple[int, str], tuple[str, str, float]] = {}
        self.kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _kind(cmdline: str) -> str:
        if "chrom" not in cmdline:
            return "playwright driver" if "node" in cmdline else "other"
        m = re.search(r"--type=(\S+)", cmdline)
        return m.group(1) if m else "browser"

    def _sample(self) -> None:
        import os

        import psutil

        tick = os.sysconf("SC_CLK_TCK")
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                if proc.pid not in self.kinds:
                    self.kinds[proc.pid] = (
                        "python" if proc.pid == me.pid else self._kind(" ".join(proc.cmdline()))
                    )
                for tid in os.listdir(f"/proc/{proc.pid}/task"):
                    with open(f"/proc/{proc.pid}/task/{tid}/stat") as f:
                        stat = f.read()
                    name = re.sub(r"\d+$", "#", stat[stat.index("(") + 1 : stat.rindex(")")])
                    fields = stat[stat.rindex(")") + 2 :].split()
                    cpu = (int(fields[11]) + int(fields[12])) / tick
                    self.last[(proc.pid, tid)] = (self.kinds[proc.pid], name, cpu)
            except (psutil.Error, OSError, ValueError, IndexError):
                pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> ProcessCPU:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def report(self, wall: float) -> None:
        by_kind: dict[str, float] = defaultdict(float)
        by_thread: dict[tuple[str, str], float] = defaultdict(float)
        for kind, name, cpu in self.last.values():
            by_kind[kind] += cpu
            by_thread[(kind, name)] += cpu
        total = sum(by_kind.values())
        print(f"CPU by process: {total:.1f} s over {wall:.1f} s of wall time")
        for kind, cpu in sorted(by_kind.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:38} {cpu:8.1f} s {cpu / total:6.1%}")
        print("busiest threads (SwiftShader's workers are the GPU process's Thread<NN>):")
        for (kind, name), cpu in sorted(by_thread.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  {kind + ' / ' + name:38} {cpu:8.1f} s {cpu / total:6.1%}")


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
            if res.preview_frames:  # none when the page failed before its first frame
                await asyncio.to_thread(images.animated_webp, res.preview_frames)
            out.append((page.name, res.observation))

        await asyncio.gather(*(one(p) for p in pages))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=default_concurrency())
    ap.add_argument("--only", nargs="*")
    ap.add_argument(
        "--real", type=int, nargs="?", const=0, help="N pages of the real corpus (all: no N)"
    )
    ap.add_argument("--pyinstrument", help="also write a pyinstrument HTML profile here")
    args = ap.parse_args()
    instrument()
    if args.real is not None:
        pages = [p for p in corpus.real() if not args.only or p.fixture in args.only]
        pages = pages[: args.real or None]
    else:
        pages = corpus.build(args.variants, args.only)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = corpus.write(pages, Path(tmp))
        profiler = None
        if args.pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        t0 = time.perf_counter()
        with ProcessCPU() as cpu:
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
    cpu.report(wall)
    print("slowest pages:")
    for name, obs in sorted(results, key=lambda r: -r[1]["real_time_s"])[:8]:
        print(f"  {name:32} {obs['real_time_s']:6.2f}s  mode={obs['mode']} status={obs['status']}")


if __name__ == "__main__":
    main()
