"""A real `mlflow server` on 127.0.0.1 for tests, started as a subprocess and stopped by its pid.

The server runs one uvicorn worker, with MLflow's job runner (huey consumers) and telemetry off,
so it starts in a few seconds and leaves nothing behind. Its stdout and stderr go to a log file
in the working directory, quoted in the error when it does not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0

# Set for the server process: no job execution (it would start a huey consumer per job type and
# periodic tasks), no telemetry, unbuffered output for the log file.
SERVER_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PYTHONUNBUFFERED": "1",
}
# Inherited variables that would point the server (or its workers) somewhere else.
CLEARED_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED")


class MlflowServerError(RuntimeError):
    """The server exited or did not answer /health in time."""


@dataclass
class MlflowServer:
    """A running `mlflow server`: its base URL, the pid of the `mlflow server` process (also its
    process group id, which holds the uvicorn worker), the Popen handle and the log file."""

    url: str
    pid: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the server's process group, SIGKILL whatever is left after `grace_s`.

        Idempotent; the group is addressed by the server's pid (it is the group leader), so only
        processes this server started are signalled.
        """
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=grace_s)
        # The leader is gone; its uvicorn worker may still be shutting down.
        deadline = time.monotonic() + grace_s
        while _group_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(self.pid):
            _signal_group(self.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mlflow_server(
    cwd: Path,
    *,
    store_args: list[str] | None = None,
    port: int | None = None,
    timeout_s: float = START_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> MlflowServer:
    """Start `mlflow server` in `cwd` and return once `GET /health` answers 200.

    `store_args` (e.g. `["--backend-store-uri", "sqlite:///...", "--artifacts-destination",
    "..."]`) are passed through; without them the server uses MLflow's defaults relative to
    `cwd`. A free port is picked when `port` is None (and picked again if it was taken meanwhile).
    `env` adds variables for the server (e.g. the basic-auth app's admin password).
    """
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        server = _launch(cwd, store_args or [], port or free_port(), env or {})
        try:
            _wait_healthy(server, timeout_s)
            return server
        except MlflowServerError:
            server.stop()
            if attempt + 1 < attempts and "address already in use" in server.log().lower():
                continue
            raise
    raise AssertionError("unreachable")


def start_sqlite_server(
    root: Path, port: int | None = None, extra: tuple[str, ...] | list[str] = (), **kwargs
) -> MlflowServer:
    """A server on a SQLite store in `root`, artifacts proxied (the same store after a restart)."""
    return start_mlflow_server(
        root,
        store_args=[
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            *extra,
        ],
        port=port,
        **kwargs,
    )


def _launch(cwd: Path, store_args: list[str], port: int, extra_env: dict[str, str]) -> MlflowServer:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(SERVER_ENV)
    env.update(extra_env)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *store_args,
    ]
    cwd = Path(cwd).resolve()
    log_path = cwd / f"mlflow-server-{port}.log"
    with open(log_path, "wb") as log_file:  # the child keeps its own descriptor
        log_file.write(("$ " + " ".join(cmd) + f"\n(cwd {cwd})\n").encode())
        log_file.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches the uvicorn worker too
        )
    return MlflowServer(url=f"http://127.0.0.1:{port}", pid=proc.pid, proc=proc, log_path=log_path)


def _wait_healthy(server: MlflowServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = server.proc.poll()
        if code is not None:
            raise MlflowServerError(
                f"mlflow server exited with code {code} before answering /health; "
                f"log {server.log_path}:\n{server.log()[-5000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise MlflowServerError(
                f"mlflow server did not answer {server.url}/health within {timeout_s:.0f} s; "
                f"log {server.log_path}:\n{server.log()[-5000:]}"
            )
        time.sleep(0.25)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
