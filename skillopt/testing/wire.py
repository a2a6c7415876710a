"""What crosses the wire: the request as the server recorded it, the reply a responder scripts,
and the OpenAI JSON bodies that carry either outcome (a chat.completion or an `{"error": ...}`).

The responders build `Reply` values and the server turns them into bytes; both read the request
being answered through `current_request()`, which is why it lives here and not in the server:
the responders then depend on this module alone. Standard library only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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
    """One received request. Header names are lower-cased; `body` is the parsed JSON (or {}).

    `path` has no query string; `query` holds its parameters (the last value of a repeated one),
    so an Azure request's `query["api-version"]` is there. `deployment` is the Azure deployment
    named in `/openai/deployments/<deployment>/...`, None on other routes.
    """

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    query: dict[str, str] = field(default_factory=dict)
    deployment: str | None = None


_current = threading.local()


def current_request() -> RecordedRequest | None:
    """The request being answered on this thread, for responders that need its headers."""
    return getattr(_current, "request", None)


@contextmanager
def answering(request: RecordedRequest) -> Iterator[None]:
    """Make `request` this thread's `current_request()` while a responder runs."""
    _current.request = request
    try:
        yield
    finally:
        _current.request = None


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


def reply_body(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The JSON sent for `reply`: a chat.completion for status 200, else its error body."""
    if reply.status == 200:
        return completion_body(body, reply)
    return reply.error_body if reply.error_body is not None else error_body(reply.status)
