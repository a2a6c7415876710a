"""Reply parsing and re-asking through the real SDK and a local chat-completions server."""

from __future__ import annotations

import json

import pytest

from skillopt.base.resources import prompts_dir
from skillopt.base.rollout import load_rollout
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.llm import Ledger, LLMClient
from skillopt.llm.openai_backend import OpenAIBackend
from skillopt.testing import ChatServer, Reply, scripted
from tests.conftest import scored_rows

KEY_ENV = "SKILLOPT_HTTP_TEST_KEY"
VALID = {
    "batch_size": 2,
    "failure_summary": [],
    "patch": {"reasoning": "r", "edits": [{"op": "append", "content": "- Give units."}]},
}


@pytest.fixture
def rollout(make_rollout):
    return load_rollout(make_rollout(scored_rows(2, 0)))


def reflect_over_http(server, rollout, *, parse_retries=2, json_schema=False):
    client = LLMClient(
        backend=OpenAIBackend(
            base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=5, max_retries=0
        ),
        ledger=Ledger(),
    )
    return run_reflect(
        rollout=rollout,
        skill="# Skill\n",
        settings=ReflectSettings(minibatch_size=8),
        requests=RequestSettings(name="m", parse_retries=parse_retries, json_schema=json_schema),
        prompts=PromptLibrary(builtin_dir=prompts_dir()),
        client=client,
    )


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-http-test")


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(VALID),
        f"```JSON\n{json.dumps(VALID)}\n```",
        f"Here is my analysis.\n\n{json.dumps(VALID, indent=2)}\n\nHope it helps.",
    ],
)
def test_wrapped_json_is_accepted_first_time(rollout, text):
    with ChatServer(scripted([], then=Reply(content=text))) as server:
        outcome = reflect_over_http(server, rollout)
        assert server.request_count == 1
    (result,) = outcome.results
    assert result.status == "ok"
    assert result.items == [
        {"op": "append", "content": "- Give units.", "source_type": "failure", "support_count": 2}
    ]


def test_invalid_reply_is_asked_again_with_the_reason(rollout):
    replies = [
        Reply(content="I would add a rule about units."),
        Reply(content='{"edits": []}'),
        Reply(content=json.dumps(VALID)),
    ]
    with ChatServer(scripted(replies)) as server:
        outcome = reflect_over_http(server, rollout)
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 3
    (result,) = outcome.results
    assert result.status == "ok" and len(result.calls) == 3
    second = bodies[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "I would add a rule about units."
    assert "no parseable JSON object" in second[3]["content"]
    assert "no 'patch' object" in bodies[2]["messages"][-1]["content"]


def test_reply_that_never_validates_fails_the_minibatch_after_parse_retries(rollout):
    with ChatServer(scripted([], then=Reply(content="no json, sorry"))) as server:
        outcome = reflect_over_http(server, rollout, parse_retries=1)
        assert server.request_count == 2
    (result,) = outcome.results
    assert result.status == "failed" and result.failure_reason == "invalid_reply"
    assert "after 2 attempts" in result.error and "no parseable JSON" in result.error


def test_json_schema_response_format_is_sent_when_enabled(rollout):
    with ChatServer(scripted([], then=Reply(content=json.dumps(VALID)))) as server:
        reflect_over_http(server, rollout, json_schema=True)
        body = server.requests[0].body
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema"
    assert schema["name"] == "failure_patch"
    assert "patch" in schema["schema"]["required"]
