"""Tracking against a real `mlflow server` process: a sweep logged over HTTP, and the local
default store read by a bare `mlflow server` started in the same directory."""

from __future__ import annotations

import itertools
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import CURATED_PARAMS, run_reflect, run_sweep
from tests.mlflow_server import MlflowServer, start_mlflow_server, start_sqlite_server
from tests.registry_checks import check_registered_skills
from tests.trace_checks import check_reflect_trace, run_traces

EXPERIMENT = "skillopt-reflect"
# Template syntax and CRLF: registered and fetched back byte for byte.
REGISTRY_SKILL = "# Skill\r\n\n- Answer {{value}} {{unit}}.\n- {% if date %}ISO dates{% endif %}.\n"
# No telemetry from the app's MLflow client either.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One team-style server for the module: SQLite backend, artifacts proxied by the server."""
    srv = start_sqlite_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield srv
    finally:
        srv.stop()


def _get(url: str, path: str, **query: str) -> dict[str, Any]:
    full = f"{url}{path}?{urllib.parse.urlencode(query)}" if query else f"{url}{path}"
    with urllib.request.urlopen(full, timeout=30) as resp:
        return json.loads(resp.read())


def _post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_sweep_against_a_tracking_server(server: MlflowServer, tmp_path: Path) -> None:
    import mlflow
    from mlflow.artifacts import download_artifacts

    run = run_sweep(
        tmp_path,
        "tracking=server",
        f"tracking.uri={server.url}",
        "reflect.minibatch_size=4,8",
        "reflect.update_mode=patch,rewrite_from_suggestions",
        env=QUIET_ENV,
    )
    assert run.returncode == 0, run.output
    assert "upload to" not in run.output  # no failed upload

    client = mlflow.MlflowClient(server.url)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [(r.info.run_name, r.data.tags) for r in runs]
    parent = parents[0]
    sweep_id = parent.data.tags["skillopt.sweep_id"]
    assert sweep_id == "sweep"  # the sweep dir's name
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["sweep.jobs"] == 4
    assert parent.data.metrics["sweep.jobs_failed"] == 0
    assert parent.data.metrics["sweep.jobs_killed"] == 0
    assert "hydra/multirun.yaml" in {
        a.path for a in client.list_artifacts(parent.info.run_id, "hydra")
    }

    children = sorted(
        (r for r in runs if r.info.run_id != parent.info.run_id),
        key=lambda r: int(r.data.tags["skillopt.job_num"]),
    )
    assert len(children) == 4
    assert [c.data.tags["skillopt.job_num"] for c in children] == ["0", "1", "2", "3"]
    combos = set()
    for child in children:
        run_id, tags, params = child.info.run_id, child.data.tags, child.data.params
        assert child.info.status == "FINISHED", tags.get("skillopt.error")
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["skillopt.sweep_id"] == sweep_id
        missing = [k for k in CURATED_PARAMS if k not in params]
        assert not missing, missing
        assert params["reflect.minibatch_size"] in {"4", "8"}
        assert params["reflect.update_mode"] in {"patch", "rewrite_from_suggestions"}
        combos.add((params["reflect.minibatch_size"], params["reflect.update_mode"]))
        assert params["reflect.failure_seed"] == params["reflect.seed"]
        assert int(params["reflect.success_seed"]) == int(params["reflect.seed"]) + 1
        assert params["model.backend"] == "offline"
        assert child.data.metrics["llm.calls"] > 0

        top = {a.path for a in client.list_artifacts(run_id)}
        for name in ("patches", "prompts", "trajectories", "llm_calls", "skill", "hydra", "tables"):
            assert name in top, (name, top)
        assert "summary.json" in top
        assert "skill/skill.md" in {a.path for a in client.list_artifacts(run_id, "skill")}
        assert "hydra/config.yaml" in {a.path for a in client.list_artifacts(run_id, "hydra")}
        assert "tables/minibatches.json" in {
            a.path for a in client.list_artifacts(run_id, "tables")
        }

        job_dir = run.out_dir / tags["skillopt.job_num"]
        local_patch = job_dir / "patches" / "minibatch_fail_000.json"
        assert local_patch.is_file()
        downloaded = download_artifacts(
            run_id=run_id,
            artifact_path="patches/minibatch_fail_000.json",
            dst_path=str(tmp_path / "downloads" / run_id),
            tracking_uri=server.url,
        )
        assert Path(downloaded).read_bytes() == local_patch.read_bytes()
        summary = json.loads(
            Path(
                download_artifacts(
                    run_id=run_id,
                    artifact_path="summary.json",
                    dst_path=str(tmp_path / "downloads" / run_id),
                    tracking_uri=server.url,
                )
            ).read_text()
        )
        assert summary["llm"]["calls"] == child.data.metrics["llm.calls"]

        check_reflect_trace(run_traces(server.url, child), child, job_dir)

    assert combos == set(itertools.product(("4", "8"), ("patch", "rewrite_from_suggestions")))


@pytest.mark.slow
def test_server_started_in_the_working_directory_lists_local_runs(tmp_path: Path) -> None:
    run = run_reflect(tmp_path, "tracking=local", out="out", env=QUIET_ENV)
    assert run.returncode == 0, run.output
    assert (tmp_path / "mlflow.db").is_file()
    assert (tmp_path / "mlruns").is_dir()

    server = start_mlflow_server(tmp_path)  # no store arguments: MLflow's defaults in tmp_path
    try:
        experiment = _get(
            server.url, "/api/2.0/mlflow/experiments/get-by-name", experiment_name=EXPERIMENT
        )["experiment"]
        found = _post(
            server.url,
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
        )
        runs = found.get("runs", [])
        assert len(runs) == 1, found
        info, data = runs[0]["info"], runs[0]["data"]
        assert info["status"] == "FINISHED"
        params = {p["key"]: p["value"] for p in data.get("params", [])}
        assert params["reflect.minibatch_size"] == "8"
        assert params["model.backend"] == "offline"
        missing = [k for k in CURATED_PARAMS if k not in params]
        assert not missing, missing
        metrics = {m["key"]: m["value"] for m in data.get("metrics", [])}
        assert metrics["llm.calls"] > 0
        tags = {t["key"]: t["value"] for t in data.get("tags", [])}
        assert tags["skillopt.output_dir"] == str(run.out_dir.resolve())
        assert "mlflow.parentRunId" not in tags

        # The artifacts went to ./mlruns, and the server lists them from there.
        mlruns = str((tmp_path / "mlruns").resolve())
        assert mlruns in urllib.parse.unquote(info["artifact_uri"]), info["artifact_uri"]
        listed = _get(server.url, "/api/2.0/mlflow/artifacts/list", run_id=info["run_id"])
        paths = {f["path"] for f in listed.get("files", [])}
        assert {"patches", "summary.json", "skill", "hydra"} <= paths, paths
    finally:
        server.stop()


@pytest.mark.slow
def test_registry_and_prompt_uris_through_a_tracking_server(
    server: MlflowServer, tmp_path: Path
) -> None:
    import mlflow

    skill = tmp_path / "skill.md"
    skill.write_bytes(REGISTRY_SKILL.encode("utf-8"))
    trained = run_reflect(
        tmp_path,
        "tracking=server",
        f"tracking.uri={server.url}",
        "registry.prompt=server-skill",
        f"env.skill_path={skill}",
        out="trained",
        env=QUIET_ENV,
        app="train",
    )
    assert trained.returncode == 0, trained.output
    client = mlflow.MlflowClient(server.url)
    run_id = json.loads((trained.out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]
    check_registered_skills(client, "server-skill", trained.out_dir, run_id)
    run = client.get_run(run_id)
    traces = run_traces(server.url, run)
    total = json.loads((trained.out_dir / "summary.json").read_text())["total_steps"]
    names = sorted(t.info.tags["mlflow.traceName"] for t in traces)
    assert [n for n in names if n.startswith("step_")] == [
        f"step_{s:04d}" for s in range(1, total + 1)
    ]
    calls = sum(1 for t in traces for s in t.data.spans if s.span_type == "CHAT_MODEL")
    assert calls == run.data.metrics["llm.calls"]

    reflect = run_reflect(
        tmp_path,
        "tracking=server",
        f"tracking.uri={server.url}",
        "data.skill_path=prompts:/server-skill/1",
        out="from-registry",
        env=QUIET_ENV,
    )
    assert reflect.returncode == 0, reflect.output
    assert (reflect.out_dir / "skill_source.md").read_bytes() == REGISTRY_SKILL.encode("utf-8")
    train = run_reflect(
        tmp_path,
        "tracking=server",
        f"tracking.uri={server.url}",
        "env.skill_path=prompts:/server-skill@best",
        "train.epochs=1",
        out="from-alias",
        env=QUIET_ENV,
        app="train",
    )
    assert train.returncode == 0, train.output
    best = client.get_prompt_version_by_alias("server-skill", "best")
    assert (train.out_dir / "skill_source.md").read_bytes() == best.template.encode("utf-8")
