"""What a run's trace trees must look like, checked the same way against any store."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import mlflow


def run_traces(tracking_uri: str, run: Any) -> list[Any]:
    """The traces linked to `run`, oldest first."""
    mlflow.set_tracking_uri(tracking_uri)
    traces = mlflow.search_traces(
        locations=[run.info.experiment_id], run_id=run.info.run_id, return_type="list"
    )
    return sorted(traces, key=lambda t: t.info.request_time)


def children(trace: Any, span: Any) -> list[Any]:
    return [s for s in trace.data.spans if s.parent_id == span.span_id]


def root(trace: Any) -> Any:
    (top,) = [s for s in trace.data.spans if s.parent_id is None]
    return top


def check_reflect_trace(traces: list[Any], run: Any, job_dir: Path) -> None:
    """One trace for the job: root `reflect`, a span per minibatch of the plan, each holding
    its analyst call(s) as CHAT_MODEL spans with request, reply, tokens and call key."""
    assert len(traces) == 1, [t.info.trace_id for t in traces]
    (trace,) = traces
    top = root(trace)
    assert top.name == "reflect" and trace.info.tags["mlflow.traceName"] == "reflect"
    assert trace.info.state.value == "OK"
    for tag in ("skillopt.job", "skillopt.sweep_id", "skillopt.job_num"):
        if tag in run.data.tags:
            assert trace.info.tags[tag] == run.data.tags[tag], tag
    summary = json.loads((job_dir / "summary.json").read_text())
    minibatches = children(trace, top)
    assert sorted(s.name for s in minibatches) == sorted(e["minibatch"] for e in summary["plan"])
    calls = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    assert len(calls) == run.data.metrics["llm.calls"]
    assert all(any(c.parent_id == m.span_id for c in calls) for m in minibatches)
    for call in calls:
        assert call.inputs["messages"] and call.outputs["text"]
        assert call.attributes["skillopt.call_key"]
        usage = call.attributes["mlflow.chat.tokenUsage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert trace.info.token_usage["input_tokens"] == run.data.metrics["llm.prompt_tokens"]


def stage_calls(trace: Any) -> Counter[str]:
    """CHAT_MODEL spans per top-level stage (the root's children) of one trace."""
    counts: Counter[str] = Counter()
    by_id = {s.span_id: s for s in trace.data.spans}
    top = root(trace)
    for span in trace.data.spans:
        if span.span_type != "CHAT_MODEL":
            continue
        node = span
        while node.parent_id is not None and node.parent_id != top.span_id:
            node = by_id[node.parent_id]
        counts[node.name] += 1
    return counts
