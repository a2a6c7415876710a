"""Progress reporting for a terminal: a tqdm bar over minibatches, quiet when not a TTY."""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

from skillopt.engine.minibatch import Minibatch
from skillopt.engine.outcome import MinibatchResult, NullObserver

log = logging.getLogger("skillopt.reflect")


class ProgressBar(NullObserver):
    """A ReflectObserver: one tick per finished minibatch; failures are logged as they happen."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def on_start(self, plan: list[Minibatch]) -> None:
        self._bar = tqdm(
            total=len(plan), unit="minibatch", desc="reflect", disable=not sys.stderr.isatty()
        )

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        if result.status == "failed":
            log.warning("%s failed (%s): %s", result.name, result.failure_reason, result.error)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{result.name} {result.status}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
