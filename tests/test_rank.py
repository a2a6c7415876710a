"""Stage SELECT (`rank_and_select`, `select_indices`): no call when the items fit, never more
than the budget (SkillOpt returned one item at budget 0), bad indices ignored, and a recorded
fallback to the first `budget` items (spec §4.3, §13 items 1 and 7)."""

from __future__ import annotations

import pytest

from skillopt.base.errors import LLMError
from skillopt.base.modes import SPECS, UpdateMode
from skillopt.engine.train.items import describe_item
from skillopt.engine.train.rank import rank_and_select, select_indices
from tests.scripted import make_asker

PATCH = SPECS[UpdateMode.PATCH]
SKILL = "# Skill\n\n- Answer briefly.\n"
ITEMS = [
    {"op": "append", "content": f"rule {i}", "source_type": "failure", "support_count": i}
    for i in range(5)
]


def rank(script, *, budget, items=ITEMS, spec=PATCH, meta="", parse_retries=2):
    asker, backend = make_asker(script, parse_retries=parse_retries)
    outcome = rank_and_select(
        skill=SKILL,
        items=items,
        budget=budget,
        spec=spec,
        asker=asker,
        max_tokens=321,
        meta_skill=meta,
    )
    return outcome, backend


@pytest.mark.parametrize("budget", [5, 9, -1])
def test_items_that_fit_the_budget_are_kept_without_a_call(budget):
    outcome, backend = rank([], budget=budget)
    assert backend.requests == []
    assert outcome.items == ITEMS and outcome.status == "within_budget"
    assert outcome.available == 5 and outcome.error is None


def test_budget_zero_selects_nothing_and_makes_no_call():
    outcome, backend = rank([], budget=0)
    assert backend.requests == []
    assert outcome.items == [] and outcome.status == "zero_budget"
    assert outcome.selected_indices == [] and outcome.available == 5


def test_budget_zero_with_no_items_is_empty_too():
    outcome, backend = rank([], budget=0, items=[])
    assert outcome.items == [] and backend.requests == []


def test_the_ranked_items_come_in_the_reply_order():
    outcome, backend = rank([{"reasoning": "why", "selected_indices": [3, 0]}], budget=2)
    assert outcome.status == "ranked" and outcome.error is None
    assert outcome.selected_indices == [3, 0]
    assert outcome.items == [ITEMS[3], ITEMS[0]]
    assert outcome.reasoning == "why"
    assert len(backend.requests) == 1


def test_more_indices_than_the_budget_are_cut_to_the_budget():
    outcome, _ = rank([{"selected_indices": [4, 3, 2, 1, 0]}], budget=1)
    assert outcome.items == [ITEMS[4]] and outcome.selected_indices == [4]


def test_bad_indices_are_skipped_and_the_rest_kept():
    reply = {"selected_indices": [True, 7, -1, "2", 2.0, 1, 1, 4, 0]}
    outcome, _ = rank([reply], budget=2)
    assert outcome.status == "ranked"
    assert outcome.selected_indices == [1, 4]


@pytest.mark.parametrize(
    ("raw", "budget", "expected"),
    [
        ([0, 1, 2], 0, []),  # SkillOpt appended before checking, returning one index here
        ([0, 1, 2], 2, [0, 1]),
        ([2, 2, 2, 0], 3, [2, 0]),
        ([5, -1, 4], 3, [4]),
        ([False, True, 1], 3, [1]),
        ([1.0, "0", None, [0], 3], 3, [3]),
        ([], 3, []),
    ],
)
def test_select_indices(raw, budget, expected):
    assert select_indices(raw, available=5, budget=budget) == expected


@pytest.mark.parametrize(
    "reply",
    [
        {"selected_indices": []},
        {"selected_indices": [9, -2, True]},
    ],
)
def test_a_selection_with_no_valid_index_falls_back_to_the_first_items(reply):
    outcome, backend = rank([reply], budget=3)
    assert len(backend.requests) == 1
    assert outcome.status == "fallback"
    assert outcome.items == ITEMS[:3] and outcome.selected_indices == [0, 1, 2]
    assert "selected no valid index" in outcome.error
    assert outcome.to_json(PATCH)["error"] == outcome.error


def test_unparseable_replies_are_retried_then_fall_back():
    outcome, backend = rank(["nope", {"indices": [1]}, {"selected_indices": "1"}], budget=2)
    assert len(backend.requests) == 3
    assert outcome.status == "fallback" and outcome.items == ITEMS[:2]
    assert "no usable ranking reply after 3 attempts" in outcome.error
    assert "'selected_indices' must be a list" in outcome.error


def test_a_failed_call_falls_back_and_records_the_error():
    outcome, _ = rank([LLMError("rate limited")], budget=1)
    assert outcome.status == "fallback" and outcome.items == ITEMS[:1]
    assert outcome.error == "ranking call failed: rate limited"


def test_the_prompt_lists_the_pool_with_the_budget():
    _, backend = rank([{"selected_indices": [0]}], budget=2)
    request = backend.requests[0]
    assert request.reply_format == "ranking:patch" and request.max_tokens == 321
    user = backend.user()
    assert user.startswith("## Current Skill\n# Skill")
    assert "## Edit Pool (5 edits, budget 2)" in user
    for i, item in enumerate(ITEMS):
        assert f"\n[{i}] {describe_item(item, UpdateMode.PATCH)}\n" in user + "\n"
    assert "Select the 2 most important edits" in user
    assert "Optimizer Meta Skill" not in user


def test_the_meta_skill_is_prepended():
    _, backend = rank([{"selected_indices": [0]}], budget=2, meta="Rank by support.")
    user = backend.user()
    assert user.startswith("## Optimizer Meta Skill\n")
    assert user.index("Rank by support.") < user.index("## Current Skill")


def test_suggestions_use_the_rewrite_ranking_template():
    spec = SPECS[UpdateMode.REWRITE_FROM_SUGGESTIONS]
    items = [{"type": "add_rule", "title": f"t{i}", "instruction": f"do {i}"} for i in range(3)]
    asker, backend = make_asker([{"selected_indices": [2]}])
    outcome = rank_and_select(skill=SKILL, items=items, budget=1, spec=spec, asker=asker)
    assert outcome.items == [items[2]]
    request = backend.requests[0]
    assert request.messages[0]["content"] == asker.prompts.get("ranking_rewrite").text
    assert request.reply_format == "ranking:rewrite_from_suggestions"
    assert "## Suggestion Pool (3 suggestions, budget 1)" in backend.user()


def test_full_rewrite_candidates_are_never_ranked():
    spec = SPECS[UpdateMode.FULL_REWRITE_MINIBATCH]
    items = [{"new_skill": "a"}, {"new_skill": "b"}]
    with pytest.raises(ValueError, match="not ranked"):
        rank([], budget=1, items=items, spec=spec)
