"""Where a job's spans go: its span journal always, and MLflow when the job is tracked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skillopt.llm.journal import SpanJournal
from skillopt.llm.tracing import Sinks, SpanSink
from skillopt.tracking.names import RunFolder


@contextmanager
def job_spans(out_dir: Path, tracker: Any) -> Iterator[SpanSink]:
    """The span sink of a job writing into `out_dir` (`tracker`: its MLflow run, or None)."""
    journal = SpanJournal(out_dir / RunFolder.SPANS)
    exporter = tracker.trace_sink() if tracker is not None else None
    try:
        yield journal if exporter is None else Sinks(journal, exporter)
    finally:
        journal.close()
