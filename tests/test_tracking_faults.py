"""A tracking server that is down, hung, refusing or lost never hangs a job or loses a result.

Real faults against real processes: a closed port, an unknown host, a socket that accepts and
never answers, MLflow's basic-auth app refusing credentials, and a real `mlflow server` killed
(or replaced by a hung socket) while a reflect job runs. Each checks the time bound, the one
line, the exit status, the outputs, and that `skillopt-sync` then makes the run equal to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from skillopt.testing import ChatServer, offline_responder
from tests.cli_helpers import REPO, run_reflect
from tests.mlflow_server import free_port, start_sqlite_server
from tests.run_checks import assert_same_run, run_of

KEY_ENV = "SKILLOPT_FAULT_TEST_KEY"
PREFLIGHT_BOUND_S = 15.0
AFTER_WORK_BOUND_S = 60.0
ADMIN_PASSWORD = "skillopt-admin-pw-42"


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": error:" in line]


@pytest.fixture
def hung_socket() -> Iterator[str]:
    """A URL whose server accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def check_refused_before_any_work(run, elapsed: float, uri: str, cause: str) -> None:
    assert run.returncode == 1, run.output
    assert elapsed < PREFLIGHT_BOUND_S, elapsed
    (line,) = error_lines(run.output)
    assert f"tracking.uri={uri}" in line and cause in line, line
    assert not (run.out_dir / "llm_calls").exists()


@pytest.mark.parametrize(
    ("kind", "cause"),
    [("closed", "connection refused"), ("unknown host", "cannot resolve the host")],
)
def test_an_unreachable_server_is_one_line_before_any_work(tmp_path, kind, cause):
    uri = (
        f"http://127.0.0.1:{free_port()}"
        if kind == "closed"
        else "http://no-such-host.invalid:5000"
    )
    started = time.monotonic()
    run = run_reflect(tmp_path, "tracking=server", f"tracking.uri={uri}")
    check_refused_before_any_work(run, time.monotonic() - started, uri, cause)


@pytest.mark.parametrize(
    ("uri", "cause"),
    [
        ("htpp://127.0.0.1:5000", "no tracking store for the scheme 'htpp://'"),
        (f"postgresql+psycopg2://u@127.0.0.1:{free_port()}/mlflow", "connection refused"),
        ("postgresql+psycopg2://u@no-such-host.invalid/mlflow", "cannot resolve the host"),
        ("postgresql+nosuch://u@127.0.0.1/mlflow", "not a database URI SQLAlchemy can use"),
        ("sqlite:///not-a-db.txt", "not-a-db.txt is not a SQLite database"),
        (f"http://someone@127.0.0.1:{free_port()}", "connection refused"),
    ],
    ids=["scheme", "database port", "database host", "driver", "sqlite file", "user in the URI"],
)
def test_a_store_that_cannot_be_used_is_one_line_before_any_work(tmp_path, uri, cause):
    (tmp_path / "not-a-db.txt").write_text("notes, not a database\n")
    started = time.monotonic()
    run = run_reflect(tmp_path, "tracking=server", f"tracking.uri={uri}")
    check_refused_before_any_work(run, time.monotonic() - started, uri, cause)


def test_a_server_that_never_answers_is_one_line_within_the_bound(tmp_path, hung_socket):
    started = time.monotonic()
    run = run_reflect(tmp_path, "tracking=server", f"tracking.uri={hung_socket}")
    check_refused_before_any_work(run, time.monotonic() - started, hung_socket, "no answer")


@pytest.mark.slow
def test_refused_credentials_are_one_line_and_good_ones_never_leak(tmp_path):
    root = tmp_path / "auth-server"
    root.mkdir()
    server = start_sqlite_server(
        root,
        extra=["--app-name", "basic-auth"],
        env={
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "skillopt-test-csrf-key",
        },
    )
    try:
        wrong = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "wrong"}
        started = time.monotonic()
        refused = run_reflect(
            tmp_path, "tracking=server", f"tracking.uri={server.url}", out="refused", env=wrong
        )
        check_refused_before_any_work(refused, time.monotonic() - started, server.url, "HTTP 401")
        good = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
        ok = run_reflect(
            tmp_path, "tracking=server", f"tracking.uri={server.url}", out="ok", env=good
        )
        assert ok.returncode == 0, ok.output
        assert ADMIN_PASSWORD not in ok.output
        for path in ok.out_dir.rglob("*"):
            if path.is_file():
                assert ADMIN_PASSWORD.encode() not in path.read_bytes(), path
        os.environ.update(good)
        try:
            run = run_of(mlflow.MlflowClient(server.url), ok.out_dir)
        finally:
            for key in good:
                os.environ.pop(key)
        assert run.info.status == "FINISHED"
        assert ADMIN_PASSWORD not in json.dumps([run.data.params, run.data.tags])
    finally:
        server.stop()


def launch_reflect(cwd: Path, out: str, *overrides: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "skillopt.cli.reflect", f"hydra.run.dir={out}", *overrides],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_run(out_dir: Path, timeout_s: float = 60.0) -> None:
    """Until the job's run exists in the store (its id is in the output directory)."""
    deadline = time.monotonic() + timeout_s
    progress = out_dir / ".skillopt" / "mlflow_run.json"
    while time.monotonic() < deadline:
        if progress.is_file() and json.loads(progress.read_text()).get("run_id"):
            return
        time.sleep(0.1)
    raise AssertionError(f"no run recorded in {progress}")


def sync(cwd: Path, out_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skillopt.cli.sync", str(out_dir), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_store_mlflow_cannot_open_is_one_line_and_loses_nothing(tmp_path):
    """A SQLite store at a schema revision this MLflow does not know (another MLflow's store,
    say) passes the preflight, which does not import MLflow; the tracking agent cannot open
    it. The job's work is whole, its one line names the cause, and a sync into a good store
    completes the run."""
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('0123456789ab')")
        db.commit()
    run = run_reflect(tmp_path, "tracking=local", "tracking.flush_timeout_s=20")
    assert run.returncode == 1, run.output
    assert "Traceback" not in run.output, run.output
    (line,) = error_lines(run.output)
    assert "Can't locate revision identified by '0123456789ab'" in line, line
    assert f"skillopt-sync {run.out_dir}" in line, line
    summary = json.loads((run.out_dir / "summary.json").read_text())
    assert summary["minibatches"]["ok"] == summary["minibatches"]["total"] > 0

    good = f"sqlite:///{tmp_path / 'good.db'}"
    done = sync(tmp_path, run.out_dir, "--tracking-uri", good)
    assert done.returncode == 0, done.stdout + done.stderr
    synced = run_of(mlflow.MlflowClient(good), run.out_dir)
    assert synced.info.status == "FINISHED"
    assert synced.data.metrics["minibatches.total"] == summary["minibatches"]["total"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_server_lost_mid_job_loses_nothing(tmp_path, fault):
    root = tmp_path / "server"
    root.mkdir()
    server = start_sqlite_server(root)
    port = int(server.url.rsplit(":", 1)[1])
    chat = ChatServer(offline_responder(latency_s=1.5)).start()
    env = {KEY_ENV: "sk-fault-test", "MLFLOW_DISABLE_TELEMETRY": "true"}
    job = [
        "tracking=server",
        f"tracking.uri={server.url}",
        "tracking.timeout_s=3",
        "tracking.max_retries=1",
        "tracking.flush_timeout_s=10",
        "model=openai",
        f"model.base_url={chat.base_url}",
        f"model.api_key_env={KEY_ENV}",
        "reflect.workers=1",
    ]
    hang: socket.socket | None = None
    try:
        proc = launch_reflect(tmp_path, "lost", *job, env=env)
        out_dir = tmp_path / "lost"
        wait_for_run(out_dir)
        server.stop()  # killed while the job still has calls to make
        if fault == "hung":
            hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            hang.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hang.bind(("127.0.0.1", port))
            hang.listen(16)
        output, _ = proc.communicate(timeout=300)
        ended = time.time()
        work_done = (out_dir / "summary.json").stat().st_mtime
        assert proc.returncode == 1, output
        assert ended - work_done < AFTER_WORK_BOUND_S, ended - work_done
        (line,) = error_lines(output)
        assert f"the results are complete in {out_dir.name}" in line or str(out_dir) in line
        assert f"tracking to {server.url} is not" in line and "skillopt-sync" in line, line
        summary = json.loads((out_dir / "summary.json").read_text())
        assert summary["minibatches"]["ok"] == summary["minibatches"]["total"] == 4
        assert len(list((out_dir / "patches").iterdir())) == 4

        if hang is not None:
            hang.close()
            hang = None
        server = start_sqlite_server(root, port=port)  # back, same store
        done = sync(tmp_path, out_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        reference = run_reflect(tmp_path, *job, out="uninterrupted", env=env)
        assert reference.returncode == 0, reference.output
        client = mlflow.MlflowClient(server.url)
        synced = run_of(client, out_dir)
        assert synced.info.status == "FINISHED"
        assert_same_run(client, run_of(client, reference.out_dir), synced, server.url)
    finally:
        if hang is not None:
            hang.close()
        chat.stop()
        server.stop()
