"""kill -9 in the middle of a run, twice; the rerun loses nothing and redoes nothing.

``gallery run`` runs as a real process (``python -m gallery``) against the local
model server, whose replies are slowed down so the kill lands mid-generation. The
second run finishes generating and is killed while it renders; the third one
finishes. Then:

- no finished sample was asked for again (the server counts requests; a reply
  that was cached but not yet written when the process died is replayed, free);
- no finished verdict was rendered again (its ``rendered_at`` is unchanged);
- no partial sample is left on disk (no ``.N.tmp-*``, ``.N.old-*``, ``.shots-*``,
  no half-written ``.*.tmp`` file);
- ``run.json`` agrees with the samples on disk;
- the killed process's browser does not outlive it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gallery.records.store import Store

KEY_ENV = "GALLERY_CRASH_KEY"
SAMPLES = 6
PAGE = (
    '```html\n<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>'
    "<canvas id=c width=200 height=100></canvas><script>"
    "const x = document.getElementById('c').getContext('2d'); let n = 0;"
    "function f() { n++; x.fillStyle = 'hsl(' + n + ',80%,50%)'; x.fillRect(0, 0, 200, 100);"
    " requestAnimationFrame(f); } f();</script></body></html>\n```\n"
)


def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries ``tag`` (the gallery process and its children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if tag.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def wait_gone(tag: str, timeout: float = 30.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        alive = [p for p in tagged_pids(tag) if not _zombie(p)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


@pytest.fixture
def project(tmp_path: Path, llm_server) -> dict:
    (tmp_path / "gallery.toml").write_text(
        f"""
[defaults]
models = ["local"]
max_retries = 0
timeout = 30
concurrency = 2

[models.local]
base_url = "{llm_server.base_url}"
model = "m"
api_key_env = "{KEY_ENV}"
"""
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "spin.toml").write_text(
        'id = "spin"\ntitle = "spin"\nprompt = "Draw a spinner."\n'
        "[render]\nscreenshots = [0.5, 1.0]\npreview_frames = 4\nbudget = 30\n"
        '[[checks]]\nkind = "runs"\n[[checks]]\nkind = "animates"\n'
    )
    # each reply streams for about a second, so a kill lands mid-generation
    llm_server.default.text = PAGE
    llm_server.default.chunks = 10
    llm_server.default.chunk_delay = 0.12
    tag = f"gallery-crash-{uuid.uuid4().hex}"
    tmp = tmp_path / "tmp"  # the runs' TMPDIR: what they leave there is seen
    tmp.mkdir()
    env = {
        **os.environ, KEY_ENV: "sk-crash-0123456789", "GALLERY_CRASH_TAG": tag, "TMPDIR": str(tmp)
    }  # fmt: skip
    env.pop("GALLERY_DEBUG", None)
    args = [
        sys.executable, "-m", "gallery", "run",
        "--config", str(tmp_path / "gallery.toml"), "--prompts", str(prompts),
        "--out", str(tmp_path / "out"), "--site", str(tmp_path / "site"),
        "--samples", str(SAMPLES), "--concurrency", "2",
    ]  # fmt: skip
    return {"args": args, "env": env, "tag": tag, "out": tmp_path / "out", "root": tmp_path}


def start(project: dict, name: str) -> subprocess.Popen:
    log = open(project["root"] / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        project["args"], env=project["env"], stdout=log, stderr=subprocess.STDOUT,
        cwd=project["root"],
    )  # fmt: skip


def log_of(project: dict, name: str) -> str:
    return (project["root"] / f"{name}.log").read_text(errors="replace")


def kill_when(
    proc: subprocess.Popen,
    ready,
    what: str,
    sig: int = signal.SIGKILL,
    timeout: float = 120.0,
) -> int:
    """Send ``sig`` once ``ready``; the exit code (SIGTERM: a cancelled CI job, ``timeout``)."""
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    return proc.wait(timeout=60)


def replies(out: Path) -> list[Path]:
    """Finished samples' replies (not those in a temp folder being written)."""
    return sorted(p for p in out.glob("runs/*/spin/local/*/reply.json") if p.parent.name.isdigit())


def verdicts(out: Path) -> list[Path]:
    return sorted(
        p for p in out.glob("runs/*/spin/local/*/verdict.json") if p.parent.name.isdigit()
    )


def leftovers(out: Path) -> list[str]:
    runs = out / "runs"
    found = [p for p in runs.rglob(".*") if ".tmp" in p.name or ".old-" in p.name]
    found += list(runs.rglob(".shots-*"))
    samples = runs.glob("*/*/*/*")
    found += [p for p in samples if p.is_dir() and not (p / "reply.json").is_file()]
    return sorted(str(p.relative_to(out)) for p in found)


def test_kill_during_generation_and_rendering_then_rerun(project: dict, llm_server) -> None:
    out = project["out"]

    # 1. killed while generating: some samples written, not all
    first = start(project, "first")
    kill_when(first, lambda: 2 <= len(replies(out)) < SAMPLES, "two samples")
    finished = {p: p.read_bytes() for p in replies(out)}
    assert 2 <= len(finished) < SAMPLES
    assert wait_gone(project["tag"]) == [], "the killed run left processes behind"
    asked_before = llm_server.requests

    # 2. finishes generating, killed while rendering: some verdicts written, not all
    second = start(project, "second")
    kill_when(second, lambda: 1 <= len(verdicts(out)) < SAMPLES, "a verdict")
    assert wait_gone(project["tag"]) == [], "the killed run left its browser behind"
    assert len(replies(out)) == SAMPLES, log_of(project, "second")
    for path, data in finished.items():
        assert path.read_bytes() == data, f"{path} was redone"
    new = [json.loads(p.read_bytes()) for p in replies(out) if p not in finished]
    replayed = sum(r["replayed"] for r in new)
    assert replayed <= 2  # cached just before the kill, written only now
    assert llm_server.requests - asked_before == SAMPLES - len(finished) - replayed
    # read after the process is gone: verdicts may land between the check and the kill
    rendered = {p: json.loads(p.read_text())["rendered_at"] for p in verdicts(out)}
    assert 1 <= len(rendered) < SAMPLES

    # a kill can also land inside a single file write or a screenshot swap; leave the
    # debris those would leave (the kills above land wherever they land)
    run_dir = replies(out)[0].parents[3]
    sample_dir = replies(out)[-1].parent
    (run_dir / ".run.json.k1ll3d.tmp").write_text("{")
    (sample_dir / ".verdict.json.k1ll3d.tmp").write_text("{")
    (sample_dir / ".shots-new-1234").mkdir()
    (run_dir / "spin" / "local" / f".{SAMPLES}.tmp-k1ll3d").mkdir()

    # 3. a plain rerun finishes the job and redoes nothing
    asked = llm_server.requests
    third = start(project, "third")
    assert third.wait(timeout=240) == 0, log_of(project, "third")
    log = log_of(project, "third")
    assert "Traceback" not in log
    assert llm_server.requests == asked
    assert len(verdicts(out)) == SAMPLES
    for path, when in rendered.items():
        assert json.loads(path.read_text())["rendered_at"] == when, f"{path} was rendered again"
    # the ones rendered before the kill are kept; the rest are rendered now, or
    # reused from a sample with the same render hash (the server's replies repeat)
    counts = re.search(r"render: (\d+) rendered, (\d+) unchanged", log)
    assert counts, log
    assert int(counts[1]) + int(counts[2]) == SAMPLES
    assert int(counts[2]) >= len(rendered)

    assert leftovers(out) == []
    run = Store(out).open_run("latest")
    assert len(list(Store(out).runs_dir.iterdir())) == 1  # one run, continued twice
    manifest = run.manifest()
    totals = manifest["totals"]
    on_disk = [s.reply for s in run.samples()]
    assert totals["samples"] == len(on_disk) == SAMPLES
    assert totals["ok"] == sum(r["status"] == "ok" for r in on_disk)
    assert totals["failed"] == 0
    assert manifest["status"] == "finished" and manifest["finished_at"]
    assert (project["root"] / "site" / "index.html").is_file()


def test_sigterm_stops_cleanly_in_generation_and_rendering(project: dict, llm_server) -> None:
    """SIGTERM ends a run as Ctrl-C does: one line, exit 143, nothing left behind.

    Its default action ended Python at once: no clean-up ran, the browser's
    temporary folder stayed in TMPDIR, and the run said nothing. (The TMPDIR here
    is deeper than Chromium can start in by itself: it used to exit at launch.)
    """
    out, tmp = project["out"], project["root"] / "tmp"
    said = "error: terminated (SIGTERM); finished samples are kept, rerun to resume"
    for name, ready, what in (
        ("gen", lambda: 1 <= len(replies(out)) < SAMPLES, "a reply"),
        ("render", lambda: 1 <= len(verdicts(out)) < SAMPLES, "a verdict"),
    ):
        code = kill_when(start(project, name), ready, what, signal.SIGTERM)
        log = log_of(project, name)
        assert code == 143, log
        assert "Traceback" not in log and log.strip().splitlines()[-1] == said, log
        assert wait_gone(project["tag"]) == [], f"{name}: the stopped run left processes behind"
        assert list(tmp.iterdir()) == [], f"{name}: temporary files left in TMPDIR"
        assert leftovers(out) == [], name
        for path in verdicts(out):
            json.loads(path.read_text())  # whatever was written is whole
    assert len(replies(out)) == SAMPLES  # the second run finished generating before its stop

    last = start(project, "last")
    assert last.wait(timeout=240) == 0, log_of(project, "last")
    assert len(verdicts(out)) == SAMPLES
