"""Run gallery's async stages from synchronous code, wherever it is called from.

``asyncio.run`` refuses to start when the calling thread already runs an event
loop — inside Jupyter, or in a pytest session where pytest-playwright's sync
API holds one open. Then the coroutine runs on a fresh loop in a worker thread.

SIGTERM, when the caller asked for it (the command line installs
``raise_terminated``), stops a stage the way ``asyncio.run`` stops it on Ctrl-C:
the stage's task is cancelled, so every ``finally`` and ``async with`` in it runs
(pages closed, the browser shut, its temporary folder removed) before
``Terminated`` is raised. Raised at whatever line the signal lands on instead,
the loop stopped with tasks half done, and their clean-up ran after the browser
they used had gone.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM: a cancelled CI job, ``timeout``,
    ``docker stop``). An interrupt, like Ctrl-C, so the same clean-up runs on the way out."""


def raise_terminated(signum: int, frame: Any) -> None:
    """A SIGTERM handler for synchronous code: stop as Ctrl-C would (``Terminated``)."""
    raise Terminated()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, or the same on a worker thread when a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="gallery-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, with SIGTERM cancelling the stage when ``raise_terminated`` handles it."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not raise_terminated
    ):
        return asyncio.run(coro)
    state: dict[str, Any] = {}

    async def main() -> T:
        state["task"] = asyncio.current_task()
        state["loop"] = asyncio.get_running_loop()
        return await coro

    def cancel(signum: int, frame: Any) -> None:
        # What asyncio.Runner does on Ctrl-C: cancel the main task and wake the loop.
        task = state.get("task")
        if task is None or task.done():
            raise Terminated()
        state["terminated"] = True
        task.cancel()
        state["loop"].call_soon_threadsafe(lambda: None)

    signal.signal(signal.SIGTERM, cancel)
    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if state.get("terminated"):
            raise Terminated() from None
        raise
    finally:
        signal.signal(signal.SIGTERM, raise_terminated)
