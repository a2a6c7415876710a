"""One optimizer call whose reply must be a JSON object of a known shape.

Merge, ranking, rewrite, slow-update and meta-skill calls all follow the same rule: parse the
reply, validate it, and when it cannot be used ask again once more with the reason. A call that
still fails is returned as an error value, never raised, so each stage can record it and fall
back in its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from skillopt.base.errors import ConfigError, LLMError, ReplyError
from skillopt.engine.jsonx import extract_json
from skillopt.engine.prompts import PromptLibrary
from skillopt.llm.client import LLMClient
from skillopt.llm.types import ChatRequest

T = TypeVar("T")


ECHO_CHARS = 8000  # how much of an unusable reply is sent back with the follow-up


def _echo(reply_text: str) -> str:
    """The unusable reply as quoted back: whole, or its head and tail around a cut marker."""
    if len(reply_text) <= ECHO_CHARS:
        return reply_text
    half = ECHO_CHARS // 2
    cut = len(reply_text) - 2 * half
    return f"{reply_text[:half]}\n[... {cut} characters cut ...]\n{reply_text[-half:]}"


def followup_request(request: ChatRequest, reply_text: str, error: str) -> ChatRequest:
    """`request` extended with the unusable reply (cut to `ECHO_CHARS`) and a user turn saying
    what was wrong."""
    message = (
        f"That reply could not be used: {error}. Answer again with exactly one JSON object in the "
        "format the system message specifies, and nothing outside it."
    )
    return ChatRequest(
        model=request.model,
        messages=(
            *request.messages,
            {"role": "assistant", "content": _echo(reply_text)},
            {"role": "user", "content": message},
        ),
        max_tokens=request.max_tokens,
        reply_format=request.reply_format,
        temperature=request.temperature,
        response_schema=request.response_schema,
    )


@dataclass(frozen=True, kw_only=True)
class Answer(Generic[T]):
    """A parsed reply (`value`), or why there is none (`error`). `calls` counts requests sent
    or answered from the cache; `keys` are their call-record keys; `repaired` says the reply
    used was near-JSON that had to be repaired."""

    value: T | None
    error: str | None = None
    calls: int = 0
    keys: tuple[str, ...] = field(default_factory=tuple)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, kw_only=True)
class Asker:
    """What every optimizer stage needs to make a call: the client, the prompt templates, the
    model name, the temperature and how often an unusable reply is asked for again."""

    client: LLMClient
    prompts: PromptLibrary
    model: str
    temperature: float | None = None
    parse_retries: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.parse_retries, bool) or not isinstance(self.parse_retries, int):
            raise ConfigError(f"model.parse_retries must be an integer, got {self.parse_retries!r}")
        if self.parse_retries < 0:
            raise ConfigError(
                f"model.parse_retries must be >= 0 (0 = no follow-up), got {self.parse_retries}"
            )

    def ask(
        self,
        *,
        template: str,
        user: str,
        max_tokens: int,
        reply_format: str,
        stage: str,
        label: str,
        parse: Callable[[object], T],
    ) -> Answer[T]:
        """Send the `template` system prompt with `user`; `parse` turns the JSON into a value or
        raises ReplyError, which triggers a corrective follow-up."""
        request = ChatRequest(
            model=self.model,
            messages=(
                {"role": "system", "content": self.prompts.get(template).text},
                {"role": "user", "content": user},
            ),
            max_tokens=max_tokens,
            reply_format=reply_format,
            temperature=self.temperature,
        )
        keys: list[str] = []
        error = ""
        for _attempt in range(self.parse_retries + 1):
            try:
                result = self.client.complete(request, stage=stage, label=label)
            except LLMError as exc:
                return Answer(
                    value=None,
                    error=f"{stage} call failed: {exc}",
                    calls=len(keys),
                    keys=tuple(keys),
                )
            keys.append(result.key)
            try:
                extracted = extract_json(result.response.text)
                value = parse(extracted.value)
                if extracted.repaired:
                    self.client.ledger.record_repair(stage=stage)
                return Answer(
                    value=value,
                    calls=len(keys),
                    keys=tuple(keys),
                    repaired=extracted.repaired,
                )
            except ReplyError as exc:
                error = str(exc)
                request = followup_request(request, result.response.text, error)
        return Answer(
            value=None,
            error=f"no usable {stage} reply after {len(keys)} attempts: {error}",
            calls=len(keys),
            keys=tuple(keys),
        )


def require_text(reply: object, key: str) -> str:
    """The non-empty string `reply[key]`, or ReplyError."""
    if not isinstance(reply, dict):
        raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
    value = reply.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ReplyError(f"'{key}' must be a non-empty string")
    return value.strip()
