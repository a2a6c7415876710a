"""skillopt's span records as MLflow's trace entities, in the shape the Traces tab shows.

A trace reaches MLflow as its spans alone (`log_spans`, which creates the trace and takes its
name, tags, state and times from the root span) and is then linked to its run; its spans can
arrive in several batches while the trace is still open, however long that takes. The uploader
does this both live and for `skillopt-sync`, so a trace uploaded later is the same as one
uploaded as the job ran: same ids, names, types, parents, times, inputs, outputs, token usage
and tags. A CHAT_MODEL span takes its request and reply from the span when it still
holds them, else from the call record its `call_key` names (the journal does not copy them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skillopt.llm.tracing import CHAT_MODEL, SpanRecord, TraceRecord
from skillopt.tracking.names import Tag

CallLookup = Callable[[str], Mapping[str, Any] | None]
"""call key -> the call record (`{"request": ..., "response": ...}`), or None if unknown."""


def mlflow_trace_id(trace_id: str) -> str:
    """MLflow's id for a trace (`tr-` and the 32 hex digits)."""
    return f"tr-{trace_id}"


def _call_io(record: SpanRecord, lookup: CallLookup | None) -> tuple[Any, Any]:
    inputs, outputs = record.inputs, record.outputs
    if record.kind != CHAT_MODEL or record.call_key is None or lookup is None:
        return inputs, outputs
    if inputs is None or (outputs is None and record.error is None):
        call = lookup(record.call_key)
        if call is not None:
            request = call.get("request") or {}
            inputs = {"model": request.get("model"), "messages": request.get("messages")}
            outputs = {"text": (call.get("response") or {}).get("text")}
    return inputs, outputs


def to_mlflow_span(
    record: SpanRecord,
    lookup: CallLookup | None = None,
    *,
    trace_tags: Mapping[str, str] | None = None,
) -> Any:
    """The record as an immutable `mlflow.entities.Span`. A root span carries its trace's tags
    (`trace_tags`, the trace's name among them): MLflow's store makes a root span's
    `mlflow.traceTag.*` attributes the trace's tags when it stores the span."""
    from mlflow.entities import Span, SpanStatus, SpanStatusCode
    from mlflow.tracing.constant import SpanAttributeKey
    from mlflow.tracing.utils import build_otel_context, dump_span_attribute_value
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

    inputs, outputs = _call_io(record, lookup)
    attributes: dict[str, Any] = {
        SpanAttributeKey.REQUEST_ID: mlflow_trace_id(record.trace_id),
        SpanAttributeKey.SPAN_TYPE: record.kind,
        **record.attributes,
    }
    if inputs is not None:
        attributes[SpanAttributeKey.INPUTS] = inputs
    if outputs is not None:
        attributes[SpanAttributeKey.OUTPUTS] = outputs
    if record.call_key is not None:
        attributes["skillopt.call_key"] = record.call_key
    if record.error is not None:
        attributes["skillopt.error"] = record.error
    prompt = record.attributes.get("skillopt.prompt_tokens")
    completion = record.attributes.get("skillopt.completion_tokens")
    if prompt is not None and completion is not None:
        attributes[SpanAttributeKey.CHAT_USAGE] = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        }
    for key, value in (trace_tags or {}).items():
        attributes[f"{SpanAttributeKey.TRACE_TAG_PREFIX}{key}"] = value
    trace_int = int(record.trace_id, 16)
    status = SpanStatus(
        status_code=SpanStatusCode.ERROR if record.error else SpanStatusCode.OK,
        description=record.error or "",
    )
    otel = ReadableSpan(
        name=record.name,
        context=build_otel_context(trace_int, int(record.span_id, 16)),
        parent=(
            build_otel_context(trace_int, int(record.parent_id, 16)) if record.parent_id else None
        ),
        start_time=record.start_ns,
        end_time=record.end_ns,
        attributes={k: dump_span_attribute_value(v) for k, v in attributes.items()},
        status=status.to_otel_status(),
        resource=Resource.get_empty(),
    )
    return Span(otel)


def trace_tags(record: TraceRecord, job_tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of a trace: its name, the job's tags (`JOB_TAGS`), its own."""
    from mlflow.tracing.constant import TraceTagKey

    return {TraceTagKey.TRACE_NAME: record.name, **job_tags, **record.tags}


def call_lookup(calls_dir: Path) -> CallLookup:
    """A lookup of call records in a job's call cache (`llm_calls/`, or its role folders).

    A call's record is written before its span ends, so a lookup made after reading spans
    finds every record they name: the role folders are listed once, at the first key not at
    the top level (listing per key made a 10,000-call upload quadratic)."""
    folders: list[Path] = []
    listed = False

    def find(name: str) -> Path | None:
        nonlocal listed
        if (calls_dir / name).is_file():
            return calls_dir / name
        if not listed:
            listed = True
            if calls_dir.is_dir():
                folders.extend(d for d in calls_dir.iterdir() if d.is_dir())
        return next((d / name for d in folders if (d / name).is_file()), None)

    def lookup(key: str) -> Mapping[str, Any] | None:
        path = find(f"{key}.json")
        if path is None:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None

    return lookup


JOB_TAGS = (Tag.JOB, Tag.SWEEP_ID, Tag.JOB_NUM)
"""Run tags every trace of the run carries too, so traces can be filtered by sweep and job."""
