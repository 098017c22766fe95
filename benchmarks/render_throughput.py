"""Render throughput: gallery's full observation vs shot-scraper's single screenshot.

    .venv/bin/python benchmarks/render_throughput.py [--pages N] [--concurrency N]
        [--skip-shot] [--skip-multi] [--json benchmarks/results/render_throughput.json]
    .venv/bin/python benchmarks/render_throughput.py --corpus fixtures [--variants 3]

One run, three phases over the same corpus, one after another. The corpus is
the labelled real model-written pages (``real_corpus.py``; ``--pages N``
repeats it to N pages, to see whether the cost per page stays flat), or
(``--corpus fixtures``) variants of the labelled fixture pages with heavy
Mandelbrot pages. On the real corpus the verdicts of the gallery phase are
compared with the person's labels in the same run (a faster render that judges
worse does not count).

1. **gallery**: one ``Renderer`` (one Chromium), ``--concurrency`` pages at once,
   the default observation of each page (3 timed PNG shots at 0.5/2/5 virtual s,
   12 JPEG preview frames, probe, control load for pages with input, DOM and
   prompt checks, axe-core), then the verdict, the WebP preview and the files
   written, as ``gallery render`` does. Peak memory is sampled (every 0.2 s)
   over this process and all its children (Playwright's driver and Chromium).
2. **shot-scraper multi**: YAML files listing the pages (``MULTI_BATCH`` a file:
   multi never closes a page, see there), one screenshot each at 1280x720, in one
   browser per file (shot-scraper's batch mode).
3. **shot-scraper shot**: one ``shot-scraper shot URL -w 1280 -h 720`` per page
   (the tool's single-screenshot command).

shot-scraper gets the same Chromium binary and the same launch flags as
gallery (``--browser-arg``); it has no option for the executable, so a
throw-away ``PLAYWRIGHT_BROWSERS_PATH`` holds a symlink where Playwright looks
for its headless shell. Its pages are served from a local HTTP server; CDN
library URLs in them are rewritten to that server, which answers with the same
npm files gallery's sandbox serves (``LibCache``), and any other host fails
at once (``--host-resolver-rules``), as gallery's sandbox refuses it.

``--also`` adds gallery phases that observe less, on the same pages in the same
run, to show where the distance to ``multi`` lies, each one less than the one
before: ``no-axe`` (the full observation but axe-core), ``no-input`` (and no
scripted input, so no control load), ``frames`` (and only ``runs`` and
``animates``: the 3 shots and 12 preview frames), ``at-5s`` (the page's first 5
virtual seconds run as the full observation runs them, one shot at the end) and
``one-shot`` (one shot at 0.5 virtual s, about what ``multi`` does: gallery's
fixed cost per page, sandbox and clock included). ``--multi-wait 5000`` also
runs ``multi`` with each shot taken 5 s after the load (its ``wait``): what a
user of it would do to see a page at 5 s, as gallery's last shot does.

Then the heavy-page trap, each Mandelbrot page alone (so no other page shares
the cores): its whole observation (real seconds, mode) against the 5 s it would
take in real time, and what stepping every frame of 5 virtual seconds would cost
(1 virtual s run frame by frame, times 5). Its time inside the concurrent run is
reported too (``real_s_in_run``), inflated by the pages beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

from gallery.checks.judge import judge  # noqa: E402
from gallery.render import images  # noqa: E402
from gallery.render.browser import chromium_version, find_chromium, launch_args  # noqa: E402
from gallery.render.libs import LibCache, LibError  # noqa: E402
from gallery.render.stage import default_concurrency  # noqa: E402

VENV_BIN = Path(sys.executable).parent
CDN_RE = re.compile(
    r"https://(cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|esm\.sh|cdn\.skypack\.dev)/[^\"'\s)]+"
)


# --- memory -----------------------------------------------------------------------


class PeakRSS:
    """Samples the memory of this process and all its descendants; keeps the peak sums.

    Two sums: RSS counts pages shared between Chromium's processes once per
    process, so it overstates the true footprint (an upper bound); PSS (Linux's
    proportional set size, from ``/proc/PID/smaps_rollup``) splits each shared
    page between its users, so the PSS sum is what the machine actually pays.
    RSS is sampled every 0.2 s; PSS, which costs the kernel a walk of every
    mapping, every fifth sample, so measuring does not slow what is measured.
    """

    def __init__(self, interval: float = 0.2, pss_every: int = 5):
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.pss_every = pss_every
        self.ticks = 0
        self.peak = 0
        self.peak_procs = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _pss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _sample(self) -> None:
        import psutil

        procs = [self.me, *self.me.children(recursive=True)]
        total, n = 0, 0
        for p in procs:
            try:
                total += p.memory_info().rss
                n += 1
            except psutil.Error:
                pass
        if total > self.peak:
            self.peak, self.peak_procs = total, n
        if self.ticks % self.pss_every == 0:
            self.peak_pss = max(self.peak_pss, sum(self._pss(p.pid) for p in procs))
        self.ticks += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- gallery ------------------------------------------------------------------------


#: ``--also``: observations reduced to what each name says (see the module's docstring).
LESSER = ("no-axe", "no-input", "frames", "at-5s", "one-shot")


def lesser(pages, what: str) -> list:
    """The pages with their observation reduced to ``what`` (one of ``LESSER``)."""
    import dataclasses

    out = []
    for page in pages:
        p = page.prompt
        if what in ("at-5s", "one-shot"):
            at = 5.0 if what == "at-5s" else 0.5
            p = dataclasses.replace(
                p, render=dataclasses.replace(p.render, screenshots=(at,), preview_frames=1)
            )
        # Each phase observes less than the one before it: no-input has no axe-core either.
        drop = {"no-axe": {"accessible"}, "no-input": {"accessible", "interactive"}}.get(what)
        checks = (
            tuple(c for c in p.checks if c.kind not in drop)
            if drop
            else tuple(c for c in p.checks if c.kind in ("runs", "animates"))
        )
        interact = p.interact if what == "no-axe" else ()
        out.append(
            dataclasses.replace(
                page, prompt=dataclasses.replace(p, checks=checks, interact=interact)
            )
        )
    return out


async def gallery_phase(pages, dirs, concurrency: int, heavy: bool = True) -> dict:
    from gallery.render.sandbox import Renderer

    obs_by_page: dict[str, dict] = {}
    verdicts: dict[str, dict] = {}
    t0 = time.perf_counter()
    async with Renderer(libs=LibCache()) as renderer:
        started = time.perf_counter() - t0
        sem = asyncio.Semaphore(concurrency)

        async def one(page) -> None:
            async with sem:
                result = await renderer.render(dirs[page.name], page.prompt)
            verdict = judge(result.observation, page.prompt.checks)
            out = dirs[page.name].parent.parent / "out" / page.name
            files = {
                "observation.json": json.dumps(result.observation, indent=2).encode(),
                "verdict.json": json.dumps(verdict, indent=2).encode(),
            }
            if result.preview_frames:
                files["preview.webp"] = await asyncio.to_thread(
                    images.animated_webp, result.preview_frames
                )
            for name, data in result.shots.items():
                files[f"shots/{name}"] = data

            def write() -> None:
                for rel, data in files.items():
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    (out / rel).write_bytes(data)

            await asyncio.to_thread(write)
            obs_by_page[page.name] = result.observation
            verdicts[page.name] = verdict

        await asyncio.gather(*(one(p) for p in pages))
        wall = time.perf_counter() - t0
        heavy_full = await heavy_every_frame(renderer, pages, dirs) if heavy else {}
    return {
        "wall_s": wall,
        "browser_start_s": started,
        "observations": obs_by_page,
        "verdicts": verdicts,
        "heavy_every_frame": heavy_full,
    }


async def heavy_every_frame(renderer, pages, dirs) -> dict:
    """The trap, each heavy page alone (no other page sharing the 2 cores): its
    whole observation, then 1 virtual second run frame by frame (x5 = what
    stepping every frame of 5 virtual seconds would cost)."""
    from gallery.render.page import Hung, _Load

    out = {}
    for page in pages:
        if not page.heavy or page.variant >= len(corpus.HEAVY_MAX):
            continue
        t0 = time.perf_counter()
        result = await renderer.render(dirs[page.name], page.prompt)
        alone = {
            "observation_alone_s": round(time.perf_counter() - t0, 3),
            "mode_alone": result.observation["mode"],
        }
        load = _Load(
            renderer, renderer.browser, dirs[page.name], page.prompt, 1, time.monotonic() + 60
        )
        try:
            await load.open()
            t0 = time.perf_counter()
            await load.advance("run", 1000)
            out[page.name] = {**alone, "run_for_1s_real_s": round(time.perf_counter() - t0, 3)}
        except Hung as exc:
            out[page.name] = {**alone, "error": str(exc)}
        await load.close()
    return out


# --- shot-scraper -------------------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    libs: LibCache

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/_cdn/"):
            url = unquote(self.path[len("/_cdn/") :])
            try:
                lib = self.libs.fetch_url(url)
            except LibError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", lib.content_type)
            self.send_header("content-length", str(len(lib.body)))
            self.send_header("access-control-allow-origin", "*")
            self.end_headers()
            self.wfile.write(lib.body)
            return
        super().do_GET()


def serve(root: Path) -> ThreadingHTTPServer:
    # From the on-disk cache alone, as gallery's sandbox answers a running page: what
    # gallery's phase did not resolve is refused at once (a registry look-up from here
    # would hang until the load timed out and bill shot-scraper 30 s for it).
    handler = type("Handler", (_Handler,), {"libs": LibCache().offline_view()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_served(pages, root: Path, port: int) -> dict[str, str]:
    urls = {}
    for page in pages:
        d = root / page.name
        d.mkdir(parents=True, exist_ok=True)
        html = CDN_RE.sub(lambda m: f"http://127.0.0.1:{port}/_cdn/{m.group(0)}", page.html)
        (d / "index.html").write_text(html)
        urls[page.name] = f"http://127.0.0.1:{port}/{page.name}/index.html"
    return urls


def shot_scraper_env(chromium: Path, tmp: Path) -> tuple[dict, list[str]]:
    """PLAYWRIGHT_BROWSERS_PATH with our Chromium where Playwright looks for its shell."""
    from playwright._repo_version import version  # noqa: F401  (Playwright is installed)

    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from playwright.sync_api import sync_playwright\n"
            "with sync_playwright() as p: print(p.chromium.executable_path)",
        ],
        env={**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(tmp / "pw")},
        capture_output=True,
        text=True,
        check=True,
    )
    # .../chromium-NNNN/chrome-linux64/chrome -> the headless shell of the same revision
    rev = re.search(r"chromium-(\d+)", probe.stdout).group(1)
    shell = tmp / "pw" / f"chromium_headless_shell-{rev}" / "chrome-headless-shell-linux64"
    shell.mkdir(parents=True, exist_ok=True)
    (shell / "chrome-headless-shell").symlink_to(chromium)
    env = {**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(tmp / "pw")}
    flags = [*launch_args(), "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    args = [a for f in flags for a in ("--browser-arg", f)]
    return env, args


#: Pages per ``shot-scraper multi`` YAML. multi never closes a page it has shot, so on
#: a YAML of hundreds of animated pages every page shot keeps animating while the next
#: ones load (measured on the 224 real pages: over 10 minutes for the first 100); in
#: batches each page shares the machine with at most this many.
MULTI_BATCH = 10


def shot_scraper_multi(
    urls: dict[str, str], out: Path, env: dict, args: list[str], wait_ms: int = 0
) -> float:
    """Seconds for ``shot-scraper multi`` over every page, ``MULTI_BATCH`` pages a YAML
    (``wait_ms``: each shot that long after the load, multi's ``wait``)."""
    out.mkdir(parents=True, exist_ok=True)
    items = list(urls.items())
    wall = 0.0
    for start in range(0, len(items), MULTI_BATCH):
        yml = out / f"shots-{start:05d}.yml"
        yml.write_text(
            "".join(
                f"- url: {url}\n  output: {out / name}.png\n  width: 1280\n  height: 720\n"
                + (f"  wait: {wait_ms}\n" if wait_ms else "")
                for name, url in items[start : start + MULTI_BATCH]
            )
        )
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(VENV_BIN / "shot-scraper"),
                "multi",
                str(yml),
                "--silent",
                "--timeout",
                "30000",
                *args,
            ],
            env=env,
            check=False,  # a page it cannot shoot ends the batch with an error: counted below
            cwd=out,
            stderr=subprocess.DEVNULL,
        )
        wall += time.perf_counter() - t0
    missing = [n for n in urls if not (out / f"{n}.png").is_file()]
    if missing:
        print(f"  shot-scraper multi: no screenshot for {', '.join(missing)}", file=sys.stderr)
    return wall


def shot_scraper_shots(urls: dict[str, str], out: Path, env: dict, args: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    times, failed = {}, []
    for name, url in urls.items():
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                str(VENV_BIN / "shot-scraper"),
                "shot",
                url,
                "-o",
                str(out / f"{name}.png"),
                "-w",
                "1280",
                "-h",
                "720",
                "--silent",
                "--timeout",
                "60000",
                *args,
            ],
            env=env,
            capture_output=True,
            cwd=out,
        )
        times[name] = time.perf_counter() - t0
        if proc.returncode:
            failed.append(name)
    return {"wall_s": sum(times.values()), "per_page": times, "failed": failed}


# --- verdicts --------------------------------------------------------------------------------


def agreement(pages, verdicts: dict[str, dict]) -> dict:
    """How often gallery's verdicts agree with a person's labels (real corpus), this run.

    ``works`` is ``runs and (animates or not meant to)``, as in verdict_truth.py; a
    page gallery could not judge counts as a disagreement.
    """
    out: dict[str, dict] = {}
    for measure in ("works", "responds"):
        seen = agree = 0
        for page in pages:
            lab = page.label
            person = lab.works if measure == "works" else lab.responds
            if person is None:
                continue
            v = verdicts[page.name]
            c = {x["name"]: x for x in v.get("checks", [])}
            if v.get("judged") is False or "runs" not in c:
                mine = None
            elif measure == "works":
                mine = c["runs"]["passed"] and (c["animates"]["passed"] or not lab.meant_to_animate)
            else:
                mine = c["interactive"]["passed"] if "interactive" in c else None
            seen += 1
            agree += mine == person
        out[measure] = {"pages": seen, "agree": agree, "share": round(agree / max(seen, 1), 4)}
    return out


# --- report ---------------------------------------------------------------------------------


def machine() -> dict:
    import psutil

    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    path = find_chromium().path
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "chromium": chromium_version(path),
        "chromium_path": str(path),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--corpus",
        choices=("real", "fixtures"),
        default="real",
        help="real model-written pages (real_corpus.py) or variants of the labelled fixtures",
    )
    ap.add_argument("--pages", type=int, help="real corpus: this many pages (the corpus repeated)")
    ap.add_argument("--variants", type=int, default=3, help="fixtures: pages per labelled fixture")
    ap.add_argument(
        "--concurrency", type=int, default=default_concurrency(), help="pages at once (cores)"
    )
    ap.add_argument("--skip-multi", action="store_true", help="gallery alone (scale runs)")
    ap.add_argument("--skip-shot", action="store_true", help="skip the per-page shot-scraper phase")
    ap.add_argument(
        "--also",
        nargs="*",
        choices=LESSER,
        default=[],
        help="gallery phases that observe less, in the same run (see the docstring)",
    )
    ap.add_argument(
        "--multi-wait",
        type=int,
        default=0,
        metavar="MS",
        help="also run shot-scraper multi with each shot MS after the load (5000: at 5 s)",
    )
    ap.add_argument("--only", nargs="*", help="fixtures: only these")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    info = machine()
    if args.corpus == "real":
        pages = corpus.real(args.pages)
    else:
        pages = corpus.build(args.variants, args.only)
    heavy = [p.name for p in pages if p.heavy]
    print(f"corpus: {len(pages)} pages ({len(heavy)} heavy), machine: {info}")
    chromium = find_chromium().path.resolve()
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as tmp_name:
        tmp = Path(tmp_name)
        dirs = corpus.write(pages, tmp / "gallery" / "pages")
        server = serve(tmp / "served")
        urls = write_served(pages, tmp / "served", server.server_address[1])
        env, ss_args = shot_scraper_env(chromium, tmp)

        load = {"gallery": [os.getloadavg()[0]]}
        with PeakRSS() as mem:
            g = asyncio.run(gallery_phase(pages, dirs, args.concurrency))
        load["gallery"].append(os.getloadavg()[0])
        print(
            f"gallery: {g['wall_s']:.1f}s for {len(pages)} pages, peak RSS {mem.peak / 2**20:.0f} MiB"
            f" (PSS {mem.peak_pss / 2**20:.0f} MiB)"
        )

        less = {}
        for what in args.also:
            got = asyncio.run(gallery_phase(lesser(pages, what), dirs, args.concurrency, False))
            less[what] = got["wall_s"]
            print(f"gallery, {what}: {got['wall_s']:.1f}s")

        multi = None
        if not args.skip_multi:
            load["multi"] = [os.getloadavg()[0]]
            multi = shot_scraper_multi(urls, tmp / "ss-multi", env, ss_args)
            load["multi"].append(os.getloadavg()[0])
            print(f"shot-scraper multi: {multi:.1f}s")

        multi_wait = None
        if args.multi_wait and not args.skip_multi:
            multi_wait = shot_scraper_multi(
                urls, tmp / "ss-multi-wait", env, ss_args, wait_ms=args.multi_wait
            )
            print(f"shot-scraper multi, wait {args.multi_wait} ms: {multi_wait:.1f}s")

        shot = None
        if not args.skip_shot and not args.skip_multi:
            load["shot"] = [os.getloadavg()[0]]
            shot = shot_scraper_shots(urls, tmp / "ss-shot", env, ss_args)
            load["shot"].append(os.getloadavg()[0])
            print(f"shot-scraper shot: {shot['wall_s']:.1f}s ({len(shot['failed'])} failed)")
        server.shutdown()

    n = len(pages)
    obs = g["observations"]
    per_page = g["wall_s"] / n
    modes: dict[str, int] = {}
    for o in obs.values():
        modes[o.get("mode", "?")] = modes.get(o.get("mode", "?"), 0) + 1
    statuses: dict[str, int] = {}
    for o in obs.values():
        statuses[o.get("status", "?")] = statuses.get(o.get("status", "?"), 0) + 1
    result = {
        "machine": info,
        "pages": n,
        "heavy_pages": len(heavy),
        "concurrency": args.concurrency,
        "gallery": {
            "wall_s": round(g["wall_s"], 2),
            "per_page_s": round(per_page, 3),
            "pages_per_min": round(60 / per_page, 1),
            "browser_start_s": round(g["browser_start_s"], 2),
            "peak_rss_mib": round(mem.peak / 2**20),
            "peak_rss_processes": mem.peak_procs,
            "peak_pss_mib": round(mem.peak_pss / 2**20),
            "modes": modes,
            "statuses": statuses,
            "median_page_real_s": sorted(o["real_time_s"] for o in obs.values())[n // 2],
        },
        "loadavg_1min_before_after": load,
        "heavy": {
            name: {
                "real_s_in_run": obs[name]["real_time_s"],
                "mode": obs[name]["mode"],
                "status": obs[name]["status"],
                "virtual_s": obs[name]["virtual_time_s"],
                "real_time_equivalent_s": 5.0,
                **g["heavy_every_frame"].get(name, {}),
            }
            for name in heavy
        },
    }
    if multi is not None:
        result["shot_scraper_multi"] = {
            "wall_s": round(multi, 2),
            "per_page_s": round(multi / n, 3),
            "pages_per_min": round(60 * n / multi, 1),
        }
        result["ratio_vs_multi"] = round(g["wall_s"] / multi, 3)
    if multi_wait is not None:
        result["shot_scraper_multi_wait"] = {
            "wait_ms": args.multi_wait,
            "wall_s": round(multi_wait, 2),
            "pages_per_min": round(60 * n / multi_wait, 1),
        }
        result["ratio_vs_multi_wait"] = round(g["wall_s"] / multi_wait, 3)
    if less:
        result["lesser"] = {
            what: {
                "wall_s": round(wall, 2),
                "pages_per_min": round(60 * n / wall, 1),
                **({"ratio_vs_multi": round(wall / multi, 3)} if multi else {}),
                "share_of_full": round(wall / g["wall_s"], 3),
            }
            for what, wall in less.items()
        }
    if all(p.label is not None for p in pages):
        result["agreement"] = agreement(pages, g["verdicts"])
    # Per page, so two runs can be told apart page by page (mode: full/sampled/budget).
    result["per_page"] = {
        name: {
            "passed": g["verdicts"][name].get("passed"),
            "failed": sorted(
                c["name"] for c in g["verdicts"][name].get("checks", []) if not c["passed"]
            ),
            "mode": obs[name].get("mode"),
            "real_s": obs[name].get("real_time_s"),
        }
        for name in sorted(obs)
    }
    copies = sorted({p.variant for p in pages})
    if len(copies) > 1:
        # The corpus repeated: each whole copy's summed page time should be the same
        # (cost flat with the number of pages rendered before it).
        result["per_copy_page_s"] = {
            str(k): round(
                sum(obs[p.name]["real_time_s"] for p in pages if p.variant == k)
                / sum(1 for p in pages if p.variant == k),
                3,
            )
            for k in copies
        }
    for h in result["heavy"].values():
        if "run_for_1s_real_s" in h:
            h["every_frame_5s_estimate_s"] = round(5 * h["run_for_1s_real_s"], 2)
    if shot is not None:
        result["shot_scraper_shot"] = {
            "wall_s": round(shot["wall_s"], 2),
            "per_page_s": round(shot["wall_s"] / n, 3),
            "pages_per_min": round(60 * n / shot["wall_s"], 1),
            "failed": shot["failed"],
        }
        result["ratio_vs_shot"] = round(g["wall_s"] / shot["wall_s"], 3)
    print(json.dumps({k: v for k, v in result.items() if k != "per_page"}, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
