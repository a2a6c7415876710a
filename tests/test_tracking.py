"""MLflow tracking end to end: real Hydra multiruns, real SQLite stores, real artifacts and traces.

Each sweep runs once per module (fixtures) and several tests read what it recorded.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from skillopt.testing import ChatServer, offline_responder
from tests.cli_helpers import (
    CURATED_PARAMS,
    REPO,
    all_runs,
    run_reflect,
    run_sweep,
    runs_by_name,
    split_runs,
)
from tests.trace_checks import check_reflect_trace, run_traces

LOCAL = "sqlite:///mlflow.db"


def uri(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'mlflow.db'}"


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("basic")
    run = run_sweep(
        cwd,
        "tracking=local",
        "reflect.minibatch_size=4,8",
        "reflect.update_mode=patch,rewrite_from_suggestions",
    )
    assert run.returncode == 0, run.output
    return cwd, run


def test_basic_sweep_has_one_parent_and_four_children(basic_sweep):
    cwd, _ = basic_sweep
    (parent,), children = split_runs(all_runs(uri(cwd)))
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["skillopt.sweep_id"] == "sweep"
    assert parent.data.metrics["sweep.jobs"] == 4 and parent.data.metrics["sweep.jobs_failed"] == 0
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.tags["skillopt.job_num"] for c in children) == ["0", "1", "2", "3"]
    assert all(
        c.info.status == "FINISHED" and c.data.tags["skillopt.sweep_id"] == "sweep"
        for c in children
    )
    combos = {
        (c.data.params["reflect.minibatch_size"], c.data.params["reflect.update_mode"])
        for c in children
    }
    assert combos == set(itertools.product(["4", "8"], ["patch", "rewrite_from_suggestions"]))
    for child in children:
        assert set(CURATED_PARAMS) <= set(child.data.params)
        assert child.data.params["reflect.success_seed"] == "43"
        overrides = json.loads(child.data.tags["skillopt.overrides"])
        assert f"reflect.minibatch_size={child.data.params['reflect.minibatch_size']}" in overrides
        for tag in [
            "skillopt.git_commit",
            "skillopt.git_dirty",
            "skillopt.version",
            "mlflow.note.content",
        ]:
            assert child.data.tags[tag], tag
    client = mlflow.MlflowClient(uri(cwd))
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "hydra")] == [
        "hydra/multirun.yaml"
    ]


def test_child_metrics_match_its_summary(basic_sweep):
    cwd, _ = basic_sweep
    _, children = split_runs(all_runs(uri(cwd)))
    for child in children:
        summary = json.loads(
            (cwd / "sweep" / child.data.tags["skillopt.job_num"] / "summary.json").read_text()
        )
        m = child.data.metrics
        assert m["trajectories.total"] == summary["trajectories"]["total"] == 28
        assert m["trajectories.skipped"] == 1
        assert m["minibatches.total"] == summary["minibatches"]["total"]
        assert m["minibatches.failed"] == 0 and m["minibatches.resumed"] == 0
        assert m["payload.items"] == summary["payload"]["items"] > 0
        key = summary["payload"]["key"]
        assert sum(v for k, v in m.items() if k.startswith(f"payload.{key}.")) == m["payload.items"]
        assert m["llm.calls"] == summary["llm"]["calls"] == summary["minibatches"]["total"]
        assert m["llm.prompt_tokens"] == summary["llm"]["prompt_tokens"]
        for name in [
            "llm.completion_tokens",
            "llm.cost_usd",
            "llm.retries",
            "llm.cache_hits",
            "llm.latency_p50_s",
            "llm.latency_max_s",
            "reflect.wall_s",
        ]:
            assert name in m, name


def test_child_artifacts_table_dataset_and_traces(basic_sweep):
    cwd, _ = basic_sweep
    _, children = split_runs(all_runs(uri(cwd)))
    client = mlflow.MlflowClient(uri(cwd))
    child = min(children, key=lambda c: c.data.tags["skillopt.job_num"])
    run_id, job_dir = child.info.run_id, cwd / "sweep" / child.data.tags["skillopt.job_num"]
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "patches",
        "prompts",
        "trajectories",
        "llm_calls",
        "summary.json",
        "skill",
        "hydra",
        "logs",
        "tables",
    } <= top
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, tracking_uri=uri(cwd), dst_path=str(cwd / "dl")
    )
    local = Path(local)
    for folder in ["patches", "prompts", "trajectories", "llm_calls"]:
        assert sorted(p.name for p in (local / folder).iterdir()) == sorted(
            p.name for p in (job_dir / folder).iterdir()
        )
    assert (local / "patches" / "minibatch_fail_000.json").read_bytes() == (
        job_dir / "patches" / "minibatch_fail_000.json"
    ).read_bytes()
    assert (local / "skill" / "skill.md").read_text().startswith("#")
    assert {p.name for p in (local / "hydra").iterdir()} == {
        "config.yaml",
        "hydra.yaml",
        "overrides.yaml",
    }
    assert (local / "logs" / "reflect.log").read_text().count("done:") == 1
    table = json.loads((local / "tables" / "minibatches.json").read_text())
    assert table["columns"] == [
        "minibatch",
        "kind",
        "ids",
        "items",
        "status",
        "payload_items",
        "prompt_tokens",
        "completion_tokens",
        "latency_s",
    ]
    summary = json.loads((job_dir / "summary.json").read_text())
    assert [row[0] for row in table["data"]] == [e["minibatch"] for e in summary["plan"]]
    assert [row[3] for row in table["data"]] == [len(e["ids"]) for e in summary["plan"]]
    (dataset_input,) = child.inputs.dataset_inputs
    assert dataset_input.dataset.name == "example-qa" and len(dataset_input.dataset.digest) == 16
    digests = {c.inputs.dataset_inputs[0].dataset.digest for c in children}
    assert len(digests) == 1  # same data, same digest
    check_reflect_trace(run_traces(uri(cwd), child), child, job_dir)


def test_default_store_is_mlflows_own(basic_sweep):
    cwd, _ = basic_sweep
    assert (cwd / "mlflow.db").is_file() and (cwd / "mlruns").is_dir()
    exp = mlflow.MlflowClient(uri(cwd)).get_experiment_by_name("skillopt-reflect")
    assert (
        Path(exp.artifact_location.removeprefix("file://")).resolve().parent
        == (cwd / "mlruns").resolve()
    )


@pytest.mark.slow
def test_joblib_sweep_gives_one_parent_and_four_children(tmp_path):
    run = run_sweep(
        tmp_path,
        "tracking=local",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "reflect.minibatch_size=4,8",
        "reflect.seed=1,2",
    )
    assert run.returncode == 0, run.output
    (parent,), children = split_runs(all_runs(uri(tmp_path)))
    assert parent.info.status == "FINISHED" and len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    combos = {
        (
            c.data.params["reflect.minibatch_size"],
            c.data.params["reflect.seed"],
            c.data.params["reflect.success_seed"],
        )
        for c in children
    }
    assert combos == {("4", "1", "2"), ("4", "2", "3"), ("8", "1", "2"), ("8", "2", "3")}
    assert all(c.info.status == "FINISHED" and c.data.metrics["llm.calls"] > 0 for c in children)


@pytest.mark.slow
def test_submitit_local_sweep_links_children_to_the_parent(tmp_path):
    run = run_sweep(
        tmp_path, "tracking=local", "hydra/launcher=submitit_local", "reflect.minibatch_size=4,8"
    )
    assert run.returncode == 0, run.output
    (parent,), children = split_runs(all_runs(uri(tmp_path)))
    assert len(children) == 2 and {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parent.info.run_id
    }
    assert sorted(c.data.params["reflect.minibatch_size"] for c in children) == ["4", "8"]
    assert parent.info.status == "FINISHED" and all(c.info.status == "FINISHED" for c in children)


def test_a_failing_job_fails_its_run_and_the_sweep_goes_on(tmp_path, example_rollout):
    skill = REPO / "skillopt" / "examples" / "qa" / "skill.md"
    broken = tmp_path / "missing"  # a rollout whose results.jsonl cannot be read: the job fails
    broken.mkdir()
    (broken / "results.jsonl").write_text("{not json\n")
    run = run_sweep(
        tmp_path,
        "tracking=local",
        "data=custom",
        f"data.skill_path={skill}",
        f"data.rollout_dir={example_rollout},{broken}",
        "reflect.seed=1,2",
    )
    assert run.returncode != 0  # Hydra reports the failed job after the sweep
    (parent,), children = split_runs(all_runs(uri(tmp_path)))
    statuses = sorted(
        (c.data.params["data.rollout_dir"].endswith("missing"), c.info.status) for c in children
    )
    assert statuses == [
        (False, "FINISHED"),
        (False, "FINISHED"),
        (True, "FAILED"),
        (True, "FAILED"),
    ]
    failed = [c for c in children if c.info.status == "FAILED"]
    assert all("results.jsonl:1: not valid JSON" in c.data.tags["skillopt.error"] for c in failed)
    assert parent.info.status == "FINISHED"
    assert (
        parent.data.tags["skillopt.failed_jobs"] == "2"
        and parent.data.metrics["sweep.jobs_failed"] == 2
    )


def test_single_run_resumes_its_run_and_a_changed_config_starts_a_new_one(tmp_path):
    first = run_reflect(tmp_path, "tracking=local")
    assert first.returncode == 0, first.output
    second = run_reflect(tmp_path, "tracking=local")
    assert second.returncode == 0, second.output
    runs = runs_by_name(uri(tmp_path))
    assert list(runs) == ["default"]
    (run,) = runs.values()
    assert run.info.status == "FINISHED"
    assert run.data.metrics["minibatches.resumed"] == 4 and run.data.metrics["llm.cache_hits"] == 4
    history = mlflow.MlflowClient(uri(tmp_path)).get_metric_history(run.info.run_id, "llm.calls")
    assert [m.value for m in history] == [4.0, 0.0]
    recorded = json.loads((first.out_dir / ".skillopt" / "mlflow_run.json").read_text())
    assert recorded["run_id"] == run.info.run_id
    third = run_reflect(tmp_path, "tracking=local", "reflect.minibatch_size=4")
    assert third.returncode == 0, third.output
    assert "config changed since the last attempt" in third.output
    assert len(runs_by_name(uri(tmp_path))) == 2


def test_replay_reproduces_patches_byte_for_byte(tmp_path):
    original = run_reflect(tmp_path, "tracking=local", "reflect.update_mode=rewrite", out="orig")
    assert original.returncode == 0, original.output
    run_id = json.loads((original.out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]
    replay = run_reflect(
        tmp_path,
        "tracking=local",
        "reflect.update_mode=rewrite",
        "model=replay",
        f"model.run_id={run_id}",
        out="replay",
    )
    assert replay.returncode == 0, replay.output
    patches = sorted(p.name for p in (original.out_dir / "patches").iterdir())
    assert patches == sorted(p.name for p in (replay.out_dir / "patches").iterdir()) and patches
    for name in patches:
        assert (original.out_dir / "patches" / name).read_bytes() == (
            replay.out_dir / "patches" / name
        ).read_bytes()
    runs = mlflow.MlflowClient(uri(tmp_path)).search_runs(
        [
            mlflow.MlflowClient(uri(tmp_path))
            .get_experiment_by_name("skillopt-reflect")
            .experiment_id
        ],
        filter_string=f"tags.skillopt.replay_of = '{run_id}'",
    )
    assert len(runs) == 1 and runs[0].data.params["model.backend"] == "replay"
    # A request the original run never made is an error naming its hash.
    other = run_reflect(
        tmp_path,
        "tracking=local",
        "reflect.update_mode=rewrite",
        "reflect.minibatch_size=5",
        "model=replay",
        f"model.run_id={run_id}",
        out="other",
    )
    assert other.returncode == 0, other.output
    failed = json.loads((other.out_dir / "summary.json").read_text())["failed_minibatches"]
    assert failed and all(
        f["reason"] == "llm_error" and "no recorded call of run" in f["error"] for f in failed
    )
    assert all(len(f["error"].rsplit("request ", 1)[1]) == 64 for f in failed)


def test_secrets_never_reach_the_store_artifacts_outputs_or_logs(tmp_path):
    canary, canary2 = "sk-CANARY-7f3a9c", "CANARY-OVERRIDE-55e1"
    with ChatServer(offline_responder()) as server:
        run = run_reflect(
            tmp_path,
            "tracking=local",
            "model=openai",
            f"model.base_url={server.base_url}",
            "model.json_schema=true",
            env={"OPENAI_API_KEY": canary},
        )
        assert run.returncode == 0, run.output
        assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
        # a key given on the command line is refused, and its value is not repeated
        refused = run_reflect(
            tmp_path, "tracking=local", f"+model.api_key={canary2}", out="refused"
        )
        assert refused.returncode == 1 and refused.output.count("\n") == 1, refused.output
        assert "model.api_key=***redacted***: no such key" in refused.output
        assert not refused.out_dir.exists()
    assert canary not in run.output and canary2 not in refused.output
    scanned = 0
    for root in [tmp_path / "mlflow.db", tmp_path / "mlruns", run.out_dir]:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            data = path.read_bytes()
            assert canary.encode() not in data and canary2.encode() not in data, path
            scanned += 1
    assert scanned > 20


@pytest.mark.slow
def test_ctrl_c_ends_the_run_killed(tmp_path):
    with ChatServer(offline_responder(latency_s=3.0)) as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skillopt.cli.reflect",
                "hydra.run.dir=out",
                "tracking=local",
                "model=openai",
                f"model.base_url={server.base_url}",
                "model.max_retries=0",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 60
        while server.request_count == 0 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert server.request_count > 0
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    (run,) = all_runs(uri(tmp_path))
    assert run.info.status == "KILLED", output
    assert run.data.tags["skillopt.error"] == "interrupted before the job finished"
