"""The span journal: every finished span and trace of a job, one JSON line each, in its output
directory.

It is written whether or not the job is tracked, so `skillopt-sync` can upload a job's traces
later in the shape they would have had live. A CHAT_MODEL span keeps the key of its call record
instead of the request and reply, which the call cache already holds. A line torn by a crash
is skipped when read.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from skillopt.llm.tracing import CHAT_MODEL, SpanRecord, TraceRecord


class SpanJournal:
    """A `SpanSink` appending to `path` (a resumed job appends to the same file)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8", buffering=1)

    def _write(self, data: dict[str, Any]) -> None:
        line = json.dumps(data, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)

    def on_span(self, record: SpanRecord) -> None:
        data = record.to_json()
        if record.kind == CHAT_MODEL and record.call_key is not None:
            data["inputs"] = data["outputs"] = None  # in the call record named by call_key
        self._write(data)

    def on_trace(self, record: TraceRecord) -> None:
        self._write(record.to_json())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_journal(path: Path) -> tuple[list[SpanRecord], list[TraceRecord]]:
    """The spans and the finished traces in a journal (none if there is no file)."""
    spans: list[SpanRecord] = []
    traces: list[TraceRecord] = []
    if not path.is_file():
        return spans, traces
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line a crash cut short
        if data.get("type") == "span":
            spans.append(SpanRecord.from_json(data))
        elif data.get("type") == "trace":
            traces.append(TraceRecord.from_json(data))
    return spans, traces
