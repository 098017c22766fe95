"""A browser killed from outside during `gallery run` changes no verdict.

    .venv/bin/python benchmarks/kill_browser.py [--at 12 30] [--json FILE]

Clones this repository's HEAD into a temporary folder (so nothing is reused:
no render cache, no earlier run), starts `gallery run` there, and SIGKILLs
the Chromium browser process it launched — the browser itself, not the
wrapper script that started it, as another program on the machine might — at
each of the ``--at`` times (seconds after the start). Then every sample's
checks are compared with the committed baseline run's: the report lists any
sample whose verdict differs or that was not judged, and `gallery run`'s
exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def browsers_of(parent: int) -> list[int]:
    """Chromium browser processes (marked by gallery's launch) below process ``parent``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            exe = os.path.basename(os.readlink(entry / "exe"))
        except OSError:
            continue
        if "chrom" not in exe or not any(a.startswith(b"--gallery-browser=") for a in args):
            continue
        pid = ancestor = int(entry.name)
        for _ in range(16):
            try:
                stat = (Path("/proc") / str(ancestor) / "stat").read_text()
            except OSError:
                break
            ancestor = int(stat.rpartition(")")[2].split()[1])
            if ancestor == parent:
                found.append(pid)
                break
    return found


def checks(verdict_file: Path) -> dict | None:
    try:
        v = json.loads(verdict_file.read_text())
    except (OSError, ValueError):
        return None
    if v.get("judged") is False:
        return None
    return {"passed": v["passed"], **{c["name"]: c["passed"] for c in v["checks"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--at", type=float, nargs="+", default=[12.0, 30.0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kill-browser-")) / "gallery"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    log = work.parent / "run.log"
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gallery", "run"], cwd=work, stdout=out, stderr=subprocess.STDOUT
        )
        kills = []
        for at in args.at:
            while time.monotonic() - t0 < at and proc.poll() is None:
                time.sleep(0.1)
            victims = browsers_of(proc.pid)
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            kills.append({"at_s": round(time.monotonic() - t0, 1), "killed": victims})
        code = proc.wait()
    took = time.monotonic() - t0
    baseline = json.loads((work / "outputs" / "baseline.json").read_text())["run"]
    base = work / "outputs" / "runs" / baseline
    head = max((p for p in (work / "outputs" / "runs").iterdir() if p.name != baseline), key=str)
    differ, samples = [], 0
    for vf in sorted(base.glob("*/*/*/verdict.json")):
        rel = vf.relative_to(base)
        samples += 1
        if checks(vf) != checks(head / rel):
            differ.append(str(rel.parent))
    report = {
        "kills": kills,
        "exit_code": code,
        "seconds": round(took, 1),
        "samples": samples,
        "differ_from_baseline": differ,
    }
    print(
        f"gallery run: exit {code}, {took:.0f} s; browser killed "
        + ", ".join(f"at {k['at_s']} s ({len(k['killed'])} process)" for k in kills)
    )
    print(f"{samples} samples; {len(differ)} differ from the baseline or were not judged: {differ}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.exit(0 if not differ and code == 0 and all(k["killed"] for k in kills) else 1)


if __name__ == "__main__":
    main()
