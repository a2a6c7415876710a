"""The optimizer on any OpenAI-compatible chat-completions endpoint, through the official SDK.

Transport retries are the SDK's own: exponential backoff with jitter for 408/409/429/5xx and
connection errors, honouring `Retry-After`; 400/401/403/404 are never retried. The API key is
read from the environment variable named in config and is held only by the SDK client.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from skillopt.base.checks import check_int, check_number, check_text, choice
from skillopt.base.errors import ConfigError, LLMError
from skillopt.llm.types import ChatRequest, ChatResponse

TOKEN_PARAMS = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True, kw_only=True)
class OpenAIOptions:
    """How to reach an OpenAI-compatible endpoint (`model.*` / `target.*` with `backend: openai`).

    base_url: None = api.openai.com (or the SDK's OPENAI_BASE_URL); any OpenAI-compatible /v1 URL.
    api_key_env: the environment variable holding the key (the key itself is never configured).
    timeout_s: seconds per attempt (120). max_retries: SDK retries for 408/409/429/5xx and
    connection errors, honouring Retry-After (3). token_param: the completion-limit parameter,
    max_completion_tokens or, for servers that only know the older name, max_tokens.
    """

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    max_retries: int = 3
    token_param: str = "max_completion_tokens"

    @property
    def key_env(self) -> str | None:
        """The environment variable a job needs set before it makes calls."""
        return self.api_key_env

    def __post_init__(self) -> None:
        check_text("base_url", self.base_url, optional=True)
        check_text("api_key_env", self.api_key_env)
        check_number("timeout_s", self.timeout_s, above=0)
        check_int("max_retries", self.max_retries, minimum=0, maximum=20)
        object.__setattr__(
            self, "token_param", choice("token_param", self.token_param, TOKEN_PARAMS)
        )


def _utf8(text: str) -> str:
    """`text` with unpaired surrogates (a reply may escape one, `\\ud800`) replaced by U+FFFD,
    so it can be written to the call cache and the outputs as UTF-8."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _short(text: Any, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class SDKChatBackend:
    """Chat completions through an `openai` SDK client (`OpenAI` or `AzureOpenAI`): the request
    as the SDK sends it, and the SDK's errors as `LLMError`s that never hold the key.

    `endpoint` names the server in messages; `auth_hint` is added to a 401/403 message;
    `secret` (the API key, if any) is replaced by `***` wherever an error message echoes it;
    `options` (OpenAIOptions or AzureOpenAIOptions) give `timeout_s`, `max_retries` and
    `token_param`.
    """

    def __init__(
        self, client: Any, *, endpoint: str, auth_hint: str, secret: str | None, options: Any
    ) -> None:
        import openai  # deferred: the offline path never pays for it

        self._openai = openai
        self._client = client
        self._endpoint = endpoint
        self._auth_hint = auth_hint
        self._secret = secret
        self._timeout_s = options.timeout_s
        self._max_retries = options.max_retries
        self._token_param = options.token_param

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def complete(self, request: ChatRequest) -> ChatResponse:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            self._token_param: request.max_tokens,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.response_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": request.response_schema,
            }
        openai, where = self._openai, self._endpoint
        started = time.perf_counter()
        try:
            raw = self._client.chat.completions.with_raw_response.create(**kwargs)
        except openai.APIStatusError as exc:
            status = exc.status_code
            retryable = status in (408, 409, 429) or status >= 500
            tried = f" (up to {self._max_retries} retries)" if retryable else " (not retried)"
            hint = f"; {self._auth_hint}" if status in (401, 403) else ""
            raise LLMError(
                f"HTTP {status} from {where}{tried}: {self._redact(_short(exc.message))}{hint}",
                retryable=retryable,
                status=status,
            ) from None
        except openai.APITimeoutError:
            raise LLMError(
                f"no reply from {where} within {self._timeout_s:g}s (up to {self._max_retries} retries)",
                retryable=True,
            ) from None
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"cannot reach {where} (up to {self._max_retries} retries): "
                f"{self._redact(_short(exc.__cause__ or exc))}",
                retryable=True,
            ) from None
        latency = time.perf_counter() - started
        completion = raw.parse()
        if not completion.choices:
            raise LLMError(f"reply from {where} has no choices", retryable=True)
        choice = completion.choices[0]
        usage = completion.usage
        return ChatResponse(
            text=_utf8(choice.message.content or ""),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            retries=raw.retries_taken,
            model=completion.model or request.model,
            extra={"finish_reason": choice.finish_reason},
        )


def read_key(api_key_env: str, *, section_hint: str) -> str:
    """The API key in environment variable `api_key_env`; ConfigError when it is unset."""
    api_key = os.environ.get(api_key_env)
    if not api_key:
        raise ConfigError(
            f"environment variable {api_key_env} is not set; export the API key there "
            f"(or name another variable with {section_hint})"
        )
    return api_key


class OpenAIBackend(SDKChatBackend):
    """One shared SDK client; thread-safe, so the reflect workers call it concurrently.

    `name` includes the endpoint, so call records from another server never answer for this one.
    """

    def __init__(self, **options: Any) -> None:
        """`options` are the fields of `OpenAIOptions`, checked there."""
        settings = OpenAIOptions(**options)
        api_key = read_key(settings.api_key_env, section_hint="model.api_key_env")
        import openai

        client = openai.OpenAI(
            api_key=api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )
        # The SDK may take the URL from OPENAI_BASE_URL; report and key on the one it really uses.
        base_url = str(client.base_url).rstrip("/")
        super().__init__(
            client,
            endpoint=base_url,
            auth_hint="check the API key in the environment variable named by model.api_key_env",
            secret=api_key,
            options=settings,
        )
        self.name = f"openai:{base_url}"
