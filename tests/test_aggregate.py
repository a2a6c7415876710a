"""Stage AGGREGATE (`merge_patches`): hierarchical merge in name order, passthrough, fallback
concatenation with its error, and the final failure+success merge (spec §3)."""

from __future__ import annotations

import json
import random
import re

import pytest

from skillopt.base.errors import ConfigError, LLMError
from skillopt.base.modes import SPECS, UpdateMode
from skillopt.engine.train.aggregate import MergeSettings, Patch, merge_patches
from skillopt.llm.types import ChatRequest
from tests.scripted import make_asker

PATCH = SPECS[UpdateMode.PATCH]
SKILL = "# Skill\n\n- Answer briefly.\n"


def edit(text: str, **extra) -> dict:
    return {"op": "append", "content": text, **extra}


def fail_patch(i: int, *texts: str) -> Patch:
    items = [edit(t, source_type="failure") for t in (texts or (f"rule f{i}",))]
    return Patch(name=f"minibatch_fail_{i:03d}", source_type="failure", items=items)


def succ_patch(i: int, *texts: str) -> Patch:
    items = [edit(t, source_type="success") for t in (texts or (f"rule s{i}",))]
    return Patch(name=f"minibatch_succ_{i:03d}", source_type="success", items=items)


def patches_in(request: ChatRequest) -> list[dict]:
    """The JSON list of inner patches (or groups) that a merge request shows."""
    user = next(m["content"] for m in request.messages if m["role"] == "user")
    header = re.search(r"^## (Patches to merge|Groups to combine).*$", user, re.M)
    assert header is not None, user
    start = user.index("[", header.end())
    return json.JSONDecoder().raw_decode(user, start)[0]


def concatenate(request: ChatRequest) -> dict:
    """A merge that keeps every input item (so the levels can be traced by content)."""
    items = [it for patch in patches_in(request) for it in patch["edits"]]
    return {"reasoning": f"kept {len(items)}", "edits": items}


def merge(patches, script, *, batch=2, meta="", spec=PATCH, parse_retries=2):
    asker, backend = make_asker(script, parse_retries=parse_retries)
    outcome = merge_patches(
        skill=SKILL,
        patches=patches,
        spec=spec,
        asker=asker,
        settings=MergeSettings(merge_batch_size=batch, workers=4),
        meta_skill=meta,
    )
    return outcome, backend


def test_no_patches_means_no_call_and_no_items():
    outcome, backend = merge([], [])
    assert outcome.items == [] and outcome.records == []
    assert outcome.reasoning == "no updates from either group"
    assert backend.requests == []


def test_patches_without_items_are_ignored():
    empty = Patch(name="minibatch_fail_001", source_type="failure", items=[])
    outcome, backend = merge([fail_patch(0), empty], [])
    assert backend.requests == []
    assert [r.status for r in outcome.records] == ["passthrough"]
    assert outcome.records[0].inputs == ["minibatch_fail_000"]


def test_a_single_patch_passes_through_unchanged_without_a_call():
    only = fail_patch(0, "a", "b")
    outcome, backend = merge([only], [])
    assert backend.requests == []
    assert outcome.items == only.items  # no merge_level added
    assert all("merge_level" not in it for it in outcome.items)
    assert outcome.reasoning == "failure group only"
    (record,) = outcome.records
    assert (record.status, record.items_in, record.items_out) == ("passthrough", 2, 2)


def test_groups_follow_name_order_whatever_the_input_order():
    patches = [fail_patch(i) for i in range(5)]
    random.Random(3).shuffle(patches)
    outcome, backend = merge(patches, concatenate, batch=2)
    merged = [r for r in outcome.records if r.status == "merged"]
    # level 1: (0,1) (2,3), 4 alone passes; level 2: (01,23), 4 passes; level 3: (0123, 4)
    assert [(r.level, r.inputs) for r in merged] == [
        (1, ["minibatch_fail_000", "minibatch_fail_001"]),
        (1, ["minibatch_fail_002", "minibatch_fail_003"]),
        (2, ["failure_L1_000", "failure_L1_001"]),
        (3, ["failure_L2_000", "minibatch_fail_004"]),
    ]
    assert len(backend.requests) == 4
    assert all(f == "merge:failure:patch" for f in backend.formats())
    assert [it["content"] for it in outcome.items] == [f"rule f{i}" for i in range(5)]
    # the last merge sets merge_level on every item, overwriting earlier levels
    assert {it["merge_level"] for it in outcome.items} == {3}
    # the first level-1 request shows its two patches in name order, with the level
    first = next(r for r in backend.requests if "merge level 1" in r.messages[1]["content"])
    shown = [p["edits"][0]["content"] for p in patches_in(first)]
    assert shown in (["rule f0", "rule f1"], ["rule f2", "rule f3"])


def test_one_level_merges_groups_of_merge_batch_size():
    outcome, backend = merge([fail_patch(i) for i in range(3)], concatenate, batch=8)
    assert len(backend.requests) == 1
    assert "## Patches to merge (3 total, merge level 1)" in backend.user()
    assert outcome.records[0].inputs == [f"minibatch_fail_{i:03d}" for i in range(3)]
    assert all(it["merge_level"] == 1 for it in outcome.items)


def test_merged_items_get_the_level_and_keep_or_get_a_source_type():
    reply = {"reasoning": "r", "edits": [edit("x", merge_level=7), edit("y", source_type="odd")]}
    outcome, _ = merge([succ_patch(0), succ_patch(1)], [reply])
    assert [(it["merge_level"], it["source_type"]) for it in outcome.items] == [
        (1, "success"),
        (1, "odd"),
    ]
    assert outcome.success_items == outcome.items and outcome.failure_items == []


def test_invalid_items_are_dropped_and_counted():
    reply = {"edits": [edit("ok"), {"op": "replace", "content": "no target"}]}
    outcome, _ = merge([fail_patch(0), fail_patch(1)], [reply])
    assert [it["content"] for it in outcome.items] == ["ok"]
    assert outcome.records[0].dropped == 1 and outcome.records[0].status == "merged"


def test_a_reply_with_only_invalid_items_is_asked_for_again():
    bad = {"edits": [{"op": "replace", "content": "no target"}]}
    outcome, backend = merge([fail_patch(0), fail_patch(1)], [bad, {"edits": [edit("good")]}])
    assert len(backend.requests) == 2
    assert "no edits item is valid" in backend.requests[1].messages[-1]["content"]
    assert [it["content"] for it in outcome.items] == ["good"]


def test_an_unusable_merge_falls_back_to_concatenation_and_records_why():
    first = fail_patch(0, "a")
    second = Patch(
        name="minibatch_fail_001",
        source_type="failure",
        items=[edit("b", source_type="failure", merge_level=4)],
    )
    outcome, backend = merge([second, first], ["not json"] * 3, parse_retries=2)
    assert len(backend.requests) == 3
    # input order (by name), merge_level filled in only where it was missing
    assert [(it["content"], it["merge_level"]) for it in outcome.items] == [("a", 1), ("b", 4)]
    (record,) = outcome.records
    assert record.status == "fallback" and outcome.fallbacks == 1
    assert "no usable merge reply after 3 attempts" in record.error
    assert record.to_json()["error"] == record.error


def test_a_failed_merge_call_falls_back_and_records_the_error():
    outcome, backend = merge([fail_patch(0), fail_patch(1)], [LLMError("connection refused")])
    assert len(backend.requests) == 1
    assert [it["content"] for it in outcome.items] == ["rule f0", "rule f1"]
    assert outcome.records[0].error == "merge call failed: connection refused"


def test_final_merge_runs_only_when_both_groups_have_items():
    final = {"reasoning": "combined", "edits": [edit("final rule", source_type="failure")]}
    outcome, backend = merge([succ_patch(0), fail_patch(0)], [final])
    assert backend.formats() == ["merge:final:patch"]
    user = backend.user()
    assert "Group 1 (from failed trajectories, higher priority): 1 edits" in user
    assert "Group 2 (from successful trajectories, lower priority): 1 edits" in user
    groups = patches_in(backend.requests[0])
    assert [g["source_type"] for g in groups] == ["failure", "success"]
    assert outcome.items == [edit("final rule", source_type="failure")]  # no merge_level here
    assert outcome.reasoning == "combined"
    assert [(r.group, r.status) for r in outcome.records] == [
        ("failure", "passthrough"),
        ("success", "passthrough"),
        ("final", "merged"),
    ]


def test_only_successes_skip_the_final_merge():
    outcome, backend = merge([succ_patch(0), succ_patch(1)], concatenate)
    assert backend.formats() == ["merge:success:patch"]
    assert outcome.reasoning == "success group only"
    assert all(r.group == "success" for r in outcome.records)


def test_a_failed_final_merge_puts_failure_items_first():
    outcome, backend = merge([succ_patch(0), fail_patch(0)], ["{}", "[]", "x"])
    assert len(backend.requests) == 3
    assert [it["content"] for it in outcome.items] == ["rule f0", "rule s0"]
    assert outcome.reasoning.startswith("fallback")
    final = outcome.records[-1]
    assert (final.group, final.status, final.items_out) == ("final", "fallback", 2)
    assert final.error.startswith("no usable merge reply after 3 attempts")


def test_the_meta_skill_is_prepended_to_merge_and_final_messages():
    final = {"edits": [edit("z")]}
    script = lambda r: concatenate(r) if r.reply_format != "merge:final:patch" else final  # noqa: E731
    _, backend = merge(
        [fail_patch(0), fail_patch(1), succ_patch(0)], script, meta="Prefer short rules."
    )
    assert backend.formats() == ["merge:failure:patch", "merge:final:patch"]
    for i in range(2):
        user = backend.user(i)
        assert user.startswith("## Optimizer Meta Skill\n")
        assert "Prefer short rules." in user
        assert user.index("Prefer short rules.") < user.index("## Current Skill")
    _, plain = merge([fail_patch(0), fail_patch(1)], concatenate)
    assert plain.user().startswith("## Current Skill\n# Skill")
    assert "Optimizer Meta Skill" not in plain.user()


@pytest.mark.parametrize(
    ("mode", "template", "tokens"),
    [
        (UpdateMode.PATCH, "merge_failure", 111),
        (UpdateMode.REWRITE_FROM_SUGGESTIONS, "merge_failure_rewrite", 111),
        (UpdateMode.FULL_REWRITE_MINIBATCH, "merge_failure_full_rewrite", 999),
    ],
)
def test_each_mode_uses_its_template_key_and_token_limit(mode, template, tokens):
    spec = SPECS[mode]
    item = {
        UpdateMode.PATCH: edit("a"),
        UpdateMode.REWRITE_FROM_SUGGESTIONS: {"type": "add_rule", "title": "t", "instruction": "i"},
        UpdateMode.FULL_REWRITE_MINIBATCH: {"title": "t", "new_skill": "# New\n"},
    }[mode]
    patches = [
        Patch(name=f"minibatch_fail_{i:03d}", source_type="failure", items=[item]) for i in (0, 1)
    ]
    asker, backend = make_asker([{spec.key: [item]}])
    outcome = merge_patches(
        skill=SKILL,
        patches=patches,
        spec=spec,
        asker=asker,
        settings=MergeSettings(merge_batch_size=2, max_tokens=111, full_rewrite_max_tokens=999),
    )
    request = backend.requests[0]
    assert request.max_tokens == tokens
    assert request.messages[0]["content"] == asker.prompts.get(template).text
    assert request.reply_format == f"merge:failure:{mode.value}"
    assert outcome.to_json(spec)[spec.key] == outcome.items and len(outcome.items) == 1


@pytest.mark.parametrize(
    ("kwargs", "key"), [({"merge_batch_size": 1}, "merge_batch_size"), ({"workers": 0}, "workers")]
)
def test_merge_settings_are_validated(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        MergeSettings(**kwargs)
