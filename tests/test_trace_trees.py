"""Trace trees in a real SQLite store: a training run's trace per step and per epoch end with
its stages, span counts equal to the LLM calls each stage made, failed calls as ERROR spans,
traces that stay open past MLflow's trace-buffer TTL, and a resumed run that traces each step
once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import mlflow
import pytest

from skillopt.testing import ChatServer, Reply, offline_responder, scripted
from tests.cli_helpers import run_reflect
from tests.trace_checks import check_reflect_trace, root, run_traces, stage_calls

KEY_ENV = "SKILLOPT_TRACE_TEST_KEY"
STEP_STAGES = ["rollout", "reflect", "aggregate", "select", "update", "gate"]


def store(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'mlflow.db'}"


def run_of(cwd: Path, out_dir: Path):
    run_id = json.loads((out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]
    return mlflow.MlflowClient(store(cwd)).get_run(run_id)


def expected_step_calls(record: dict) -> Counter[str]:
    """CHAT_MODEL spans per stage span of a step trace, from the step's own ledger: rollouts
    of the train batch under `rollout`, of the selection split under `gate`."""
    usage = {stage: u["calls"] for stage, u in record["usage"].items()}
    batch = len(record["batch_ids"])
    expected = Counter(
        {
            "rollout": min(batch, usage.get("rollout", 0)),
            "reflect": usage.get("analyst", 0),
            "aggregate": usage.get("merge", 0),
            "select": usage.get("ranking", 0),
            "update": usage.get("rewrite", 0),
            "gate": usage.get("rollout", 0) - min(batch, usage.get("rollout", 0)),
        }
    )
    return +expected  # drop zeros


@pytest.fixture(scope="module")
def resumed_training(tmp_path_factory):
    """An offline training run stopped after step 2 and resumed to the end."""
    cwd = tmp_path_factory.mktemp("train-traces")
    first = run_reflect(cwd, "tracking=local", "fault.stop_after_step=2", out="t", app="train")
    assert first.returncode != 0
    second = run_reflect(cwd, "tracking=local", out="t", app="train")
    assert second.returncode == 0, second.output
    return cwd, second.out_dir


def test_training_traces_one_tree_per_step_and_epoch_end(resumed_training):
    cwd, out_dir = resumed_training
    run = run_of(cwd, out_dir)
    assert run.info.status == "FINISHED"
    traces = run_traces(store(cwd), run)
    names = [root(t).name for t in traces]
    summary = json.loads((out_dir / "summary.json").read_text())
    steps = summary["total_steps"]
    assert sorted(n for n in names if n.startswith("step_")) == [
        f"step_{s:04d}" for s in range(1, steps + 1)
    ]  # each step once, the resumed ones included
    assert names.count("baseline") == 1 and names.count("finish") == 1
    assert sorted(n for n in names if n.startswith("epoch_")) == ["epoch_01", "epoch_02"]
    for trace in traces:
        assert trace.info.tags["skillopt.job"] == "train"
        assert trace.info.state.value == "OK"
    for trace in traces:
        top = root(trace)
        if not top.name.startswith("step_"):
            continue
        record = json.loads((out_dir / "steps" / top.name / "step_record.json").read_text())
        stages = [s.name for s in trace.data.spans if s.parent_id == top.span_id]
        assert stages == [s for s in STEP_STAGES if s in stages]  # in loop order
        assert {"rollout", "reflect", "aggregate", "gate"} <= set(stages)
        assert stage_calls(trace) == expected_step_calls(record), top.name
    epoch_2 = next(t for t in traces if root(t).name == "epoch_02")
    assert [s.name for s in epoch_2.data.spans if s.parent_id == root(epoch_2).span_id] == [
        "rollout_prev",
        "rollout_curr",
        "meta_skill",
        "slow_update",
        "gate",
    ]
    # Every LLM call the run made (cache hits are not calls) is a CHAT_MODEL span.
    calls = sum(1 for t in traces for s in t.data.spans if s.span_type == "CHAT_MODEL")
    assert calls == run.data.metrics["llm.calls"]


def test_failed_calls_are_error_spans_and_open_traces_outlive_the_buffer_ttl(tmp_path):
    latency = 1.3  # each call: the trace stays open ~2.6 s, past a 1 s trace-buffer TTL
    failing = Reply(status=500, error_body={"error": {"message": "boom", "type": "server"}})
    with ChatServer(scripted([failing], then=offline_responder(latency_s=latency))) as server:
        run = run_reflect(
            tmp_path,
            "tracking=local",
            "model=openai",
            f"model.base_url={server.base_url}",
            f"model.api_key_env={KEY_ENV}",
            "model.max_retries=0",
            "reflect.workers=2",
            env={KEY_ENV: "sk-trace-test", "MLFLOW_TRACE_BUFFER_TTL_SECONDS": "1"},
        )
    assert run.returncode == 0, run.output
    mlflow_run = run_of(tmp_path, run.out_dir)
    assert mlflow_run.data.metrics["minibatches.failed"] == 1
    (trace,) = run_traces(store(tmp_path), mlflow_run)
    assert trace.info.execution_duration > 1000  # longer than the TTL
    calls = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    errors = [s for s in calls if s.status.status_code.value == "ERROR"]
    assert len(errors) == 1 and "500" in errors[0].status.description
    assert len(calls) == len(server.requests)  # every request the server saw, failed one too
    ok = [s for s in calls if s not in errors]
    assert len(ok) == mlflow_run.data.metrics["llm.calls"]
    assert all(s.inputs["messages"] and s.outputs["text"] for s in ok)


def test_reflect_trace_tree_matches_the_plan(tmp_path):
    run = run_reflect(tmp_path, "tracking=local", "reflect.minibatch_size=4")
    assert run.returncode == 0, run.output
    mlflow_run = run_of(tmp_path, run.out_dir)
    check_reflect_trace(run_traces(store(tmp_path), mlflow_run), mlflow_run, run.out_dir)
