"""One background thread per tracked job that makes its MLflow calls, in order.

The job hands its tracking work over (`submit`) and goes on: params and tags, step metrics,
artifacts as they appear. MLflow's store calls then overlap with the job's own waiting on the
network instead of adding to its wall time. A call that fails is logged and counted, and the
work after it still runs (a lost server must not stop the job, nor the calls that could still
succeed); `drain` waits for the queue to empty, up to a deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("skillopt.tracking")


class TrackingWorker:
    """Runs submitted calls one at a time, in submission order, on its own thread."""

    def __init__(self, name: str = "skillopt-tracking") -> None:
        self._queue: queue.SimpleQueue[tuple[str, Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Condition()
        self._pending = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, label: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` after everything submitted before it; `label` names it in errors."""
        with self._idle:
            self._pending += 1
        self._queue.put((label, fn, args))

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every submitted call has run; False if `timeout_s` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            label, fn, args = item
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - recorded and reported at the job's end
                message = f"{label}: {type(exc).__name__}: {exc}"
                self.errors.append(message)
                log.warning("tracking: %s", message)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
