"""pytest plugin (``pytest11`` entry point): each stored sample of a run as a test item.

``pytest --gallery RUN`` (a run id, ``latest`` or a path) collects one item per
sample, named ``prompt/model/index`` (node id ``gallery::spinning-hexagon/reference/1``),
that fails with the reasons of the sample's failed required checks, read from
its stored ``verdict.json``. Each item carries the markers ``prompt_<id>`` and
``model_<name>`` (non-alphanumerics become ``_``) and ``gallery(prompt=, model=,
index=)``, so ``-m`` and ``-k`` select as usual. Without explicit test paths,
``--gallery`` runs only these items (the project's own ``testpaths`` are not
collected).

When a baseline is recorded (``gallery baseline set``, ``outputs/baseline.json``)
the items guard against regressions, as ``gallery compare`` does: an item
fails when a required check that passed in the baseline's same sample fails
now (or the sample has no verdict any more); a sample that fails as it failed
in the baseline is reported as xfail, so a lane of pages a model got wrong does
not keep CI red. Samples the baseline does not have are judged on their own.
``--gallery-baseline RUN`` names another baseline, ``--gallery-baseline none``
judges every sample on its own. ``--gallery-fail-on-judge`` also fails an item
whose vision-judge score (``gallery judge``) fell by more than
``--gallery-judge-threshold`` from the baseline's (the rule of ``gallery compare
--fail-on-judge``); off by default, as a model's judgement is not a person's.

``--gallery-rerender`` runs each page again in Chromium instead of trusting the
stored verdict, and fails an item when a required check that passed in the run
no longer passes: that is what a Chromium upgrade, a library change or a
renderer change breaks. A sample that failed in the run and still fails (with
nothing newly failing) is reported as xfail.

The browser comes from pytest-playwright's fixture chain: the executable is the
``executable_path`` of ``browser_type_launch_args`` (override that fixture in a
root ``conftest.py``: the items live under ``gallery::``, not under ``tests/``),
else gallery's own discovery (``GALLERY_CHROMIUM``, Playwright's Chromium,
``PATH``). gallery's renderer is async and brings its own launch flags (quiet
networking, software WebGL, heap cap), so it launches that executable itself,
once per session, on a background event loop: the sync ``browser`` fixture
cannot be driven from asyncio, and a ``channel`` is not used.

Without ``--gallery`` every hook returns at once, so the entry point never
changes an unrelated pytest session.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest

_RENDERER = pytest.StashKey["_BackgroundRenderer | None"]()
_CATALOGUE = pytest.StashKey[dict]()
_BASELINE = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gallery", "gallery: stored samples as tests")
    group.addoption(
        "--gallery", metavar="RUN", default=None, help="Run id, 'latest' or a run folder."
    )
    group.addoption(
        "--gallery-rerender",
        action="store_true",
        default=False,
        help="Re-render each page in Chromium and fail when a check that passed no longer does.",
    )
    group.addoption(
        "--gallery-baseline",
        metavar="RUN",
        default=None,
        help="Fail only on regressions against this run (default: the recorded baseline, "
        "if any; 'none': judge every sample on its own).",
    )
    group.addoption(
        "--gallery-fail-on-judge",
        action="store_true",
        default=False,
        help="Also fail when the vision judge's score fell from the baseline's.",
    )
    group.addoption(
        "--gallery-judge-threshold",
        metavar="X",
        type=float,
        default=0.2,
        help="The fall of the judge's score (0-1) that fails with --gallery-fail-on-judge.",
    )
    group.addoption(
        "--gallery-out",
        metavar="DIR",
        default="outputs",
        help="Where runs live (default: outputs).",
    )
    group.addoption(
        "--gallery-prompts",
        metavar="DIR",
        default="prompts",
        help="The prompt catalogue, for --gallery-rerender (default: prompts).",
    )


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--gallery", default=None))


def marker_name(kind: str, name: str) -> str:
    """``prompt_spinning_hexagon``: a marker name usable in ``-m`` and as ``pytest.mark.X``."""
    return f"{kind}_{re.sub(r'[^0-9A-Za-z]', '_', name)}"


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    config.addinivalue_line(
        "markers", "gallery(prompt, model, index): a stored gallery sample (--gallery)"
    )
    config.stash[_RENDERER] = None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``--gallery`` and no test paths named, collect nothing but the gallery items."""
    if _active(config) and config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the run's samples before ``-k``/``-m`` deselection (which runs after this)."""
    if not _active(config):
        return
    from gallery.errors import GalleryError
    from gallery.records.store import Store

    try:
        run = Store(config.getoption("--gallery-out")).open_run(config.getoption("--gallery"))
    except GalleryError as exc:
        raise pytest.UsageError(f"--gallery: {exc.message}") from None
    baseline = _baseline(config, run)
    collector = GalleryRun.from_parent(
        session, name="gallery", nodeid="gallery", path=run.path, run=run, baseline=baseline
    )
    # through genitems, so the items are counted and reported like collected ones
    items.extend(session.genitems(collector))


def _baseline(config: pytest.Config, run: Any) -> Any:
    """The run to judge against: ``--gallery-baseline``, else the recorded one, else None."""
    from gallery.compare.baseline import read_baseline
    from gallery.errors import GalleryError
    from gallery.records.store import Store

    choice = config.getoption("--gallery-baseline")
    store = Store(config.getoption("--gallery-out"))
    try:
        if choice is None:
            base = read_baseline(store)
        elif choice.lower() == "none":
            base = None
        else:
            base = store.open_run(choice)
    except GalleryError as exc:
        raise pytest.UsageError(f"--gallery-baseline: {exc.message}") from None
    if base is not None and base.path.resolve() == run.path.resolve():
        return None  # the baseline itself: nothing to compare it with
    return base


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    if not _active(config):
        return None
    base = config.stash.get(_BASELINE, None)
    return f"gallery: regressions against baseline {base.id}" if base is not None else None


class SampleFailed(Exception):
    """A sample's checks failed; the message is the whole report (no traceback)."""


class GalleryRun(pytest.Collector):
    """The run: one ``GallerySample`` per stored sample."""

    def __init__(self, *, run: Any, baseline: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.run = run
        self.baseline = baseline
        self.config.stash[_BASELINE] = baseline

    def collect(self) -> list[GallerySample]:
        items = []
        for sample in self.run.samples():
            k = sample.key
            for kind, name in (("prompt", k.prompt), ("model", k.model)):
                self.config.addinivalue_line(
                    "markers", f"{marker_name(kind, name)}: gallery samples of {kind} {name}"
                )
            base = None
            if self.baseline is not None and self.baseline.has_sample(k):
                base = self.baseline.sample(k)
            item = GallerySample.from_parent(
                self, name=k.label, callobj=_sample_test, sample=sample, base=base
            )
            item.add_marker(pytest.mark.gallery(prompt=k.prompt, model=k.model, index=k.index))
            item.add_marker(marker_name("prompt", k.prompt))
            item.add_marker(marker_name("model", k.model))
            items.append(item)
        return items


def _sample_test(request: pytest.FixtureRequest) -> None:
    """The item's function: fixtures (``request``) are resolved by pytest as for any test."""
    request.node.check(request)


def _failed_checks(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c for c in verdict.get("checks") or [] if c.get("required", True) and not c.get("passed")
    ]


def _failed(verdict: dict[str, Any]) -> list[str]:
    return [f"{c.get('name')}: {c.get('detail') or 'failed'}" for c in _failed_checks(verdict)]


class GallerySample(pytest.Function):
    """One stored sample, run as a pytest ``Function`` so fixtures work as usual."""

    def __init__(self, *, sample: Any, base: Any = None, **kwargs: Any):
        self.sample = sample
        self.base = base  # the baseline's same sample, when judged against one
        super().__init__(**kwargs)

    def check(self, request: pytest.FixtureRequest) -> None:
        if self.config.getoption("--gallery-rerender"):
            self._rerender(request)
            return
        from gallery.compare.rule import regressions

        verdict = self.sample.verdict
        before = (self.base.verdict if self.base is not None else None) or None
        if verdict is None:
            raise SampleFailed("not judged: no verdict.json (run `gallery render` first)")
        if verdict.get("judged") is False:
            raise SampleFailed(
                f"not judged (the browser or the harness failed): {verdict.get('reason')}"
            )
        self._judge(before)
        if verdict.get("passed"):
            return
        reasons = _failed(verdict) or ["no required check passed"]
        if before is None:
            raise SampleFailed("failed checks:\n" + "\n".join(f"  {r}" for r in reasons))
        lost = [f"{c.name}: {c.detail or 'failed'}" for c in regressions(before, verdict)]
        if lost:
            base_id = self.base.run.id
            raise SampleFailed(
                f"regressed against baseline {base_id} (passed there, fails now):\n"
                + "\n".join(f"  {r}" for r in lost)
            )
        pytest.xfail("fails as in the baseline: " + "; ".join(reasons))

    def _judge(self, before: Any) -> None:
        """With --gallery-fail-on-judge: fail when the judge's score fell from the baseline's."""
        if before is None or not self.config.getoption("--gallery-fail-on-judge"):
            return
        from gallery.compare.rule import judge_dropped

        was, now = self.base.judge_score, self.sample.judge_score
        threshold = self.config.getoption("--gallery-judge-threshold")
        if judge_dropped(was, now, threshold):
            raise SampleFailed(
                f"the vision judge's score fell from {was:.2f} in baseline {self.base.run.id} "
                f"to {now:.2f} (more than {threshold:g})"
            )

    def _rerender(self, request: pytest.FixtureRequest) -> None:
        from gallery.checks.judge import judge
        from gallery.compare.rule import regressions
        from gallery.errors import GalleryError

        prompt = _catalogue(self.config).get(self.sample.key.prompt)
        if prompt is None:
            raise SampleFailed(
                f"prompt {self.sample.key.prompt!r} is not in "
                f"{self.config.getoption('--gallery-prompts')} (--gallery-prompts)"
            )
        stored = self.sample.verdict or {}
        if not self.sample.runnable:
            pytest.skip("no runnable page in this sample")
        try:
            result = _renderer(self.config, request).render(self.sample.artifact, prompt)
        except GalleryError as exc:  # no browser, a bad --chromium: one line, no traceback
            raise SampleFailed(f"cannot re-render: {exc}") from None
        fresh = judge(result.observation, prompt.checks)
        if fresh.get("judged") is False:
            raise SampleFailed(f"cannot re-render: {fresh.get('reason')}")
        lost = [f"{c.name}: {c.detail}" for c in regressions(stored, fresh)]
        if lost:
            raise SampleFailed(
                "no longer passes after re-rendering:\n" + "\n".join(f"  {r}" for r in lost)
            )
        if not fresh["passed"]:
            pytest.xfail("fails as in the run: " + "; ".join(_failed(fresh)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        if isinstance(excinfo.value, SampleFailed):
            return f"{self.sample.key.label} ({self.sample.path}):\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """The run folder (so progress groups by run) and the sample as the headline."""
        return self.sample.run.path, None, f"gallery sample {self.sample.key.label}"


def _catalogue(config: pytest.Config) -> dict:
    if _CATALOGUE not in config.stash:
        from gallery.catalogue.prompts import load_catalogue
        from gallery.errors import GalleryError

        try:
            config.stash[_CATALOGUE] = load_catalogue(Path(config.getoption("--gallery-prompts")))
        except GalleryError as exc:
            raise pytest.UsageError(f"--gallery-prompts: {exc}") from None
    return config.stash[_CATALOGUE]


def _renderer(config: pytest.Config, request: pytest.FixtureRequest) -> _BackgroundRenderer:
    """One renderer per session, on the Chromium that pytest-playwright's fixtures name."""
    if config.stash.get(_RENDERER, None) is None:
        try:
            launch = dict(request.getfixturevalue("browser_type_launch_args"))
        except pytest.FixtureLookupError:  # pytest-playwright is not installed
            launch = {}
        config.stash[_RENDERER] = _BackgroundRenderer(launch.get("executable_path"))
    return config.stash[_RENDERER]


def pytest_sessionfinish(session: pytest.Session) -> None:
    renderer = session.config.stash.get(_RENDERER, None)
    if renderer is not None:
        session.config.stash[_RENDERER] = None
        renderer.close()


class _BackgroundRenderer:
    """gallery's async ``Renderer`` on its own event loop thread, called synchronously.

    pytest-playwright's sync API may already run a loop on the main thread, so
    the renderer gets a thread of its own for the whole session.
    """

    def __init__(self, chromium: str | None):
        from gallery.render.libs import LibCache
        from gallery.render.sandbox import Renderer

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="gallery-rerender", daemon=True
        )
        self.thread.start()
        self.renderer = Renderer(chromium=chromium, libs=LibCache())
        try:
            self._call(self.renderer.__aenter__())
        except BaseException:
            self._stop()
            raise

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def render(self, artifact: Path, prompt: Any) -> Any:
        return self._call(self.renderer.render(artifact, prompt))

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        if not self.thread.is_alive():
            self.loop.close()

    def close(self) -> None:
        try:
            self._call(self.renderer.__aexit__(None, None, None))
        finally:
            self._stop()
