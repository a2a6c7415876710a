"""The local test server speaks the Azure OpenAI URL scheme, as the official SDK's `AzureOpenAI`
client uses it: `/openai/deployments/<deployment>/chat/completions?api-version=...` with an
`api-key` header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from openai import AzureOpenAI, NotFoundError

from skillopt.testing import ChatServer, Reply, scripted

KEY = "azure-test-key-0123"
API_VERSION = "2024-10-21"
DEPLOYMENT = "gpt-4o-mini-eu"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(scripted([Reply(content="hello from azure", completion_tokens=3)])) as srv:
        yield srv


def azure_client(server: ChatServer) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=server.root_url,
        api_key=KEY,
        api_version=API_VERSION,
        max_retries=0,
        timeout=5.0,
    )


def test_the_azure_client_gets_a_completion_and_the_request_is_recorded(server):
    completion = azure_client(server).chat.completions.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": "Say hello."}]
    )

    assert completion.choices[0].message.content == "hello from azure"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    (sent,) = server.requests
    assert sent.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert sent.deployment == DEPLOYMENT
    assert sent.query == {"api-version": API_VERSION}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.body["model"] == DEPLOYMENT
    assert sent.body["messages"] == [{"role": "user", "content": "Say hello."}]


def test_the_plain_route_records_no_deployment(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=5.0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    (sent,) = server.requests
    assert (sent.path, sent.deployment, sent.query) == ("/v1/chat/completions", None, {})


def test_another_azure_operation_is_not_a_chat_route(server):
    with pytest.raises(NotFoundError):
        azure_client(server).embeddings.create(model=DEPLOYMENT, input="hello")
    (sent,) = server.requests
    assert sent.path == f"/openai/deployments/{DEPLOYMENT}/embeddings"
    assert sent.deployment == DEPLOYMENT


@pytest.mark.parametrize(
    ("query", "headers", "status", "message"),
    [
        ("", {"api-key": KEY}, 400, "api-version"),
        (f"?api-version={API_VERSION}", {}, 401, "missing subscription key"),
    ],
    ids=["no-api-version", "no-credentials"],
)
def test_an_azure_request_without_version_or_credentials_is_refused(
    server, query, headers, status, message
):
    url = f"{server.root_url}/openai/deployments/{DEPLOYMENT}/chat/completions{query}"
    body = {"model": DEPLOYMENT, "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5.0)
    assert info.value.code == status
    assert message in json.loads(info.value.read())["error"]["message"]
    (sent,) = server.requests  # recorded, then refused
    assert sent.deployment == DEPLOYMENT
