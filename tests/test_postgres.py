"""A team's tracking server, for real: `mlflow server` on a throwaway PostgreSQL cluster with
proxied artifacts, a joblib training sweep against it (the server killed and restarted while
the sweep runs), `skillopt-sync` afterwards, and the report built from the server.

Select with `pytest -k postgres`. PostgreSQL must be installed (`.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.cli_helpers import REPO
from tests.mlflow_server import MlflowServer, start_mlflow_server
from tests.postgres import Postgres, start_postgres
from tests.run_checks import artifact_files
from tests.trace_checks import run_traces

JOBS = 8
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true"}


def server_args(pg: Postgres, root: Path) -> list[str]:
    return [
        "--backend-store-uri",
        pg.uri,
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
    ]


@pytest.fixture(scope="module")
def team_server(tmp_path_factory) -> Iterator[tuple[Postgres, Path]]:
    pg = start_postgres()
    try:
        yield pg, tmp_path_factory.mktemp("team-server")
    finally:
        pg.stop()


def run_cli(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **QUIET},
        capture_output=True,
        text=True,
        timeout=600,
    )


def tracked_jobs(sweep_dir: Path) -> int:
    """Jobs whose run exists in the store already."""
    return sum(
        1
        for f in sweep_dir.glob("*/.skillopt/mlflow_run.json")
        if json.loads(f.read_text()).get("run_id")
    )


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


@pytest.mark.slow
def test_postgres_team_server_joblib_sweep_restart_and_sync(team_server, tmp_path):
    pg, root = team_server
    server: MlflowServer = start_mlflow_server(root, store_args=server_args(pg, root))
    port = int(server.url.rsplit(":", 1)[1])
    try:
        sweep = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skillopt.cli.train",
                "-m",
                "hydra.sweep.dir=sweep",
                "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=4",
                "train.epochs=1",
                f"train.seed={','.join(str(s) for s in range(1, JOBS + 1))}",
                "tracking=server",
                f"tracking.uri={server.url}",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), **QUIET},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        sweep_dir = tmp_path / "sweep"
        deadline = time.monotonic() + 300
        while tracked_jobs(sweep_dir) < 2 and sweep.poll() is None:
            assert time.monotonic() < deadline, "no job started tracking"
            time.sleep(0.2)
        assert sweep.poll() is None, "the sweep ended before the server could be restarted"
        server.stop()  # killed under the running sweep ...
        server = start_mlflow_server(root, store_args=server_args(pg, root), port=port)  # ... back
        output, _ = sweep.communicate(timeout=600)
        if sweep.returncode != 0:  # jobs that ended while it was away say how to complete them
            assert "skillopt-sync" in output and "tracking to" in output, output[-3000:]

        synced = run_cli(tmp_path, "skillopt.cli.sync", "sweep")
        assert synced.returncode == 0, synced.stdout + synced.stderr

        client = mlflow.MlflowClient(server.url)
        experiments = [e for e in client.search_experiments() if e.name == "skillopt-train"]
        assert len(experiments) == 1
        (experiment,) = experiments
        runs = client.search_runs([experiment.experiment_id], max_results=100)
        (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in runs if r.info.run_id != parent.info.run_id]
        assert len(children) == JOBS
        assert parent.info.status == "FINISHED" and parent.data.metrics["sweep.jobs"] == JOBS
        # The launching process created the experiment before any worker started a job.
        assert experiment.creation_time <= min(c.info.start_time for c in children)
        assert parent.info.start_time <= min(c.info.start_time for c in children)
        for child in children:
            assert child.info.status == "FINISHED", child.data.tags.get("skillopt.error")
            assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
            job_dir = sweep_dir / child.data.tags["skillopt.job_num"]
            progress = json.loads((job_dir / ".skillopt" / "mlflow_run.json").read_text())
            assert progress["complete"] and progress["run_id"] == child.info.run_id
            # Nothing lost: every metric batch, span, trace and output file is in the store.
            batches = journal_lines(job_dir / ".skillopt" / "metrics.jsonl")
            steps = sorted({b["step"] for b in batches if "gate.score" in b["metrics"]})
            history = client.get_metric_history(child.info.run_id, "gate.score")
            assert sorted(m.step for m in history) == steps
            records = journal_lines(job_dir / ".skillopt" / "spans.jsonl")
            traces = run_traces(server.url, child)
            assert len(traces) == sum(r["type"] == "trace" for r in records)
            assert sum(len(t.data.spans) for t in traces) == sum(
                r["type"] == "span" for r in records
            )
            stored = set(artifact_files(client, child.info.run_id))
            for folder in ("skills", "steps"):
                local = {
                    p.relative_to(job_dir).as_posix()
                    for p in (job_dir / folder).rglob("*")
                    if p.is_file() and not p.name.startswith(".")
                }
                assert local and local <= stored, sorted(local - stored)[:5]

        report = run_cli(
            tmp_path,
            "skillopt.cli.report",
            "--tracking-uri",
            server.url,
            "--sweep",
            "sweep",
            "--out",
            str(tmp_path / "report"),
        )
        assert report.returncode == 0, report.stdout + report.stderr
        built = json.loads((tmp_path / "report" / "report.json").read_text())
        assert len(built["training"]["runs"]) == JOBS
    finally:
        server.stop()
