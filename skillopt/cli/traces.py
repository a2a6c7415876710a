"""Where a job's spans go: its span journal always; when its run is tracked live, the tracking
agent is woken as they arrive (it uploads them from the journal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skillopt.llm.journal import SpanJournal
from skillopt.llm.tracing import Sinks, SpanSink
from skillopt.tracking.names import RunFolder
from skillopt.tracking.run import RunTracker


@contextmanager
def job_spans(out_dir: Path, tracker: RunTracker | None) -> Iterator[SpanSink]:
    """The span sink of a job writing into `out_dir` (`tracker`: its run, or None)."""
    journal = SpanJournal(out_dir / RunFolder.SPANS)
    wake = tracker.span_sink() if tracker is not None else None
    try:
        yield journal if wake is None else Sinks(journal, wake)
    finally:
        journal.close()
