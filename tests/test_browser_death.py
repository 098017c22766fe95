"""A browser that dies is the harness's failure, never the page's verdict.

The browser process is killed from outside (SIGKILL, as another program on the
machine might) while pages render in it: every page it held is rendered again
in a new browser and gets exactly the verdict and pixels of an undisturbed
render. A browser that cannot be had at all leaves the pages *not judged*, with
the reason, and such a verdict is never reused by a later render.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from gallery.aio import run_sync
from gallery.catalogue.prompts import parse_prompt
from gallery.checks.judge import judge
from gallery.records.store import SampleKey, Store
from gallery.render import images
from gallery.render.browser import ChromiumInfo
from gallery.render.sandbox import Renderer
from gallery.render.stage import render_run

PAGES = Path(__file__).parent / "fixtures" / "pages"
NAMES = ("canvas-bounce", "hexagon-ball", "svg-js", "key-game", "dom-js-move", "css-keyframes")


def prompt_for(name: str):
    return parse_prompt(
        {
            "id": name,
            "title": name,
            "prompt": name,
            "checks": [{"kind": k} for k in ("runs", "animates", "interactive", "clean-console")],
            "interact": [{"at": 2.0, "key": "ArrowUp"}],
        },
        Path(f"{name}.toml"),
    )


def browser_process(renderer: Renderer) -> int:
    """The browser's own process (not the wrapper script that may have started it)."""
    pids = renderer._pids[renderer.browser]
    real = [p for p in pids if "chrom" in os.path.basename(os.readlink(f"/proc/{p}/exe"))]
    assert real, pids
    return real[-1]


def render_all(tmp_path: Path, *, kill_at: tuple[float, ...] = ()) -> tuple[dict, int]:
    """Render NAMES four at a time; SIGKILL the browser process at each of ``kill_at`` s."""

    async def go():
        killed = 0
        async with Renderer(libs=None) as renderer:
            sem = asyncio.Semaphore(4)

            async def one(name: str):
                d = tmp_path / name
                d.mkdir(parents=True, exist_ok=True)
                (d / "index.html").write_bytes((PAGES / f"{name}.html").read_bytes())
                async with sem:
                    return name, await renderer.render(d, prompt_for(name))

            async def killer():
                nonlocal killed
                for at in kill_at:
                    await asyncio.sleep(at)
                    os.kill(browser_process(renderer), signal.SIGKILL)
                    killed += 1

            results, _ = await asyncio.gather(asyncio.gather(*(one(n) for n in NAMES)), killer())
            return dict(results), killed

    return run_sync(go())


def test_pages_in_a_killed_browser_get_the_verdicts_of_an_undisturbed_render(
    tmp_path: Path,
) -> None:
    calm, _ = render_all(tmp_path / "calm")
    hit, killed = render_all(tmp_path / "hit", kill_at=(1.0, 4.0))
    assert killed == 2
    for name in NAMES:
        a, b = calm[name], hit[name]
        assert b.observation["status"] == "ok", (name, b.observation.get("detail"))
        va, vb = (
            judge(a.observation, prompt_for(name).checks),
            judge(b.observation, prompt_for(name).checks),
        )
        # The same verdict: every check passes or fails alike. (The motion figure in a
        # detail comes from the preview frames, captured without waiting for a drawn
        # frame; under the load of a relaunch it can move by a few hundredths of a %.)
        outcome = [(c["name"], c["passed"], c["required"]) for c in va["checks"]]
        assert [(c["name"], c["passed"], c["required"]) for c in vb["checks"]] == outcome, name
        assert sorted(a.shots) == sorted(b.shots), name
        for shot in a.shots:
            assert images.diff_ratio(a.shots[shot], b.shots[shot], threshold=0) == 0.0, (name, shot)


def gpu_process(renderer: Renderer) -> int:
    """The shared browser's GPU process (a zygote's child): where its frames are drawn."""
    parent, gpu = {}, []
    for proc in Path("/proc").iterdir():
        try:
            parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if b"--type=gpu-process" in (proc / "cmdline").read_bytes():
                gpu.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    browser = browser_process(renderer)
    for pid in gpu:
        ancestor = pid
        while ancestor in parent and ancestor != browser:
            ancestor = parent[ancestor]
        if ancestor == browser:
            return pid
    raise AssertionError("the browser has no GPU process")


def test_a_browser_that_stops_drawing_is_not_the_pages_verdict(tmp_path: Path) -> None:
    """The shared browser's GPU process is stopped (SIGSTOP): nothing is drawn, and the
    page, waiting on it, stops answering. Seen for real, now and then, under load: the
    page was recorded "hung". It is rendered again in a browser of its own, and gets the
    verdict and pixels of a render nothing disturbed."""
    name = "canvas-bounce"
    prompt = prompt_for(name)

    async def go():
        async with Renderer(libs=None) as renderer:
            out = []
            for folder in ("calm", "stalled"):
                d = tmp_path / folder
                d.mkdir()
                (d / "index.html").write_bytes((PAGES / f"{name}.html").read_bytes())
                if folder == "calm":
                    out.append(await renderer.render(d, prompt))
                    continue
                gpu = gpu_process(renderer)
                os.kill(gpu, signal.SIGSTOP)
                try:
                    out.append(await renderer.render(d, prompt))
                finally:
                    os.kill(gpu, signal.SIGCONT)
            return out

    calm, stalled = run_sync(go())
    assert stalled.observation["status"] == "ok", stalled.observation.get("detail")
    assert any("shared browser" in r for r in stalled.observation["retried"])
    assert "retried" not in calm.observation
    va, vb = judge(calm.observation, prompt.checks), judge(stalled.observation, prompt.checks)
    assert [(c["name"], c["passed"]) for c in vb["checks"]] == [
        (c["name"], c["passed"]) for c in va["checks"]
    ]
    assert sorted(calm.shots) == sorted(stalled.shots)
    for shot in calm.shots:
        assert images.diff_ratio(calm.shots[shot], stalled.shots[shot], threshold=0) == 0.0, shot


def test_no_browser_at_all_means_not_judged_and_never_reused(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    run = store.new_run("r")
    catalogue = {}
    for name in NAMES[:2]:
        catalogue[name] = prompt_for(name)
        run.write_sample(
            SampleKey(name, "m", 1),
            {
                "reply.json": '{"status": "ok", "text": "x"}',
                "artifact/index.html": (PAGES / f"{name}.html").read_bytes(),
            },
        )
    run.save_manifest({"id": "r", "models": [], "prompts": list(catalogue)})

    real_launch = Renderer._launch
    launches = 0

    async def first_launch_only(self):
        # The first browser starts; it is killed at once, and every later launch runs a
        # program that is not a browser: a real launch that fails.
        nonlocal launches
        launches += 1
        if launches > 1:
            self.chromium = ChromiumInfo(Path("/bin/false"), "option")
            self._launcher = None
        browser = await real_launch(self)
        if launches == 1:
            for pid in self._pids[browser]:
                os.kill(pid, signal.SIGKILL)
        return browser

    Renderer._launch = first_launch_only
    try:
        summary = render_run(run, catalogue, concurrency=2)
    finally:
        Renderer._launch = real_launch
    assert len(summary.unjudged) == 2, summary
    for sample in run.samples():
        verdict = sample.verdict
        assert verdict["judged"] is False
        assert "could not be launched" in verdict["reason"]
        assert not verdict["passed"]

    # The next render judges them for real: a failure of the browser is never reused.
    again = render_run(run, catalogue, concurrency=2)
    assert again.rendered == 2 and not again.unjudged
    for sample in run.samples():
        assert sample.verdict.get("judged", True) is True
        assert sample.observation["status"] == "ok"
