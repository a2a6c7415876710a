"""Every LLM call as an MLflow trace linked to the job's run, with its token usage."""

from __future__ import annotations

import logging

from skillopt.llm.client import CallEvent

log = logging.getLogger("skillopt.tracking")


class MlflowTraceListener:
    """A CallListener that records one trace (a single CHAT_MODEL span) per call.

    Traces are linked to the run through the `mlflow.sourceRun` trace metadata rather than the
    thread's active run, so calls made on worker threads land in the right run.
    """

    def __init__(self, *, run_id: str, experiment_id: str) -> None:
        import mlflow

        self._mlflow = mlflow
        self.run_id = run_id
        self.experiment_id = experiment_id

    def on_call(self, event: CallEvent) -> None:
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

    def flush(self) -> None:
        self._mlflow.flush_trace_async_logging()
