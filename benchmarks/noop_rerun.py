"""No-op rerun: `gallery run` on the committed gallery when nothing changed.

    .venv/bin/python benchmarks/noop_rerun.py [--repeat 5]
        [--json benchmarks/results/noop_rerun.json]

A copy of the repository's ``gallery.toml``, ``prompts/`` and ``outputs/`` (the
committed replies and runs) goes to a temporary folder, with no API key in the
environment, as on a fresh clone. Then, through the real console script:

1. ``gallery run`` once: replays the committed replies, renders every page in
   Chromium, builds the site (the fresh-clone path; timed, for reference);
2. ``gallery run`` again ``--repeat`` times: nothing changed, so every reply is
   replayed from the cache, every render is found by its content hash (the
   artifact, the prompt's render settings and checks, the Chromium version) and
   linked instead of rendered, and only the site pages that name the new run
   are written. Target: under 3 s each.

Reports each rerun's wall time, the median, and what the rerun said it did.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = Path(sys.executable).parent / "gallery"
KEY_VARS = re.compile(r"_API_KEY$")


def gallery_run(folder: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(GALLERY), "run"], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: some sample failed a check, as expected
        sys.exit(f"gallery run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout + proc.stderr


def said(log: str) -> dict[str, str]:
    """The lines of a run's output that say what it did, by stage."""
    marks = {"generate": "sample(s) in the run", "render": " rendered, ", "site": "site: "}
    out = {}
    for stage, mark in marks.items():
        lines = [ln.strip() for ln in log.splitlines() if mark in ln]
        if lines:
            out[stage] = lines[-1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, help="Write the results here as JSON.")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if not KEY_VARS.search(k)}
    with tempfile.TemporaryDirectory(prefix="gallery-noop-") as tmp:
        folder = Path(tmp)
        shutil.copy2(ROOT / "gallery.toml", folder)
        shutil.copytree(ROOT / "prompts", folder / "prompts")
        shutil.copytree(
            ROOT / "outputs", folder / "outputs", ignore=shutil.ignore_patterns("renders")
        )
        first, log = gallery_run(folder, env)
        print(f"first run (fresh clone: replay, render everything, build): {first:.1f} s")
        for line in said(log).values():
            print(f"    {line}")
        times = []
        for i in range(args.repeat):
            wall, log = gallery_run(folder, env)
            times.append(wall)
            print(f"rerun {i + 1}: {wall:.2f} s")
        for line in said(log).values():
            print(f"    {line}")
    median = statistics.median(times)
    verdict = "met" if median < 3.0 else "MISSED"
    print(f"no-op rerun: median {median:.2f} s over {len(times)} (target < 3 s: {verdict})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": {
                        "cpus": os.cpu_count(),
                        "platform": platform.platform(),
                        "python": platform.python_version(),
                    },
                    "first_run_s": round(first, 2),
                    "reruns_s": [round(t, 3) for t in times],
                    "median_s": round(median, 3),
                    "target_s": 3.0,
                    "last_rerun": said(log),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
