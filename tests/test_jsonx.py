from __future__ import annotations

import pytest

from skillopt.base.errors import ReplyError
from skillopt.engine.jsonx import extract_json


@pytest.mark.parametrize(
    "text",
    [
        '{"patch": {"edits": []}}',
        '  \n{"patch": {"edits": []}}\n',
        '```json\n{"patch": {"edits": []}}\n```',
        'Here you go:\n```JSON\n{"patch": {"edits": []}}\n```\nThanks.',
        '```Json\n{"patch": {"edits": []}}\n```',
        '```\n{"patch": {"edits": []}}\n```',
        'I analysed the batch. {"patch": {"edits": []}} Let me know.',
        'Result: {"patch": {"edits": []}} and again {"patch": {"edits": []}}',  # the same object twice
        '```json\n// notes\n{"patch": {"edits": []}}\n```',
    ],
)
def test_finds_the_single_object(text):
    assert extract_json(text).value == {"patch": {"edits": []}}


def test_braces_inside_strings_do_not_confuse_the_scanner():
    text = 'Note {this is prose} then {"patch": {"reasoning": "use } and { freely", "edits": []}}'
    assert extract_json(text).value["patch"]["reasoning"] == "use } and { freely"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("no json here", "no parseable JSON"),
        ("{op: delete}", "no parseable JSON"),
        ('{"a": 1} or maybe {"b": 2}', "2 different JSON objects"),
        ('```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', "2 different JSON objects"),
        ("[1, 2, 3]", "no parseable JSON"),
        ('```json\n["a"]\n```', "no parseable JSON"),
    ],
)
def test_refuses_missing_or_ambiguous(text, match):
    with pytest.raises(ReplyError, match=match):
        extract_json(text)


def test_a_strict_reply_is_not_marked_repaired():
    assert extract_json('{"patch": {"edits": []}}').repaired is False


@pytest.mark.parametrize(
    "text",
    [
        '{"patch": {"edits": [],},}',  # trailing commas
        "{'patch': {'edits': []}}",  # single quotes
        '```json\n{"patch": {"edits": []} // the edits\n}\n```',  # a line comment inside
        '{"patch": {"edits": []  /* none */ }}',  # a block comment inside
        'Here it is: {"patch": {"edits": [{"op": "append", "content": "x"}',  # cut-off tail
    ],
)
def test_near_json_is_repaired_and_said_so(text):
    found = extract_json(text)
    assert found.repaired is True
    assert "patch" in found.value and isinstance(found.value["patch"]["edits"], list)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 5000 + "]" * 5000, "nested 5000 levels deep"),
        ('{"a": ' * 3000 + "1" + "}" * 3000, "nested 3000 levels deep"),
        ('{"count": ' + "9" * 5000 + "}", "integer of 5000 digits"),
        ('{"count": NaN}', "NaN, which is not JSON"),
        ("word " * 400_000, "no parseable JSON"),  # two megabytes of prose
        (
            '```json\n{"a": 1,}\n```\n```json\n{"b": 2,}\n```',
            "2 different JSON objects after repair",
        ),
    ],
)
def test_pathological_replies_are_reasons_not_crashes(text, match):
    with pytest.raises(ReplyError, match=match):
        extract_json(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"text": "bad \\q escape"}',
        '{"text": "bad \\q escape"',
        '{"a": "\\ud800 lone surrogate"}',
        '{"a": 1e999999}',
        '{"a": -' + "1" * 200 + "}",
        "{" * 199 + "}" * 199,
        '\x00\x01{"a": [\x02]}',
        '"just a string"',
        "```json\n```",
        "{'a': [1, 2, {'b': None, 'c': True}]}",
    ],
)
def test_any_text_is_parsed_or_a_reply_error(text):
    try:
        found = extract_json(text)
    except ReplyError:
        return
    assert isinstance(found.value, dict)
