from __future__ import annotations

import pytest

from skillopt.base.errors import ConfigError, ReplyError
from skillopt.base.modes import (
    SPECS,
    UpdateMode,
    apply_budget,
    check_reply,
    normalize_update_mode,
    reply_model,
)

PATCH = SPECS[UpdateMode.PATCH]
REWRITE = SPECS[UpdateMode.REWRITE_FROM_SUGGESTIONS]
FULL = SPECS[UpdateMode.FULL_REWRITE_MINIBATCH]


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("patch", "patch"),
        (" Edits ", "patch"),
        ("rewrite", "rewrite_from_suggestions"),
        ("SUGGESTIONS", "rewrite_from_suggestions"),
        ("rewrite_suggestions", "rewrite_from_suggestions"),
        ("rewrite_from_suggestions", "rewrite_from_suggestions"),
        ("full_rewrite", "full_rewrite_minibatch"),
        ("minibatch_full_rewrite", "full_rewrite_minibatch"),
        ("skill_rewrite_minibatch", "full_rewrite_minibatch"),
        ("full_rewrite_minibatch", "full_rewrite_minibatch"),
    ],
)
def test_mode_names_and_aliases(name, mode):
    assert normalize_update_mode(name).value == mode


def test_unknown_mode_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        normalize_update_mode("pach")
    message = str(info.value)
    assert message.startswith("update_mode=pach: expected one of patch")
    for mode in UpdateMode:
        assert mode.value in message


def test_envelope_errors_are_reply_errors():
    for bad, match in [
        (["a list"], "expected a JSON object"),
        ({"edits": []}, "no 'patch' object"),
        ({"patch": {"edits": "x"}}, "patch.edits must be a list"),
        ({"patch": {"revise_suggestions": []}}, "patch.edits must be a list"),
    ]:
        with pytest.raises(ReplyError, match=match):
            check_reply(bad, PATCH)


def test_invalid_edits_are_dropped_with_reasons():
    reply = {
        "patch": {
            "edits": [
                {"op": "append", "content": "- new rule"},
                {"op": "REPLACE", "target": "old", "content": "new"},
                {"op": "insert_after", "content": "no anchor"},
                {"op": "delete", "target": "gone"},
                {"op": "rename", "target": "a", "content": "b"},
                {"op": "append", "content": "  "},
                "not an object",
                {"content": "default op is append", "support_count": 3},
            ]
        }
    }
    checked = check_reply(reply, PATCH)
    assert [e["op"] for e in checked.items] == ["append", "replace", "delete", "append"]
    assert checked.items[3]["support_count"] == 3  # unknown fields are kept
    assert [d.index for d in checked.dropped] == [2, 4, 5, 6]
    assert "needs a non-empty target" in checked.dropped[0].reason
    assert "op:" in checked.dropped[1].reason


def test_suggestions_and_candidates_are_validated():
    suggestions = check_reply(
        {
            "patch": {
                "revise_suggestions": [
                    {
                        "type": "add_rule",
                        "title": "Units",
                        "instruction": "Always give units",
                        "priority_hint": "HIGH",
                    },
                    {"type": "invent", "title": "x", "instruction": "y"},
                    {"type": "clarify", "title": "", "instruction": "y"},
                ]
            }
        },
        REWRITE,
    )
    assert [s["title"] for s in suggestions.items] == ["Units"]
    assert suggestions.items[0]["priority_hint"] == "high"
    assert len(suggestions.dropped) == 2
    candidates = check_reply(
        {"patch": {"skill_candidates": [{"title": "t", "new_skill": ""}, {"new_skill": "# S"}]}},
        FULL,
    )
    assert [c["new_skill"] for c in candidates.items] == ["# S"]


def test_budget_truncates_and_full_rewrite_keeps_one():
    items = [{"op": "append", "content": str(i)} for i in range(6)]
    assert apply_budget(items, spec=PATCH, edit_budget=4) == items[:4]
    assert apply_budget(items, spec=REWRITE, edit_budget=0) == []
    assert apply_budget(items, spec=PATCH, edit_budget=-1) == items
    assert apply_budget(items, spec=FULL, edit_budget=4) == items[:1]
    assert apply_budget(items, spec=FULL, edit_budget=-1) == items[:1]


def test_reply_models_describe_each_mode():
    for spec in SPECS.values():
        for kind, findings in [("failure", "failure_summary"), ("success", "success_patterns")]:
            schema = reply_model(spec, kind).model_json_schema()
            assert set(schema["required"]) == {"patch"}
            assert findings in schema["properties"]
            body = schema["$defs"][schema["properties"]["patch"]["$ref"].rsplit("/", 1)[1]]
            assert spec.key in body["required"]
