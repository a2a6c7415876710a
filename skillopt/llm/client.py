"""The client the engine talks to: cache, then budget, then the backend, then the ledger."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from skillopt.base.errors import LLMError
from skillopt.llm.cache import CallCache
from skillopt.llm.ledger import Ledger
from skillopt.llm.types import ChatBackend, ChatRequest, ChatResponse


@dataclass(frozen=True, kw_only=True)
class CallResult:
    """A reply and where it came from (`cached` = no call was made)."""

    key: str
    response: ChatResponse
    cached: bool


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    """One call that was really made (cache hits are not calls), for listeners such as tracing."""

    key: str
    backend: str
    stage: str
    label: str
    request: ChatRequest
    started_ns: int
    ended_ns: int
    response: ChatResponse | None = None
    error: LLMError | None = None


class CallListener(Protocol):
    """Told about every call after it ends, on the thread that made it."""

    def on_call(self, event: CallEvent) -> None: ...


class LLMClient:
    """Wraps one backend. Without a cache every request is a new call."""

    def __init__(
        self,
        *,
        backend: ChatBackend,
        ledger: Ledger,
        cache: CallCache | None = None,
        listeners: Sequence[CallListener] = (),
    ) -> None:
        self.backend = backend
        self.ledger = ledger
        self.cache = cache
        self.listeners = tuple(listeners)

    def complete(self, request: ChatRequest, *, stage: str, label: str = "") -> CallResult:
        """Answer `request`; `stage` groups usage in the ledger, `label` names the call (a minibatch)."""
        key = request.key(self.backend.name)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.record_hit()
                return CallResult(key=key, response=hit, cached=True)
        self.ledger.reserve()
        started = time.time_ns()
        try:
            response = self.backend.complete(request)
        except LLMError as exc:
            self.ledger.record_error()
            self._notify(key, stage, label, request, started, error=exc)
            raise
        self.ledger.record(response, stage=stage)
        if self.cache is not None:
            self.cache.put(
                key=key, backend=self.backend.name, stage=stage, request=request, response=response
            )
        self._notify(key, stage, label, request, started, response=response)
        return CallResult(key=key, response=response, cached=False)

    def _notify(
        self,
        key: str,
        stage: str,
        label: str,
        request: ChatRequest,
        started_ns: int,
        *,
        response: ChatResponse | None = None,
        error: LLMError | None = None,
    ) -> None:
        if not self.listeners:
            return
        event = CallEvent(
            key=key,
            backend=self.backend.name,
            stage=stage,
            label=label,
            request=request,
            started_ns=started_ns,
            ended_ns=time.time_ns(),
            response=response,
            error=error,
        )
        for listener in self.listeners:
            listener.on_call(event)
