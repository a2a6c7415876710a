"""A small, real OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Why a real HTTP server rather than a mocked transport: the official `openai` SDK then runs its
own code end to end (request building, retries with `Retry-After`, timeouts, error mapping), so
tests see exactly what production sees. Behaviour is scripted per request with a `responder`
callable that returns a `Reply` (status, text, headers, delay, error body).

It is built on the standard library only: `ThreadingHTTPServer` answers every connection on its
own thread, so concurrent requests are not serialized (a fixed latency of 0.5 s over 16 parallel
requests takes about 0.5 s of wall time), and HTTP/1.1 keep-alive lets the SDK reuse connections.

Run standalone (prints `{"base_url": ..., "pid": ...}` on one line, serves until SIGTERM):

    python -m skillopt.testing.openai_server --port 0 --latency 0.5 --reply-from offline
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skillopt.llm.types import ChatRequest, ChatResponse

HOST = "127.0.0.1"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
REPLY_FORMAT_HEADER = "X-Skillopt-Reply-Format"
DEFAULT_REPLY_FORMAT = "failure:patch"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What the server answers to one request.

    `status` 200 sends a chat.completion whose assistant message is `content`; any other status
    sends `error_body` (or a generated OpenAI-style `{"error": {...}}` when it is None).
    `delay_s` is slept before answering (fixed latency, or a hang past the client's timeout).
    `prompt_tokens` / `completion_tokens` override the chars/4 usage estimates when set.
    """

    status: int = 200
    content: str | None = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    error_body: dict[str, Any] | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


Responder = Callable[[dict[str, Any], int], Reply]
"""`(body, index) -> Reply`; `index` is the 0-based number of this request on the server."""


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One received request. Header names are lower-cased; `body` is the parsed JSON (or {})."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float


_current = threading.local()


def current_request() -> RecordedRequest | None:
    """The request being answered on this thread, for responders that need its headers."""
    return getattr(_current, "request", None)


def error_body(
    status: int, message: str | None = None, *, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error object for `status`."""
    err_type = _ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return {
        "error": {
            "message": message or f"stub server error {status}",
            "type": err_type,
            "param": None,
            "code": code,
        }
    }


def estimate_tokens(text: str) -> int:
    """Four characters per token, rounded up (the same rule as the dry-run estimate)."""
    return -(-len(text) // 4)


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "".join(parts)


def completion_body(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The chat.completion JSON answering `body` with `reply.content`."""
    content = reply.content
    prompt_tokens = (
        reply.prompt_tokens
        if reply.prompt_tokens is not None
        else estimate_tokens(_prompt_text(body))
    )
    completion_tokens = (
        reply.completion_tokens
        if reply.completion_tokens is not None
        else estimate_tokens(content or "")
    )
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or "stub-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# --- responders --------------------------------------------------------------------------------


GENERIC_REPLY = {"batch_size": 0, "patch": {"reasoning": "stub server", "edits": []}}


def generic_content(_body: dict[str, Any]) -> str:
    """A valid patch-mode reply with no edits."""
    return json.dumps(GENERIC_REPLY)


def scripted(replies: list[Reply], then: Reply | Responder | None = None) -> Responder:
    """Play `replies` in order, one per request, then answer every later request with `then`.

    `then` is a Reply, a responder, or None (a 200 with the generic reply). The position is this
    responder's own thread-safe counter, so it plays in arrival order even under concurrency.
    """
    lock = threading.Lock()
    played = 0
    fallback: Reply | Responder = then if then is not None else Reply(content=generic_content({}))

    def respond(body: dict[str, Any], index: int) -> Reply:
        nonlocal played
        with lock:
            position = played
            played += 1
        if position < len(replies):
            return replies[position]
        return fallback if isinstance(fallback, Reply) else fallback(body, index)

    return respond


def fixed_latency(
    latency_s: float, content_fn: Callable[[dict[str, Any]], str] = generic_content
) -> Responder:
    """Sleep `latency_s`, then answer 200 with `content_fn(body)`."""

    def respond(body: dict[str, Any], _index: int) -> Reply:
        return Reply(content=content_fn(body), delay_s=latency_s)

    return respond


_SCHEMA_NAME = re.compile(r"^(failure|success)[:_-](.+)$")


def reply_format_of(body: dict[str, Any], headers: dict[str, str]) -> str:
    """The skillopt reply format a request expects, which plain OpenAI bodies do not carry.

    From `response_format.json_schema.name` (`failure:patch`, or `failure_patch` since OpenAI
    schema names cannot hold a colon), else the `X-Skillopt-Reply-Format` header, else
    `failure:patch`.
    """
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        schema = response_format.get("json_schema")
        name = schema.get("name") if isinstance(schema, dict) else None
        match = _SCHEMA_NAME.match(name) if isinstance(name, str) else None
        if match:
            return f"{match.group(1)}:{match.group(2)}"
    header = headers.get(REPLY_FORMAT_HEADER.lower())
    return header.strip() if header and header.strip() else DEFAULT_REPLY_FORMAT


def chat_request(body: dict[str, Any], reply_format: str) -> ChatRequest:
    """A received chat-completions body as the ChatRequest an in-process backend answers."""
    from skillopt.llm.types import ChatRequest

    return ChatRequest(
        model=str(body.get("model") or "stub-model"),
        messages=tuple(
            {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ),
        max_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 4096),
        reply_format=reply_format,
    )


def _reply_with(response: ChatResponse, latency_s: float) -> Reply:
    """An in-process backend's response served over HTTP after `latency_s`, with its usage."""
    return Reply(
        content=response.text,
        delay_s=latency_s,
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
    )


def offline_responder(latency_s: float = 0.0) -> Responder:
    """Answer with `skillopt.sim.optimizer.OfflineOptimizer`, the deterministic stand-in optimizer.

    The reply format is derived by `reply_format_of` from the body and, through
    `current_request()`, the request headers.
    """
    from skillopt.sim.optimizer import OfflineOptimizer

    backend = OfflineOptimizer()

    def respond(body: dict[str, Any], _index: int) -> Reply:
        current = current_request()
        headers = current.headers if current is not None else {}
        response = backend.complete(chat_request(body, reply_format_of(body, headers)))
        return _reply_with(response, latency_s)

    return respond


_MODE_SUFFIXES = {
    "_full_rewrite": "full_rewrite_minibatch",
    "_rewrite": "rewrite_from_suggestions",
    "": "patch",
}


def template_reply_format(name: str) -> str:
    """The reply format of an optimizer template: analyst_error -> failure:patch,
    merge_final_rewrite -> merge:final:rewrite_from_suggestions, ranking -> ranking:patch, ..."""
    if name in ("rewrite_skill", "slow_update", "meta_skill"):
        return name
    for suffix, mode in _MODE_SUFFIXES.items():
        if suffix and not name.endswith(suffix):
            continue
        base = name[: len(name) - len(suffix)] if suffix else name
        if base == "analyst_error":
            return f"failure:{mode}"
        if base == "analyst_success":
            return f"success:{mode}"
        if base.startswith("merge_"):
            return f"merge:{base.removeprefix('merge_')}:{mode}"
        if base == "ranking":
            return f"ranking:{mode}"
    raise ValueError(f"no reply format for template {name!r}")


@functools.cache
def _templates_by_text() -> dict[str, str]:
    """Built-in template text -> template name, read once per process."""
    from skillopt.base.resources import prompts_dir

    return {
        path.read_text(encoding="utf-8"): path.stem
        for path in sorted(Path(prompts_dir()).glob("*.md"))
    }


def template_of(body: dict[str, Any]) -> str | None:
    """The built-in optimizer template whose text is the request's system message, if any."""
    system = next(
        (
            str(m.get("content", ""))
            for m in body.get("messages") or []
            if m.get("role") == "system"
        ),
        None,
    )
    return None if system is None else _templates_by_text().get(system)


def simulation_responder(latency_s: float = 0.0) -> Responder:
    """Both roles of an offline training run, over HTTP.

    A request whose system message is one of skillopt's optimizer templates is answered by the
    optimizer stand-in (`OfflineOptimizer`) in that template's reply format; any other request is
    a target request, answered by the simulated target (`skillopt.sim.target.OfflineTarget`).
    """
    from skillopt.sim.optimizer import OfflineOptimizer
    from skillopt.sim.target import OfflineTarget

    optimizer, target = OfflineOptimizer(), OfflineTarget()

    def respond(body: dict[str, Any], _index: int) -> Reply:
        template = template_of(body)
        reply_format = "answer" if template is None else template_reply_format(template)
        backend = target if template is None else optimizer
        response = backend.complete(chat_request(body, reply_format))
        return _reply_with(response, latency_s)

    return respond


# --- server ------------------------------------------------------------------------------------


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
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        recorded = owner._record(method="POST", path=path, headers=headers, body=body)
        if path not in CHAT_PATHS:
            self._send_json(404, error_body(404, f"no route POST {self.path}"))
            return
        if parsed is None or not isinstance(parsed, dict):
            self._send_json(400, error_body(400, "request body is not a JSON object"))
            return
        try:
            _current.request = recorded
            reply = owner.responder(body, recorded.index)
        except Exception as exc:  # noqa: BLE001 - a broken responder must answer, not hang
            self._send_json(500, error_body(500, f"responder failed: {exc!r}"))
            return
        finally:
            _current.request = None
        if reply.delay_s > 0 and owner._stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        if reply.status == 200:
            payload = completion_body(body, reply)
        else:
            payload = reply.error_body if reply.error_body is not None else error_body(reply.status)
        self._send_json(reply.status, payload, reply.headers)

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
    `openai.OpenAI(base_url=...)`. Every POST is recorded in `requests` before it is answered.
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
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

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
        self, *, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> RecordedRequest:
        with self._lock:
            recorded = RecordedRequest(
                index=len(self._requests),
                method=method,
                path=path,
                headers=headers,
                body=body,
                received_at=time.time(),
            )
            self._requests.append(recorded)
            return recorded

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


# --- CLI ---------------------------------------------------------------------------------------


def spawn(*, latency_s: float = 0.0, reply_from: str = "stub") -> tuple[subprocess.Popen[str], str]:
    """Start the server in its own process (its own GIL, as a real endpoint would be); return
    the process and its base URL. Stop it with `proc.terminate()`."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillopt.testing.openai_server", "--port", "0"]
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


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; print the base URL as one JSON line first."""
    parser = argparse.ArgumentParser(
        prog="python -m skillopt.testing.openai_server",
        description="OpenAI-compatible chat-completions stub server on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = ephemeral)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to sleep per reply")
    parser.add_argument(
        "--reply-from",
        choices=("stub", "offline"),
        default="stub",
        help="stub: a fixed empty patch reply; offline: skillopt's deterministic OfflineOptimizer",
    )
    args = parser.parse_args(argv)
    if args.reply_from == "offline":
        responder = offline_responder(args.latency)
    else:
        responder = fixed_latency(args.latency)

    done = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with ChatServer(responder, port=args.port) as server:
        print(json.dumps({"base_url": server.base_url, "pid": os.getpid()}), flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
