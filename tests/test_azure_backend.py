"""AzureOpenAIBackend through the real `openai` SDK (`AzureOpenAI`) against the local server's
Azure route, `/openai/deployments/<deployment>/chat/completions?api-version=...`.

The same faults as the openai backend's tests (429 with Retry-After, 500, fenced JSON), the
`api-key` header and the Entra ID bearer token, the call-cache key, and a whole offline
training run over HTTP in which the key reaches no file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillopt.base.errors import ConfigError, LLMError
from skillopt.engine.jsonx import extract_json
from skillopt.llm.azure_backend import AzureOpenAIBackend, AzureOpenAIOptions
from skillopt.llm.cache import CallCache
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Ledger
from skillopt.llm.registry import make_backend
from skillopt.llm.types import ChatRequest
from skillopt.testing import ChatServer, Reply, error_body, scripted, simulation_responder
from tests.cli_helpers import run_reflect

KEY_ENV = "SKILLOPT_TEST_AZURE_KEY"
KEY = "azure-test-secret-0123456789abcdef"
DEPLOYMENT = "gpt-4o-mini-eu"
API_VERSION = "2024-10-21"
FAST_RETRY = {"retry-after-ms": "20"}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def backend_for(server: ChatServer, **kwargs: object) -> AzureOpenAIBackend:
    options: dict[str, object] = {
        "azure_endpoint": server.root_url,
        "deployment": DEPLOYMENT,
        "api_version": API_VERSION,
        "api_key_env": KEY_ENV,
        "timeout_s": 5.0,
        "max_retries": 2,
    }
    options.update(kwargs)
    return AzureOpenAIBackend(**options)  # type: ignore[arg-type]


def request_for(text: str = "Say hello.") -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": text}),
        max_tokens=256,
        reply_format="failure:patch",
    )


def test_a_call_goes_to_the_deployment_with_the_api_version_and_key(server):
    server.responder = scripted([Reply(content="hello", prompt_tokens=11, completion_tokens=7)])
    response = backend_for(server).complete(request_for())
    assert (response.text, response.prompt_tokens, response.completion_tokens) == ("hello", 11, 7)
    (sent,) = server.requests
    assert sent.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert sent.deployment == DEPLOYMENT and sent.query == {"api-version": API_VERSION}
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert sent.body["max_completion_tokens"] == 256 and sent.body["model"] == "gpt-4o-mini"


def test_entra_id_sends_a_bearer_token_and_no_key(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV)  # not needed with Entra ID
    tokens = iter(["token-1", "token-2"])
    backend = backend_for(server, auth="aad", token_provider=lambda: next(tokens))
    backend.complete(request_for())
    (sent,) = server.requests
    assert sent.headers["authorization"] == "Bearer token-1" and "api-key" not in sent.headers
    assert AzureOpenAIOptions(azure_endpoint="e", deployment="d", auth="aad").key_env is None


def test_entra_id_without_azure_identity_is_a_clear_config_error(server, monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if the extra were missing
    with pytest.raises(ConfigError, match=r"pip install 'skillopt\[azure\]'"):
        backend_for(server, auth="entra_id")


def test_429_with_retry_after_is_honoured_then_succeeds(server):
    server.responder = scripted(
        [Reply(status=429, headers={"Retry-After": "1"}, error_body=error_body(429, "slow down"))],
        then=Reply(content="ok"),
    )
    started = time.perf_counter()
    response = backend_for(server).complete(request_for())
    assert response.text == "ok" and response.retries == 1
    assert server.request_count == 2 and time.perf_counter() - started >= 0.9
    assert server.requests[1].received_at - server.requests[0].received_at >= 0.9


def test_500_then_success_is_retried(server):
    server.responder = scripted([Reply(status=500, headers=FAST_RETRY)], then=Reply(content="ok"))
    response = backend_for(server).complete(request_for())
    assert response.text == "ok" and response.retries == 1 and server.request_count == 2


def test_persistent_500_raises_a_retryable_error_naming_the_deployment(server):
    server.responder = scripted([], then=Reply(status=500, headers=FAST_RETRY))
    with pytest.raises(LLMError) as info:
        backend_for(server, max_retries=1).complete(request_for())
    assert info.value.status == 500 and info.value.retryable
    assert f"/openai/deployments/{DEPLOYMENT}" in str(info.value)
    assert server.request_count == 2


def test_fenced_json_is_returned_untouched_and_extracted(server):
    content = 'Here:\n```JSON\n{"batch_size": 2, "patch": {"edits": []}}\n```\nDone.'
    server.responder = scripted([Reply(content=content)])
    response = backend_for(server).complete(request_for())
    assert response.text == content
    assert extract_json(response.text).value == {"batch_size": 2, "patch": {"edits": []}}


def test_a_401_is_not_retried_and_never_shows_the_key(server):
    server.responder = scripted(
        [], then=Reply(status=401, error_body=error_body(401, f"key {KEY} is not valid"))
    )
    with pytest.raises(LLMError) as info:
        backend_for(server, max_retries=3).complete(request_for())
    assert info.value.status == 401 and not info.value.retryable
    assert KEY not in str(info.value) and "***" in str(info.value)
    assert "api_key_env" in str(info.value) and server.request_count == 1


def test_a_missing_key_variable_is_a_config_error(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        backend_for(server)


def test_the_cache_key_names_endpoint_deployment_and_api_version(server, tmp_path):
    server.responder = scripted([], then=Reply(content='{"batch_size": 1}'))
    cache = CallCache(tmp_path / "calls")
    client = LLMClient(backend=backend_for(server), ledger=Ledger(), cache=cache)
    first = client.complete(request_for("A"), stage="analyst")
    again = client.complete(request_for("A"), stage="analyst")
    assert again.cached and again.key == first.key and server.request_count == 1
    for other in ({"deployment": "other"}, {"api_version": "2025-01-01"}):
        backend = backend_for(server, **other)
        result = LLMClient(backend=backend, ledger=Ledger(), cache=cache).complete(
            request_for("A"), stage="analyst"
        )
        assert not result.cached and result.key != first.key
    assert server.request_count == 3
    record = (tmp_path / "calls" / f"{first.key}.json").read_text()
    assert KEY not in record
    assert make_backend(
        "azure_openai",
        AzureOpenAIOptions(
            azure_endpoint=server.root_url, deployment=DEPLOYMENT, api_key_env=KEY_ENV
        ),
    ).name.startswith(f"azure_openai:{server.root_url}/openai/deployments/{DEPLOYMENT}")


def test_an_offline_training_run_over_azure_never_writes_the_key(tmp_path: Path):
    with ChatServer(simulation_responder()) as server:
        roles = []
        for section in ("model", "target"):
            roles += [
                f"{section}=azure_openai",
                f"{section}.azure_endpoint={server.root_url}",
                f"{section}.deployment={section}-deployment",
                f"{section}.api_key_env={KEY_ENV}",
                f"{section}.max_retries=0",
            ]
        run = run_reflect(tmp_path, *roles, "train.epochs=1", env={KEY_ENV: KEY}, app="train")
        requests = server.requests
    assert run.returncode == 0, run.output
    assert run.summary["best_selection_score"] > run.summary["baseline_selection_score"]
    assert {r.deployment for r in requests} == {"model-deployment", "target-deployment"}
    assert all(r.headers["api-key"] == KEY for r in requests)
    assert KEY not in run.output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.name == ".hydra" for p in written)
    assert any("llm_calls" in p.parts for p in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
