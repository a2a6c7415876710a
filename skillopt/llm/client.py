"""The client the engine talks to: cache, then budget, then the backend, then the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.errors import LLMError
from skillopt.llm.cache import CallCache
from skillopt.llm.ledger import Ledger
from skillopt.llm.types import ChatBackend, ChatRequest, ChatResponse


@dataclass(frozen=True, kw_only=True)
class CallResult:
    """A reply and where it came from (`cached` = no call was made)."""

    key: str
    response: ChatResponse
    cached: bool


class LLMClient:
    """Wraps one backend. Without a cache every request is a new call."""

    def __init__(
        self, *, backend: ChatBackend, ledger: Ledger, cache: CallCache | None = None
    ) -> None:
        self.backend = backend
        self.ledger = ledger
        self.cache = cache

    def complete(self, request: ChatRequest, *, stage: str) -> CallResult:
        key = request.key(self.backend.name)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.record_hit()
                return CallResult(key=key, response=hit, cached=True)
        self.ledger.reserve()
        try:
            response = self.backend.complete(request)
        except LLMError:
            self.ledger.record_error()
            raise
        self.ledger.record(response, stage=stage)
        if self.cache is not None:
            self.cache.put(
                key=key, backend=self.backend.name, stage=stage, request=request, response=response
            )
        return CallResult(key=key, response=response, cached=False)
