"""Trace trees without a tracing library: spans as plain records, handed to a sink as they end.

A job opens a trace (`open_trace`), which is the current span of the code it runs; `span(...)`
opens a child of the current span (a no-op when there is none, so untraced code pays nothing);
the LLM client makes every call a CHAT_MODEL child of whatever span it runs under. The current
span lives in a context variable, so it follows the code into worker threads that `submit`
starts. Finished spans and traces go to a `SpanSink`: the job's span journal in its output
directory (always, so a run can be tracked later) and, when tracking is on, MLflow.

A span record holds what MLflow needs and nothing MLflow-specific; a CHAT_MODEL span names its
call record (`call_key`) instead of copying the request and reply, which are in the call cache.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

CHAIN = "CHAIN"
CHAT_MODEL = "CHAT_MODEL"


def new_id(bits: int) -> str:
    """A random id of `bits` bits as lowercase hex (128 for traces, 64 for spans)."""
    return os.urandom(bits // 8).hex()


@dataclass(frozen=True, kw_only=True)
class SpanRecord:
    """One finished span. Times are UNIX nanoseconds; `error` is set when it failed."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    call_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "span", **vars(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpanRecord:
        return cls(**{k: v for k, v in data.items() if k != "type"})


@dataclass(frozen=True, kw_only=True)
class TraceRecord:
    """One finished trace: its root span, its name, when it ran, and its tags."""

    trace_id: str
    root_id: str
    name: str
    start_ns: int
    end_ns: int
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "trace", **vars(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TraceRecord:
        return cls(**{k: v for k, v in data.items() if k != "type"})


class SpanSink(Protocol):
    """Where finished spans go: `on_span` for every span (children before their parent),
    `on_trace` once its root has ended. Called on the thread that ended the span."""

    def on_span(self, record: SpanRecord) -> None: ...

    def on_trace(self, record: TraceRecord) -> None: ...


class NullSink:
    """Records nothing: the default, for code run without a trace."""

    def on_span(self, record: SpanRecord) -> None:
        return None

    def on_trace(self, record: TraceRecord) -> None:
        return None


class Sinks:
    """Several sinks as one, told in order."""

    def __init__(self, *sinks: SpanSink) -> None:
        self.sinks = sinks

    def on_span(self, record: SpanRecord) -> None:
        for sink in self.sinks:
            sink.on_span(record)

    def on_trace(self, record: TraceRecord) -> None:
        for sink in self.sinks:
            sink.on_trace(record)


class Span:
    """A span being recorded. End it once (`end`, or leave its `with` block)."""

    def __init__(
        self,
        *,
        sink: SpanSink,
        trace_id: str,
        parent_id: str | None,
        name: str,
        kind: str,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.sink = sink
        self.trace_id = trace_id
        self.span_id = new_id(64)
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.inputs = inputs
        self.attributes = dict(attributes or {})
        self.start_ns = time.time_ns()
        self._ended = False
        self._lock = threading.Lock()

    def child(
        self,
        name: str,
        *,
        kind: str = CHAIN,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span:
        return Span(
            sink=self.sink,
            trace_id=self.trace_id,
            parent_id=self.span_id,
            name=name,
            kind=kind,
            inputs=inputs,
            attributes=attributes,
        )

    def end(
        self,
        *,
        outputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        error: str | None = None,
        call_key: str | None = None,
    ) -> SpanRecord | None:
        """Finish the span and hand its record to the sink (None if it had ended already)."""
        with self._lock:
            if self._ended:
                return None
            self._ended = True
        record = SpanRecord(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_id=self.parent_id,
            name=self.name,
            kind=self.kind,
            start_ns=self.start_ns,
            end_ns=time.time_ns(),
            inputs=self.inputs,
            outputs=outputs,
            attributes={**self.attributes, **dict(attributes or {})},
            error=error,
            call_key=call_key,
        )
        self.sink.on_span(record)
        return record


_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "skillopt_span", default=None
)


def current_span() -> Span | None:
    """The span the running code is under, if it is traced."""
    return _current.get()


@contextmanager
def _entered(span: Span) -> Iterator[Span]:
    token = _current.set(span)
    try:
        yield span
    except BaseException as exc:
        span.end(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _current.reset(token)
        span.end()


@contextmanager
def span(
    name: str,
    *,
    kind: str = CHAIN,
    inputs: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A child of the current span for the block (None and no cost when nothing is traced). An
    exception leaving the block marks the span as failed; set outputs with `Span.end` first."""
    parent = _current.get()
    if parent is None:
        yield None
        return
    with _entered(parent.child(name, kind=kind, inputs=inputs, attributes=attributes)) as opened:
        yield opened


@contextmanager
def stage(name: str, timing: dict[str, float], **attributes: Any) -> Iterator[Span | None]:
    """A span named `name` for the block, whose wall time also goes to `timing[name + "_s"]`
    (a step record's timing)."""
    started = time.perf_counter()
    try:
        with span(name, attributes=attributes or None) as opened:
            yield opened
    finally:
        timing[f"{name}_s"] = time.perf_counter() - started


@contextmanager
def open_trace(
    sink: SpanSink | None,
    name: str,
    *,
    inputs: Any = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[Span | None]:
    """A new trace whose root span is current for the block; when it ends, its spans and then the
    trace itself reach `sink`. With no sink the block runs untraced."""
    if sink is None:
        yield None
        return
    root = Span(
        sink=sink, trace_id=new_id(128), parent_id=None, name=name, kind=CHAIN, inputs=inputs
    )
    error = None
    try:
        with _entered(root):
            yield root
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        sink.on_trace(
            TraceRecord(
                trace_id=root.trace_id,
                root_id=root.span_id,
                name=name,
                start_ns=root.start_ns,
                end_ns=time.time_ns(),
                error=error,
                tags=dict(tags or {}),
            )
        )


def submit(pool: Executor, fn: Callable[..., T], *args: Any) -> Future[T]:
    """`pool.submit(fn, *args)` run under the caller's current span (each task gets its own copy
    of the context: one context cannot run on two threads at once)."""
    return pool.submit(contextvars.copy_context().run, fn, *args)
