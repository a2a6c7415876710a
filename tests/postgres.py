"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests (and benchmarks), stopped by its pid.

The Debian package's binaries (`/usr/lib/postgresql/<version>/bin`) create a cluster in a temp
directory that listens on 127.0.0.1 only, with its socket in that directory too. PostgreSQL
refuses to run as root; as root the cluster belongs to the `postgres` user and its commands run
through `runuser`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mlflow_server import free_port

USER = "skillopt"
DATABASE = "mlflow"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


@dataclass
class Postgres:
    """A running cluster: where it is and the SQLAlchemy URI of its `mlflow` database."""

    data_dir: Path
    port: int
    pid: int

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self, grace_s: float = 20.0) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL if it lingers."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _run(bindir: Path, *args: str, as_postgres: bool) -> None:
    command = [str(bindir / args[0]), *args[1:]]
    if as_postgres:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def start_postgres() -> Postgres:
    """Create a cluster in a new temp directory (trust auth, user `skillopt`, database
    `mlflow`) and start it. The directory is outside the caller's (private) temp folders, so
    the `postgres` user can reach it; `stop` removes it."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="skillopt-pg-"))
    os.chmod(root, 0o755)
    if as_postgres:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    _run(bindir, "initdb", "-D", str(data), "-U", USER, "--auth=trust", as_postgres=as_postgres)
    _run(
        bindir,
        "pg_ctl",
        "-D",
        str(data),
        "-l",
        str(root / "postgres.log"),
        "-o",
        f"-h 127.0.0.1 -p {port} -k {root}",
        "-w",
        "start",
        as_postgres=as_postgres,
    )
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    server = Postgres(data_dir=data, port=port, pid=pid)
    try:
        _run(
            bindir,
            "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            USER,
            DATABASE,
            as_postgres=as_postgres,
        )
    except RuntimeError:
        server.stop()
        raise
    return server
