"""Responders: what the chat server answers, as `(body, index) -> Reply` callables.

Canned ones (`scripted` plays a list, `fixed_latency` sleeps then answers) and ones that answer
like skillopt's own offline stand-ins over HTTP (`offline_responder` for the optimizer,
`simulation_responder` for both roles of a training run). A plain OpenAI body does not say which
skillopt reply format it expects, so `reply_format_of` reads it from the schema name or a header,
and `template_of` recognises a built-in optimizer template by its text.

Importing this module costs only the standard library; the stand-ins (`skillopt.sim`,
`skillopt.llm`) are imported when a responder that needs them is built.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillopt.testing.wire import Reply, Responder, current_request

if TYPE_CHECKING:
    from skillopt.llm.types import ChatRequest, ChatResponse

REPLY_FORMAT_HEADER = "X-Skillopt-Reply-Format"
DEFAULT_REPLY_FORMAT = "failure:patch"
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
