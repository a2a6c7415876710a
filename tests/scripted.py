"""A scripted optimizer for engine tests: a `ChatBackend` that answers from a list or a function.

Used by the ask, aggregate, rank, rewrite and trainer tests (real HTTP is covered by the tests
that start a local OpenAI-compatible server).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from skillopt.base.resources import prompts_dir
from skillopt.engine.ask import Asker
from skillopt.engine.prompts import PromptLibrary
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Ledger
from skillopt.llm.types import ChatRequest, ChatResponse

Reply = str | dict[str, Any] | Exception
Script = list[Reply] | Callable[[ChatRequest], Reply]


class Scripted:
    """A `ChatBackend` answering from a list (in call order) or a function of the request.

    A dict is sent as JSON, a str as is; an exception is raised. Every request is kept in
    `requests` (the backend is called from merge worker threads, hence the lock).
    """

    name = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.requests.append(request)
            if callable(self.script):
                reply = self.script(request)
            elif self.script:
                reply = self.script.pop(0)
            else:
                raise AssertionError(f"unexpected call ({request.reply_format})")
        if isinstance(reply, Exception):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return ChatResponse(text=text, prompt_tokens=10, completion_tokens=5, latency_s=0.0)

    def user(self, index: int = -1) -> str:
        """The first user message of request `index`."""
        return next(m["content"] for m in self.requests[index].messages if m["role"] == "user")

    def formats(self) -> list[str]:
        return [r.reply_format for r in self.requests]


def make_asker(script: Script, *, parse_retries: int = 2) -> tuple[Asker, Scripted]:
    backend = Scripted(script)
    client = LLMClient(backend=backend, ledger=Ledger())
    asker = Asker(
        client=client,
        prompts=PromptLibrary(builtin_dir=prompts_dir()),
        model="test-model",
        temperature=0.3,
        parse_retries=parse_retries,
    )
    return asker, backend
