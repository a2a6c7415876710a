"""The one protocol every optimizer backend implements, and the values that cross it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    """Everything that decides a reply. Two equal requests must be interchangeable, which is
    what makes the call cache and replay sound.

    `reply_format` names the reply schema the caller expects (the offline stand-in answers in it);
    `response_schema`, when set, is sent to the server as a `json_schema` response format.
    """

    model: str
    messages: tuple[dict[str, str], ...]
    max_tokens: int
    reply_format: str
    temperature: float | None = None
    response_schema: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "max_tokens": self.max_tokens,
            "reply_format": self.reply_format,
            "temperature": self.temperature,
            "response_schema": self.response_schema,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatRequest:
        return cls(
            model=data["model"],
            messages=tuple(dict(m) for m in data["messages"]),
            max_tokens=int(data["max_tokens"]),
            reply_format=data["reply_format"],
            temperature=data.get("temperature"),
            response_schema=data.get("response_schema"),
        )

    def key(self, backend: str) -> str:
        """Content address of this request on `backend` (sha256 of canonical JSON)."""
        canonical = json.dumps(
            {"backend": backend, **self.to_json()}, sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def chars(self) -> int:
        return sum(len(m.get("content", "")) for m in self.messages)


@dataclass(frozen=True, kw_only=True)
class ChatResponse:
    """A reply with what it cost. `retries` counts transport-level retries inside one call."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    retries: int = 0
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
            "latency_s": self.latency_s,
            "retries": self.retries,
            "model": self.model,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatResponse:
        usage = data.get("usage") or {}
        return cls(
            text=data["text"],
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=float(data.get("latency_s", 0.0)),
            retries=int(data.get("retries", 0)),
            model=data.get("model", ""),
            extra=dict(data.get("extra") or {}),
        )


class ChatBackend(Protocol):
    """Answers one chat request. Raises `skillopt.base.errors.LLMError` when it cannot.

    `name` identifies the backend (and, where it matters, the endpoint) in call-record keys.
    """

    name: str

    def complete(self, request: ChatRequest) -> ChatResponse: ...


def estimate_tokens(chars: int) -> int:
    """The dry-run estimate: four characters per token, rounded up."""
    return -(-chars // 4)
