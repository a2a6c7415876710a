"""Is the tracking store usable? Asked once, before any job starts and before any LLM call.

A tracking server gets one request to its REST API (the experiment by name) with MLflow's own
credentials (`MLFLOW_TRACKING_TOKEN`, or `MLFLOW_TRACKING_USERNAME`/`PASSWORD`) and TLS settings
(`MLFLOW_TRACKING_INSECURE_TLS`, `MLFLOW_TRACKING_SERVER_CERT_PATH`), under a hard deadline:
a refused connection, an unknown host, a server that never answers, a 401/403 or a TLS error
is one sentence naming the cause. A SQLite store's folder must exist and be writable, and
its file be a SQLite database; a database URI (PostgreSQL, MySQL, SQL Server) needs its driver
installed and its server accepting connections; a URI scheme no store is registered for is
refused. No MLflow import: the check costs milliseconds (a database URI imports SQLAlchemy to
find its driver), not MLflow's start-up.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

DEADLINE_S = 12.0  # the whole check, DNS included
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # SQLAlchemy dialects


def _headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def _tls() -> ssl.SSLContext:
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))


def _cause(exc: BaseException, timeout_s: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: is the server running, on that host and port?"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror or reason})"
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return f"TLS error ({getattr(reason, 'reason', None) or reason})"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout_s:g} s"
    return f"cannot connect ({reason})"


def _ask_server(uri: str, experiment: str, timeout_s: float) -> str | None:
    query = urllib.parse.urlencode({"experiment_name": experiment})
    parts = urllib.parse.urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]  # a user name in the URI is not urllib's to read
    base = parts._replace(netloc=host).geturl().rstrip("/")
    url = f"{base}/api/2.0/mlflow/experiments/get-by-name?{query}"
    request = urllib.request.Request(url, headers=_headers())
    context = _tls() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            given = "the credentials given" if _headers() else "no credentials"
            return (
                f"the server refused {given} (HTTP {exc.code}); set MLFLOW_TRACKING_TOKEN, or "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            )
        if exc.code == 404:
            try:
                body = json.loads(exc.read() or b"{}")
            except (json.JSONDecodeError, OSError):
                body = {}
            if body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
                return None  # a server that does not have the experiment yet
            return "HTTP 404: no MLflow tracking API there (is it the server's root URL?)"
        return f"the server answered HTTP {exc.code} ({exc.reason})"
    except (urllib.error.URLError, OSError) as exc:
        return _cause(exc, timeout_s)


def _check_sqlite(uri: str) -> str | None:
    path = Path(uri.removeprefix("sqlite:///"))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"cannot write to {path}"
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return f"{path} is not a SQLite database"
    return None


def _check_database(uri: str, port: int, timeout_s: float) -> str | None:
    """The URI's database driver must be installed, and its server must accept a connection
    on its host and port (the login is MLflow's to check; a URI without a host, a local Unix
    socket, is left to MLflow)."""
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        return (
            f"its database driver is not installed ({exc}; for PostgreSQL: psycopg2-binary "
            "and postgresql+psycopg2://)"
        )
    except ArgumentError as exc:
        return f"not a database URI SQLAlchemy can use ({exc})"
    parts = urllib.parse.urlsplit(uri)
    if not parts.hostname:
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port or port), timeout=timeout_s):
            return None
    except OSError as exc:
        return _cause(exc, timeout_s)


def _plugin_schemes() -> set[str]:
    """URI schemes that installed MLflow plugins register tracking stores for."""
    return {e.name for e in importlib.metadata.entry_points(group="mlflow.tracking_store")}


def check_store(uri: str, *, experiment: str, timeout_s: float) -> str | None:
    """None if the store at `uri` can be used; else why not, in one sentence."""
    scheme = urllib.parse.urlsplit(uri).scheme
    base = scheme.split("+", 1)[0]  # postgresql+psycopg2: the dialect, then its driver
    if scheme == "sqlite":
        return _check_sqlite(uri)
    if base in DATABASE_PORTS:
        port = DATABASE_PORTS[base]
        return _bounded(lambda: _check_database(uri, port, min(timeout_s, DEADLINE_S)))
    if (
        scheme in ("", "file", "uc")
        or scheme.startswith("databricks")
        or scheme in _plugin_schemes()
    ):
        return None  # a local folder, or a store MLflow (or its plugin) checks itself
    if scheme not in ("http", "https"):
        return (
            f"no tracking store for the scheme '{scheme}://' (expected http(s)://, sqlite:///, "
            "postgresql://, mysql://, mssql://, file:// or a folder)"
        )
    return _bounded(lambda: _ask_server(uri, experiment, min(timeout_s, DEADLINE_S)))


def _bounded(check: Callable[[], str | None]) -> str | None:
    """The check's answer, or a timeout if it (DNS included) takes longer than the deadline."""
    found: list[str | None] = []
    worker = threading.Thread(target=lambda: found.append(check()), daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    if not found:
        return f"no answer within {DEADLINE_S:g} s"
    return found[0]
