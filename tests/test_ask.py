"""`Asker.ask`: one optimizer call parsed into a value, a corrective follow-up when the reply
cannot be used, and errors returned (never raised) so each stage can fall back.
"""

from __future__ import annotations

import json

import pytest

from skillopt.base.errors import ConfigError, LLMError, ReplyError
from skillopt.engine.ask import Asker, followup_request, require_text
from skillopt.llm.types import ChatRequest
from tests.scripted import make_asker


def ask(asker: Asker, parse=lambda reply: require_text(reply, "answer")):
    return asker.ask(
        template="slow_update",
        user="the question",
        max_tokens=123,
        reply_format="slow_update",
        stage="slow_update",
        label="t",
        parse=parse,
    )


def test_a_usable_first_reply_is_parsed_with_one_call():
    asker, backend = make_asker([{"answer": "  forty-two  "}])
    answer = ask(asker)
    assert answer.ok and answer.value == "forty-two"
    assert answer.calls == 1 and len(answer.keys) == 1
    request = backend.requests[0]
    assert request.model == "test-model" and request.max_tokens == 123
    assert request.temperature == 0.3 and request.reply_format == "slow_update"
    system = request.messages[0]
    assert system["role"] == "system"
    assert system["content"] == asker.prompts.get("slow_update").text
    assert request.messages[1] == {"role": "user", "content": "the question"}


def test_an_unusable_reply_is_asked_for_again_with_the_reason():
    asker, backend = make_asker(["no json here", {"wrong": 1}, '```json\n{"answer": "ok"}\n```'])
    answer = ask(asker)
    assert answer.ok and answer.value == "ok"
    assert answer.calls == 3 and len(set(answer.keys)) == 3
    second, third = backend.requests[1], backend.requests[2]
    # the follow-up carries the bad reply and says what was wrong with it
    assert second.messages[-2] == {"role": "assistant", "content": "no json here"}
    assert "no parseable JSON object" in second.messages[-1]["content"]
    assert third.messages[-2]["content"] == json.dumps({"wrong": 1})
    assert "'answer' must be a non-empty string" in third.messages[-1]["content"]
    assert len(third.messages) == 6  # system, user, then two (reply, correction) pairs


def test_replies_that_never_parse_give_an_error_not_an_exception():
    asker, backend = make_asker(["nope"] * 3, parse_retries=2)
    answer = ask(asker)
    assert not answer.ok and answer.value is None
    assert answer.calls == 3 == len(backend.requests)
    assert "no usable slow_update reply after 3 attempts" in answer.error
    assert "no parseable JSON object" in answer.error


def test_zero_parse_retries_makes_exactly_one_attempt():
    asker, backend = make_asker(["nope"], parse_retries=0)
    answer = ask(asker)
    assert not answer.ok and answer.calls == 1 and len(backend.requests) == 1


def test_a_failed_call_is_returned_as_an_error_without_retrying():
    asker, backend = make_asker([{"answer": ""}, LLMError("HTTP 500 from server")])
    answer = ask(asker)
    assert not answer.ok
    assert answer.error == "slow_update call failed: HTTP 500 from server"
    assert answer.calls == 1 and len(answer.keys) == 1  # the failed call has no record
    assert len(backend.requests) == 2


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_parse_retries_must_be_a_non_negative_integer(value):
    with pytest.raises(ConfigError, match="model.parse_retries"):
        make_asker([], parse_retries=value)


def test_followup_request_keeps_every_setting():
    request = ChatRequest(
        model="m",
        messages=({"role": "system", "content": "s"}, {"role": "user", "content": "u"}),
        max_tokens=7,
        reply_format="ranking:patch",
        temperature=0.0,
        response_schema={"type": "object"},
    )
    follow = followup_request(request, "bad", "why")
    assert (follow.model, follow.max_tokens, follow.reply_format) == ("m", 7, "ranking:patch")
    assert follow.temperature == 0.0 and follow.response_schema == {"type": "object"}
    assert follow.messages[:2] == request.messages
    assert follow.messages[2] == {"role": "assistant", "content": "bad"}
    assert follow.messages[3]["role"] == "user" and "why" in follow.messages[3]["content"]
    assert follow.key("b") != request.key("b")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ([], "expected a JSON object, got list"),
        ({}, "'k' must be a non-empty string"),
        ({"k": "   "}, "'k' must be a non-empty string"),
        ({"k": 3}, "'k' must be a non-empty string"),
    ],
)
def test_require_text_refuses_missing_or_blank_values(reply, message):
    with pytest.raises(ReplyError, match=message):
        require_text(reply, "k")


def test_require_text_strips():
    assert require_text({"k": "\n text \n"}, "k") == "text"
