"""`ChatServer`: a small, real OpenAI-compatible chat-completions server on 127.0.0.1.

Why a real HTTP server rather than a mocked transport: the official `openai` SDK then runs its
own code end to end (request building, retries with `Retry-After`, timeouts, error mapping), so
tests see exactly what production sees. Behaviour is scripted per request with a responder
(`skillopt.testing.responders`) that returns a `Reply` (status, text, headers, delay, error body).

It is built on the standard library only: `ThreadingHTTPServer` answers every connection on its
own thread, so concurrent requests are not serialized (a fixed latency of 0.5 s over 16 parallel
requests takes about 0.5 s of wall time), and HTTP/1.1 keep-alive lets the SDK reuse connections.

Routes: `POST /v1/chat/completions` (and `/chat/completions`), the Azure OpenAI form
`POST /openai/deployments/<deployment>/chat/completions?api-version=<v>` answered the same way
(the deployment and query are recorded), and `GET /health`. Like Azure, an Azure-route request
without an `api-version` query is refused with 400, and one with neither an `api-key` nor an
`Authorization` header with 401 (both are recorded first). `spawn` runs the server in a process
of its own through the command line in `skillopt.testing.openai_server`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from skillopt.testing.responders import fixed_latency
from skillopt.testing.wire import (
    RecordedRequest,
    Responder,
    answering,
    error_body,
    reply_body,
)

HOST = "127.0.0.1"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)(/.*)$")
CLI_MODULE = "skillopt.testing.openai_server"


def chat_route(path: str) -> tuple[bool, str | None]:
    """(is `path` a chat-completions route, the Azure deployment it names or None)."""
    azure = AZURE_PATH.match(path)
    if azure is not None:
        return azure.group(2) == "/chat/completions", unquote(azure.group(1))
    return path in CHAT_PATHS, None


class _Server(ThreadingHTTPServer):
    """One thread per connection; daemon threads, and close() does not wait for slow handlers."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # listen backlog: bursts of parallel connects must not be reset

    def __init__(self, owner: ChatServer, address: tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, asks the owner's responder, writes the reply with Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    server_version = "skillopt-stub/1"

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and benchmarks read `ChatServer.requests` instead of access logs."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._discard_body()
            self._send_json(404, error_body(404, f"no route GET {self.path}"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        owner = self.server.owner
        raw_path, _, raw_query = self.path.partition("?")
        path = raw_path.rstrip("/")
        is_chat, deployment = chat_route(path)
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        recorded = owner._record(
            method="POST",
            path=path,
            headers=headers,
            body=body,
            query=dict(parse_qsl(raw_query, keep_blank_values=True)),
            deployment=deployment,
        )
        if not is_chat:
            self._send_json(404, error_body(404, f"no route POST {self.path}"))
            return
        if deployment is not None and not recorded.query.get("api-version"):
            self._send_json(400, error_body(400, "Missing required query parameter: api-version"))
            return
        if deployment is not None and not (headers.get("api-key") or headers.get("authorization")):
            message = "Access denied due to missing subscription key or bearer token."
            self._send_json(401, error_body(401, message))
            return
        if parsed is None or not isinstance(parsed, dict):
            self._send_json(400, error_body(400, "request body is not a JSON object"))
            return
        try:
            with answering(recorded):
                reply = owner.responder(body, recorded.index)
        except Exception as exc:  # noqa: BLE001 - a broken responder must answer, not hang
            self._send_json(500, error_body(500, f"responder failed: {exc!r}"))
            return
        if reply.delay_s > 0 and owner._stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        self._send_json(reply.status, reply_body(body, reply), reply.headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _discard_body(self) -> None:
        self._read_body()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout); nothing to answer


class ChatServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, run on a background thread.

    Use as a context manager or call `start()` / `stop()`. `base_url` ends in `/v1`, ready for
    `openai.OpenAI(base_url=...)`; `root_url` is the bare origin, ready for
    `openai.AzureOpenAI(azure_endpoint=...)`. Every POST is recorded in `requests` before it is
    answered.
    """

    def __init__(self, responder: Responder | None = None, *, port: int = 0) -> None:
        self.responder: Responder = responder or fixed_latency(0.0)
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ChatServer:
        if self._httpd is not None:
            raise RuntimeError("ChatServer is already started")
        self._stopping.clear()
        self._httpd = _Server(self, (HOST, self._port))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"chat-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake delayed handlers, and close open keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # what it serves and saw

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ChatServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def clear(self) -> None:
        """Forget recorded requests (the next request gets index 0 again)."""
        with self._lock:
            self._requests.clear()

    # used by the handler

    def _record(
        self,
        *,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        query: dict[str, str],
        deployment: str | None,
    ) -> RecordedRequest:
        with self._lock:
            recorded = RecordedRequest(
                index=len(self._requests),
                method=method,
                path=path,
                headers=headers,
                body=body,
                received_at=time.time(),
                query=query,
                deployment=deployment,
            )
            self._requests.append(recorded)
            return recorded

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def spawn(*, latency_s: float = 0.0, reply_from: str = "stub") -> tuple[subprocess.Popen[str], str]:
    """Start the server in its own process (its own GIL, as a real endpoint would be), through
    `python -m skillopt.testing.openai_server`; return the process and its base URL. Stop it
    with `proc.terminate()`."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", CLI_MODULE, "--port", "0"]
        + ["--latency", str(latency_s), "--reply-from", reply_from],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(
            f"the chat server exited with code {proc.returncode} before printing its URL"
        )
    return proc, json.loads(line)["base_url"]
