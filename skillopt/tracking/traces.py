"""Every LLM call as an MLflow trace linked to the job's run, with its token usage."""

from __future__ import annotations

import logging
import os
import queue
import threading

from skillopt.llm.client import CallEvent

log = logging.getLogger("skillopt.tracking")


class MlflowTraceListener:
    """A CallListener that records one trace (a single CHAT_MODEL span) per call.

    Calls end on many worker threads; their traces are written by `exporters` background threads
    while the remaining calls are still waiting on the network. One is right for a local SQLite
    store (writing a trace is CPU work in this process; several writers only contend); a server
    does that work in its own process, so a few exporters overlap the round trips.
    Traces are linked to the run through the `mlflow.sourceRun` trace metadata, not a thread's
    active run. A failed call is recorded too, as a span with status ERROR.
    """

    def __init__(self, *, run_id: str, experiment_id: str, exporters: int = 1) -> None:
        # Our exporter threads already keep trace writing off the calls' path; MLflow's own async
        # queue on top of it would only defer the work to the end of the job.
        os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
        import mlflow

        self._mlflow = mlflow
        self.run_id = run_id
        self.experiment_id = experiment_id
        self._queue: queue.SimpleQueue[CallEvent | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=self._export_loop, name=f"skillopt-trace-export-{i}", daemon=True
            )
            for i in range(max(1, exporters))
        ]
        for thread in self._threads:
            thread.start()

    def on_call(self, event: CallEvent) -> None:
        self._queue.put(event)

    def close(self) -> None:
        """Write every trace handed over so far, then stop the exporter threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _export_loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._export(event)
            except Exception:  # noqa: BLE001 - the exporter must outlive one bad trace; it is logged
                log.exception("could not record a trace for call %s", event.key)

    def _export(self, event: CallEvent) -> None:
        from mlflow.entities import SpanType
        from mlflow.exceptions import MlflowException
        from mlflow.tracing.constant import SpanAttributeKey, TraceMetadataKey

        request = event.request
        try:
            span = self._mlflow.start_span_no_context(
                name=f"{event.stage}:{event.label}" if event.label else event.stage,
                span_type=SpanType.CHAT_MODEL,
                inputs={"model": request.model, "messages": [dict(m) for m in request.messages]},
                attributes={
                    "skillopt.call_key": event.key,
                    "skillopt.backend": event.backend,
                    "skillopt.stage": event.stage,
                    "skillopt.max_tokens": request.max_tokens,
                },
                metadata={TraceMetadataKey.SOURCE_RUN: self.run_id},
                experiment_id=self.experiment_id,
                start_time_ns=event.started_ns,
            )
            if event.response is not None:
                response = event.response
                span.end(
                    outputs={"text": response.text},
                    attributes={
                        SpanAttributeKey.CHAT_USAGE: {
                            "input_tokens": response.prompt_tokens,
                            "output_tokens": response.completion_tokens,
                            "total_tokens": response.prompt_tokens + response.completion_tokens,
                        },
                        "skillopt.retries": response.retries,
                        "skillopt.latency_s": response.latency_s,
                    },
                    end_time_ns=event.ended_ns,
                )
            else:
                span.end(
                    attributes={"skillopt.error": str(event.error)},
                    status="ERROR",
                    end_time_ns=event.ended_ns,
                )
        except MlflowException as exc:
            log.warning("could not record a trace for call %s: %s", event.key, exc)
