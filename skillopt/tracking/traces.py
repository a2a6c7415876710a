"""A job's traces into MLflow: a span sink that exports on a background thread as the job runs.

Spans reach MLflow in batches (`log_spans`, one store call for many spans) while the job's calls
are still waiting on the network, and each trace's info (`start_trace`) once its root has ended,
so tracking costs a store call per batch and per trace, not one per span. MLflow's own trace
buffer, which drops a trace left open longer than `MLFLOW_TRACE_BUFFER_TTL_SECONDS`, is not
involved: a span is exported when it ends, however long its trace stays open (a multi-hour
training step included).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping

from skillopt.llm.tracing import SpanRecord, TraceRecord
from skillopt.tracking.spans import CallLookup, to_mlflow_span, to_mlflow_trace_info

log = logging.getLogger("skillopt.tracking")

BATCH = 64  # spans per log_spans call at most
IDLE_S = 0.2  # a partial batch goes out once no span has arrived for this long


class MlflowTraceExporter:
    """A `SpanSink` that uploads spans and traces to the run's experiment, linked to the run.

    `failures` counts the spans and traces that could not be uploaded (each is logged); the
    job goes on regardless, and its span journal keeps everything for `skillopt-sync`.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment_id: str,
        run_id: str,
        tags: Mapping[str, str],
        lookup: CallLookup | None = None,
    ) -> None:
        from mlflow.tracing.client import TracingClient

        self._client = TracingClient(tracking_uri)
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.tags = dict(tags)
        self.lookup = lookup
        self.failures = 0
        self.exported_spans = 0
        self.exported_traces = 0
        self._queue: queue.SimpleQueue[SpanRecord | TraceRecord | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="skillopt-traces", daemon=True)
        self._thread.start()

    def on_span(self, record: SpanRecord) -> None:
        self._queue.put(record)

    def on_trace(self, record: TraceRecord) -> None:
        self._queue.put(record)

    def close(self, timeout_s: float | None = None) -> bool:
        """Upload what was handed over, then stop; False if that took longer than `timeout_s`
        (the rest is in the span journal)."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        pending: list[SpanRecord] = []
        while True:
            try:
                item = self._queue.get(timeout=IDLE_S if pending else None)
            except queue.Empty:
                self._flush(pending)
                continue
            if item is None:
                self._flush(pending)
                return
            if isinstance(item, SpanRecord):
                pending.append(item)
                if len(pending) >= BATCH:
                    self._flush(pending)
                continue
            self._flush(pending)
            self._finish_trace(item)

    def _flush(self, pending: list[SpanRecord]) -> None:
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        from mlflow.exceptions import MlflowException

        started = time.perf_counter()
        try:
            spans = [to_mlflow_span(record, self.lookup) for record in batch]
            self._client.log_spans(self.experiment_id, spans)
        except (MlflowException, OSError, ValueError) as exc:
            self.failures += len(batch)
            log.warning("tracking: %d spans were not uploaded: %s", len(batch), exc)
            return
        self.exported_spans += len(batch)
        log.debug("tracking: %d spans in %.3fs", len(batch), time.perf_counter() - started)

    def _finish_trace(self, record: TraceRecord) -> None:
        from mlflow.exceptions import MlflowException

        info = to_mlflow_trace_info(
            record, experiment_id=self.experiment_id, run_id=self.run_id, tags=self.tags
        )
        try:
            self._client.start_trace(info)
        except (MlflowException, OSError, ValueError) as exc:
            self.failures += 1
            log.warning("tracking: trace %s was not uploaded: %s", record.name, exc)
            return
        self.exported_traces += 1
