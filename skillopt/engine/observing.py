"""Telling observers what happened, without letting one of them stop the work.

An observer (a progress bar, the file writer, MLflow tracking) must not be able to break the run
it watches: an exception it raises is logged with its traceback and the next observer is told
(GEPA's callbacks work the same way). Observers that need a failure to count, such as tracking,
record it themselves and say so at the end of the job. An observer whose work is part of the
job's result (the writer of the output directory) sets `essential = True`; its errors stop the
job like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("skillopt.engine")


def notify(observers: Iterable[Any], event: str, *args: Any) -> None:
    """Call `observer.<event>(*args)` on each observer in order."""
    for observer in observers:
        try:
            getattr(observer, event)(*args)
        except Exception:  # noqa: BLE001 - an observer must not break the run; it is logged
            if getattr(observer, "essential", False):
                raise
            log.exception("observer %s failed on %s", type(observer).__name__, event)
