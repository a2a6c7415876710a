"""OpenAIBackend and LLMClient through the real `openai` SDK against a local HTTP server.

Nothing is mocked below the SDK: requests go over TCP to `skillopt.testing.openai_server`, so
retries, `Retry-After`, timeouts and error mapping are the SDK's own. Each test asserts how many
requests the server actually saw. Waits are kept short (Retry-After 1 s, timeouts 0.5 s).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from skillopt.base.errors import BudgetExhausted, ConfigError, LLMError
from skillopt.engine.jsonx import extract_json
from skillopt.llm.cache import CallCache
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Budget, Ledger, Price
from skillopt.llm.openai_backend import OpenAIBackend
from skillopt.llm.types import ChatRequest
from skillopt.testing import (
    ChatServer,
    Reply,
    error_body,
    fixed_latency,
    scripted,
    spawn,
)

KEY_ENV = "SKILLOPT_TEST_OPENAI_KEY"
KEY = "sk-test-dummy-key-0123456789abcdef"
FAST_RETRY = {"retry-after-ms": "20"}  # keeps the SDK's backoff short where timing is not tested
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(fixed_latency(0.0)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def backend_for(server: ChatServer, **kwargs: object) -> OpenAIBackend:
    options: dict[str, object] = {"timeout_s": 5.0, "max_retries": 2}
    options.update(kwargs)
    return OpenAIBackend(base_url=server.base_url, api_key_env=KEY_ENV, **options)  # type: ignore[arg-type]


def request_for(text: str = "Say hello.", **kwargs: object) -> ChatRequest:
    fields: dict[str, object] = {
        "model": "gpt-test",
        "messages": ({"role": "system", "content": "Be brief."}, {"role": "user", "content": text}),
        "max_tokens": 256,
        "reply_format": "failure:patch",
    }
    fields.update(kwargs)
    return ChatRequest(**fields)  # type: ignore[arg-type]


# --- a normal call and what the SDK sends ------------------------------------------------------


def test_normal_reply_text_usage_latency(server: ChatServer) -> None:
    server.responder = scripted(
        [Reply(content="hello world", prompt_tokens=11, completion_tokens=7)]
    )
    response = backend_for(server).complete(request_for(temperature=0.2))

    assert response.text == "hello world"
    assert (response.prompt_tokens, response.completion_tokens) == (11, 7)
    assert response.latency_s > 0
    assert response.retries == 0
    assert response.model == "gpt-test"
    assert response.extra == {"finish_reason": "stop"}
    assert server.request_count == 1

    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-test"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    assert sent.body["temperature"] == 0.2
    assert sent.body["max_completion_tokens"] == 256
    assert "max_tokens" not in sent.body
    assert "response_format" not in sent.body
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_usage_estimated_by_server_when_not_scripted(server: ChatServer) -> None:
    response = backend_for(server).complete(request_for("x" * 40, temperature=None))
    body = server.requests[0].body
    assert "temperature" not in body
    assert response.prompt_tokens == -(-(len("Be brief.") + 40) // 4)
    assert response.completion_tokens > 0
    assert server.request_count == 1


def test_token_param_max_tokens(server: ChatServer) -> None:
    backend_for(server, token_param="max_tokens").complete(request_for(max_tokens=99))
    body = server.requests[0].body
    assert body["max_tokens"] == 99
    assert "max_completion_tokens" not in body
    assert server.request_count == 1


def test_invalid_token_param_is_config_error() -> None:
    with pytest.raises(ConfigError, match="token_param"):
        OpenAIBackend(base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV, token_param="tokens")  # type: ignore[arg-type]


def test_response_schema_sent_as_json_schema_format(server: ChatServer) -> None:
    schema = {
        "name": "failure_patch",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"batch_size": {"type": "integer"}},
            "required": ["batch_size"],
            "additionalProperties": False,
        },
    }
    server.responder = scripted([Reply(content='{"batch_size": 3}')])
    response = backend_for(server).complete(request_for(response_schema=schema))
    assert server.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": schema,
    }
    assert extract_json(response.text).value == {"batch_size": 3}
    assert server.request_count == 1


@pytest.mark.parametrize(
    "content",
    [
        'Here is the result:\n```JSON\n{"batch_size": 2, "patch": {"edits": []}}\n```\nDone.',
        'Sure. The answer is {"batch_size": 2, "patch": {"edits": []}} as requested.',
    ],
    ids=["fenced-JSON", "prose"],
)
def test_json_in_reply_text_is_extracted(server: ChatServer, content: str) -> None:
    server.responder = scripted([Reply(content=content)])
    response = backend_for(server).complete(request_for())
    assert response.text == content  # the backend returns text untouched
    assert extract_json(response.text).value == {"batch_size": 2, "patch": {"edits": []}}
    assert server.request_count == 1


def test_concurrent_calls_are_not_serialized(server: ChatServer) -> None:
    server.responder = fixed_latency(0.5, lambda body: body["messages"][-1]["content"])
    backend = backend_for(server)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        texts = list(pool.map(lambda i: backend.complete(request_for(f"q{i}")).text, range(16)))
    elapsed = time.perf_counter() - started
    assert texts == [f"q{i}" for i in range(16)]
    assert server.request_count == 16
    assert elapsed < 2.0, f"16 parallel 0.5 s calls took {elapsed:.2f}s"


# --- retries -----------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured_then_succeeds(server: ChatServer) -> None:
    server.responder = scripted(
        [Reply(status=429, headers={"Retry-After": "1"}, error_body=error_body(429, "slow down"))],
        then=Reply(content="ok"),
    )
    started = time.perf_counter()
    response = backend_for(server).complete(request_for())
    elapsed = time.perf_counter() - started
    assert response.text == "ok"
    assert response.retries == 1
    assert server.request_count == 2
    assert elapsed >= 0.9, f"Retry-After: 1 not honoured ({elapsed:.2f}s)"
    assert server.requests[1].received_at - server.requests[0].received_at >= 0.9
    assert server.requests[1].headers.get("x-stainless-retry-count") == "1"


def test_500_then_success_is_retried(server: ChatServer) -> None:
    server.responder = scripted([Reply(status=500, headers=FAST_RETRY)], then=Reply(content="ok"))
    started = time.perf_counter()
    response = backend_for(server).complete(request_for())
    elapsed = time.perf_counter() - started
    assert response.text == "ok"
    assert response.retries == 1
    assert server.request_count == 2
    # retry-after-ms: 20 replaced the SDK's default 0.375-0.5 s first backoff
    assert elapsed < 0.35, f"retry-after-ms not honoured ({elapsed:.2f}s)"


def test_timeout_is_retried_then_raises_retryable(server: ChatServer) -> None:
    server.responder = scripted([], then=Reply(content="too late", delay_s=3.0))
    backend = backend_for(server, timeout_s=0.5, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(LLMError) as info:
        backend.complete(request_for())
    elapsed = time.perf_counter() - started
    assert info.value.retryable is True
    assert info.value.status is None
    assert "0.5s" in str(info.value)
    assert server.request_count == 2
    assert elapsed < 3.0, f"timeout not enforced ({elapsed:.2f}s)"


def test_persistent_503_exhausts_retries(server: ChatServer) -> None:
    server.responder = scripted(
        [], then=Reply(status=503, headers=FAST_RETRY, error_body=error_body(503, "overloaded"))
    )
    with pytest.raises(LLMError) as info:
        backend_for(server, max_retries=2).complete(request_for())
    assert info.value.status == 503
    assert info.value.retryable is True
    assert "up to 2 retries" in str(info.value)
    assert "overloaded" in str(info.value)
    assert server.request_count == 3


# --- errors that are not retried ---------------------------------------------------------------


def test_401_is_not_retried_and_does_not_leak_the_key(server: ChatServer) -> None:
    masked = f"{KEY[:3]}{'*' * (len(KEY) - 7)}{KEY[-4:]}"  # how OpenAI echoes a bad key
    server.responder = scripted(
        [],
        then=Reply(
            status=401,
            error_body=error_body(
                401, f"Incorrect API key provided: {masked}.", code="invalid_api_key"
            ),
        ),
    )
    with pytest.raises(LLMError) as info:
        backend_for(server, max_retries=3).complete(request_for())
    message = str(info.value)
    assert info.value.status == 401
    assert info.value.retryable is False
    assert "not retried" in message
    assert "api_key_env" in message
    assert KEY not in message
    assert KEY not in repr(info.value.args)
    assert server.request_count == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(server: ChatServer, status: int) -> None:
    server.responder = scripted([], then=Reply(status=status, headers=FAST_RETRY))
    with pytest.raises(LLMError) as info:
        backend_for(server, max_retries=3).complete(request_for())
    assert info.value.status == status
    assert info.value.retryable is False
    assert server.request_count == 1


def test_missing_env_var_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        OpenAIBackend(base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV)


def test_unreachable_server_is_retryable_connection_error(server: ChatServer) -> None:
    base_url = server.base_url
    server.stop()
    backend = OpenAIBackend(base_url=base_url, api_key_env=KEY_ENV, timeout_s=1.0, max_retries=0)
    with pytest.raises(LLMError) as info:
        backend.complete(request_for())
    assert info.value.retryable is True
    assert "cannot reach" in str(info.value)


# --- LLMClient: cache, ledger, budget ----------------------------------------------------------


def test_client_cache_and_ledger(server: ChatServer, tmp_path: Path) -> None:
    server.responder = scripted(
        [Reply(status=500, headers=FAST_RETRY)],
        then=Reply(content='{"batch_size": 1}', prompt_tokens=1000, completion_tokens=500),
    )
    ledger = Ledger(price=Price(input_per_mtok=1.0, output_per_mtok=2.0))
    client = LLMClient(
        backend=backend_for(server), ledger=ledger, cache=CallCache(tmp_path / "calls")
    )

    first = client.complete(request_for("A"), stage="reflect")
    assert first.cached is False
    assert first.response.retries == 1
    assert server.request_count == 2  # 500, then the answer

    again = client.complete(request_for("A"), stage="reflect")
    assert again.cached is True
    assert again.key == first.key
    assert again.response.text == first.response.text == '{"batch_size": 1}'
    assert server.request_count == 2  # served from the cache
    assert (tmp_path / "calls" / f"{first.key}.json").is_file()

    other = client.complete(request_for("B"), stage="merge")
    assert other.cached is False
    assert other.key != first.key
    assert server.request_count == 3

    assert ledger.calls == 2
    assert ledger.cache_hits == 1
    assert ledger.retries == 1
    assert ledger.errors == 0
    assert (ledger.prompt_tokens, ledger.completion_tokens) == (2000, 1000)
    assert ledger.cost_usd == pytest.approx(2 * (1000 * 1.0 + 500 * 2.0) / 1e6)
    usage = ledger.usage()
    assert usage.stages["reflect"].calls == 1
    assert usage.stages["merge"].calls == 1


def test_client_records_backend_errors(server: ChatServer) -> None:
    server.responder = scripted([], then=Reply(status=400))
    ledger = Ledger()
    client = LLMClient(backend=backend_for(server), ledger=ledger)
    with pytest.raises(LLMError):
        client.complete(request_for(), stage="reflect")
    assert (ledger.calls, ledger.errors) == (0, 1)
    assert server.request_count == 1


def test_budget_max_calls_stops_before_the_request(server: ChatServer, tmp_path: Path) -> None:
    ledger = Ledger(budget=Budget(max_calls=1))
    client = LLMClient(backend=backend_for(server), ledger=ledger, cache=CallCache(tmp_path))
    client.complete(request_for("A"), stage="reflect")
    with pytest.raises(BudgetExhausted, match="max_calls=1"):
        client.complete(request_for("B"), stage="reflect")
    assert server.request_count == 1
    # a cached request costs nothing, so it is still answered after the budget is spent
    assert client.complete(request_for("A"), stage="reflect").cached is True
    assert server.request_count == 1
    assert (ledger.calls, ledger.cache_hits) == (1, 1)


# --- the standalone server, as benchmarks start it ---------------------------------------------


def test_cli_server_with_offline_replies() -> None:
    proc, base_url = spawn(reply_from="offline")
    try:
        assert base_url.startswith("http://127.0.0.1:")
        backend = OpenAIBackend(base_url=base_url, api_key_env=KEY_ENV, timeout_s=5.0)
        user = "### Trajectory 1 (id=t1)\nFailure reason: timeout: took too long\n"
        schema = {"name": "failure_patch", "schema": {"type": "object"}}
        reply = extract_json(backend.complete(request_for(user, response_schema=schema)).text).value
        assert reply["batch_size"] == 1
        assert reply["failure_summary"][0]["failure_type"] == "timeout"
        assert "edits" in reply["patch"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert returncode == 0, proc.stderr.read() if proc.stderr else ""
