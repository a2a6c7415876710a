"""`skillopt-sync`: runs made with tracking off, uploaded afterwards, equal runs tracked live
(params, metrics with their step histories, artifact files, dataset, span counts, registry
versions); syncing twice changes nothing; a sweep's jobs are attached to a parent run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from tests.cli_helpers import REPO, run_reflect, run_sweep
from tests.run_checks import artifact_files, assert_same_run, run_of
from tests.trace_checks import run_traces

PROMPT = "synced-skill"


def store(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'mlflow.db'}"


def sync(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skillopt.cli.sync", *args],
        cwd=cwd,
        env={
            **{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
            "PYTHONPATH": str(REPO),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_untracked_reflect_job_synced_later_equals_a_tracked_one(tmp_path):
    live = run_reflect(tmp_path, "tracking=local", out="live")
    offline = run_reflect(tmp_path, "tracking=off", out="offline")
    assert live.returncode == 0 and offline.returncode == 0, live.output + offline.output
    assert not (offline.out_dir / ".skillopt" / "mlflow_run.json").exists()

    first = sync(tmp_path, "offline", "--tracking-uri", "sqlite:///mlflow.db")
    assert first.returncode == 0, first.stderr
    assert "complete (" in first.stdout
    client = mlflow.MlflowClient(store(tmp_path))
    synced = run_of(client, offline.out_dir)
    assert synced.info.status == "FINISHED"
    assert_same_run(client, run_of(client, live.out_dir), synced, store(tmp_path))

    runs_before = len(client.search_runs([synced.info.experiment_id]))
    history = client.get_metric_history(synced.info.run_id, "llm.calls")
    again = sync(tmp_path, "offline")  # the store it was synced to is remembered
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stdout
    assert len(client.search_runs([synced.info.experiment_id])) == runs_before
    assert client.get_metric_history(synced.info.run_id, "llm.calls") == history
    assert client.get_run(synced.info.run_id).info.end_time == synced.info.end_time


@pytest.mark.slow
def test_an_untracked_training_run_synced_later_equals_a_tracked_one(tmp_path):
    registry = f"registry.prompt={PROMPT}"
    live = run_reflect(tmp_path, "tracking=local", registry, out="live", app="train")
    offline = run_reflect(tmp_path, "tracking=off", registry, out="offline", app="train")
    assert live.returncode == 0 and offline.returncode == 0, live.output + offline.output
    done = sync(tmp_path, "offline", "--tracking-uri", "sqlite:///mlflow.db")
    assert done.returncode == 0, done.stderr
    client = mlflow.MlflowClient(store(tmp_path))
    tracked, synced = run_of(client, live.out_dir), run_of(client, offline.out_dir)
    assert_same_run(client, tracked, synced, store(tmp_path))
    for key in ("selection.hard", "gate.score", "llm.cost_usd"):
        steps = [m.step for m in client.get_metric_history(synced.info.run_id, key)]
        assert steps == [m.step for m in client.get_metric_history(tracked.info.run_id, key)]
        assert len(steps) > 2, key
    # Both runs trained the same skills: the synced run registered nothing new, and linked
    # the versions the live run had registered.
    linked = json.loads(synced.data.tags["mlflow.linkedPrompts"])
    assert linked == json.loads(tracked.data.tags["mlflow.linkedPrompts"])
    best = client.get_prompt_version_by_alias(PROMPT, "best")
    assert best.template == (offline.out_dir / "best_skill.md").read_text()


def test_a_sweep_synced_later_has_its_parent(tmp_path):
    run = run_sweep(tmp_path, "tracking=off", "reflect.minibatch_size=4,8")
    assert run.returncode == 0, run.output
    done = sync(tmp_path, "sweep", "--tracking-uri", "sqlite:///mlflow.db")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("complete (") == 2
    client = mlflow.MlflowClient(store(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("skillopt-reflect").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r is not parent]
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep.jobs"] == 2
    assert parent.data.tags["skillopt.sweep_id"] == "sweep"
    for child in children:
        assert child.data.tags["skillopt.sweep_id"] == "sweep"
        assert artifact_files(client, child.info.run_id)
        (trace,) = run_traces(store(tmp_path), child)
        assert trace.info.tags["skillopt.job_num"] == child.data.tags["skillopt.job_num"]
    again = sync(tmp_path, "sweep")
    assert again.returncode == 0 and again.stdout.count("already complete") == 2
    assert len(client.search_runs([parent.info.experiment_id])) == 3


def test_sync_refuses_what_it_cannot_sync(tmp_path):
    not_a_run = sync(tmp_path, str(tmp_path), "--tracking-uri", "sqlite:///mlflow.db")
    assert not_a_run.returncode == 1
    assert "neither a job's output directory nor a sweep directory" in not_a_run.stderr
    untracked = run_reflect(tmp_path, "tracking=off", out="o")
    assert untracked.returncode == 0, untracked.output
    no_store = sync(tmp_path, "o")
    assert no_store.returncode == 1 and "give the store with --tracking-uri" in no_store.stderr
