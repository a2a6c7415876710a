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
    assert extract_json(text) == {"patch": {"edits": []}}


def test_braces_inside_strings_do_not_confuse_the_scanner():
    text = 'Note {this is prose} then {"patch": {"reasoning": "use } and { freely", "edits": []}}'
    assert extract_json(text)["patch"]["reasoning"] == "use } and { freely"


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
