"""The client the engine talks to: cache, then budget, then the backend, then the ledger.

Every call that is really made (a cache hit is not a call) is a CHAT_MODEL span under the span
the caller runs in (`skillopt.llm.tracing`), with the request, the reply, the token usage and
the call-cache key; a failed call is a span with its error. (The span journal keeps only the
key of a recorded call: its request and reply are in the call cache.)
"""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.base.errors import LLMError
from skillopt.llm import tracing
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

    def complete(self, request: ChatRequest, *, stage: str, label: str = "") -> CallResult:
        """Answer `request`; `stage` groups usage in the ledger, `label` names the call (a
        minibatch, a merge group)."""
        key = request.key(self.backend.name)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.record_hit()
                return CallResult(key=key, response=hit, cached=True)
        self.ledger.reserve()
        with tracing.span(
            f"{stage}:{label}" if label else stage,
            kind=tracing.CHAT_MODEL,
            inputs={"model": request.model, "messages": [dict(m) for m in request.messages]},
            attributes={
                "skillopt.call_key": key,
                "skillopt.backend": self.backend.name,
                "skillopt.stage": stage,
                "skillopt.model": request.model,
                "skillopt.max_tokens": request.max_tokens,
            },
        ) as span:
            try:
                response = self.backend.complete(request)
            except LLMError as exc:
                self.ledger.record_error()
                if span is not None:
                    span.end(error=str(exc), call_key=key)
                raise
            self.ledger.record(response, stage=stage)
            if self.cache is not None:
                self.cache.put(
                    key=key,
                    backend=self.backend.name,
                    stage=stage,
                    request=request,
                    response=response,
                )
            if span is not None:
                span.end(
                    call_key=key,
                    outputs={"text": response.text},
                    attributes={
                        "skillopt.prompt_tokens": response.prompt_tokens,
                        "skillopt.completion_tokens": response.completion_tokens,
                        "skillopt.retries": response.retries,
                        "skillopt.latency_s": round(response.latency_s, 4),
                    },
                )
        return CallResult(key=key, response=response, cached=False)
