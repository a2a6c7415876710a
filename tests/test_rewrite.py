"""Stage UPDATE in the rewrite modes: `rewrite_from_suggestions`, `pick_candidate` and
`keep_protected` (spec §5.2-5.3). Unlike SkillOpt, a rewrite cannot drop, edit or double the
protected slow-update and appendix blocks (§13 item 11), and a failure is an error value."""

from __future__ import annotations

import pytest

from skillopt.base.errors import LLMError
from skillopt.base.skill import (
    APPENDIX_END,
    APPENDIX_START,
    SLOW_UPDATE_END,
    SLOW_UPDATE_START,
    keep_protected,
    protected_regions,
)
from skillopt.engine.train.rewrite import pick_candidate, rewrite_from_suggestions
from tests.scripted import make_asker

SLOW = f"{SLOW_UPDATE_START}\n- Keep answers short.\n{SLOW_UPDATE_END}"
APPENDIX = f"{APPENDIX_START}\n## Execution Notes Appendix\n- note\n{APPENDIX_END}"
BODY = "# Skill\n\n- Answer briefly.\n"
SKILL = f"{BODY}\n{SLOW}\n\n{APPENDIX}\n"
SUGGESTIONS = [
    {"type": "add_rule", "title": "Dates", "instruction": "Write dates as YYYY-MM-DD."},
    {"type": "clarify", "title": "Names", "instruction": "Give names first name first."},
]


def rewrite(script, *, skill=SKILL, suggestions=SUGGESTIONS, step_context=""):
    asker, backend = make_asker(script)
    outcome = rewrite_from_suggestions(
        skill=skill,
        suggestions=suggestions,
        asker=asker,
        max_tokens=4321,
        step_context=step_context,
    )
    return outcome, backend


# ------------------------------------------------------------------ keep_protected


def test_a_rewrite_that_keeps_the_blocks_is_left_alone():
    new = f"# Better skill\n\n- Rule.\n\n{SLOW}\n\n{APPENDIX}\n"
    assert keep_protected(SKILL, new) == (new, 0)


def test_blocks_may_move_as_long_as_they_are_verbatim():
    new = f"{SLOW}\n\n# Skill\n\n{APPENDIX}\n\n- Rule at the end.\n"
    assert keep_protected(SKILL, new) == (new, 0)


def test_dropped_blocks_are_appended_again():
    result, restored = keep_protected(SKILL, "# New skill\n\n- Rule.\n\n\n")
    assert restored == 2
    assert result == f"# New skill\n\n- Rule.\n\n{SLOW}\n\n{APPENDIX}\n"


def test_an_altered_block_is_replaced_by_the_original_in_place_not_doubled():
    altered = f"{SLOW_UPDATE_START}\n- Keep answers short!!\n{SLOW_UPDATE_END}"
    new = f"# New\n\n{altered}\n\n- Tail rule.\n\n{APPENDIX}\n"
    result, restored = keep_protected(SKILL, new)
    assert restored == 1
    assert result == f"# New\n\n{SLOW}\n\n- Tail rule.\n\n{APPENDIX}\n"
    assert result.count(SLOW_UPDATE_START) == 1 and "!!" not in result


def test_a_block_copied_twice_is_kept_once():
    new = f"# New\n\n{SLOW}\n\n- Middle.\n\n{SLOW}\n\n{APPENDIX}\n"
    result, restored = keep_protected(SKILL, new)
    assert restored == 0
    assert result == f"# New\n\n{SLOW}\n\n- Middle.\n\n{APPENDIX}\n"


def test_a_block_the_rewrite_invented_is_removed():
    invented = f"{SLOW_UPDATE_START}\n- Self-protected rule.\n{SLOW_UPDATE_END}"
    result, restored = keep_protected(BODY, f"# New\n\n{invented}\n\n- Rule.\n")
    assert (result, restored) == ("# New\n\n- Rule.\n", 0)
    assert protected_regions(result) == []


def test_stray_markers_do_not_survive_a_restore():
    new = f"# New\n{SLOW_UPDATE_START}\n- Rule.\n"
    result, restored = keep_protected(SKILL, new)
    assert restored == 2
    assert result.count(SLOW_UPDATE_START) == 1
    assert [result[s:e] for s, e in protected_regions(result)] == [SLOW, APPENDIX]


def test_without_blocks_nothing_changes_but_the_final_newline():
    assert keep_protected(BODY, "# New\n\n- Rule.   \n\n\n") == ("# New\n\n- Rule.\n", 0)


# ------------------------------------------------------------ rewrite_from_suggestions


def test_no_suggestions_means_no_call_and_no_skill():
    outcome, backend = rewrite([], suggestions=[])
    assert outcome.new_skill is None and outcome.error == "no suggestions selected"
    assert backend.requests == []


def test_the_rewritten_skill_is_normalised_and_described():
    reply = {
        "reasoning": "added two rules",
        "change_summary": ["dates", "names"],
        "new_skill": f"# Skill v2\n\n- Dates as YYYY-MM-DD.\n\n{SLOW}\n\n{APPENDIX}\n\n\n",
    }
    outcome, backend = rewrite([reply])
    assert outcome.error is None and outcome.restored_blocks == 0
    assert outcome.new_skill == f"# Skill v2\n\n- Dates as YYYY-MM-DD.\n\n{SLOW}\n\n{APPENDIX}\n"
    assert outcome.change_summary == ["dates", "names"]
    assert outcome.reasoning == "added two rules"
    assert outcome.to_json()["new_skill"] == outcome.new_skill
    request = backend.requests[0]
    assert request.reply_format == "rewrite_skill" and request.max_tokens == 4321
    assert request.messages[0]["content"] == make_asker([])[0].prompts.get("rewrite_skill").text


def test_the_user_message_holds_skill_suggestions_and_step_context():
    reply = {"new_skill": SKILL}
    _, backend = rewrite([reply], step_context="### Step 1 — REJECT (2/4 failed)\n")
    user = backend.user()
    assert user.startswith(f"## Current Skill\n{SKILL.rstrip()}\n\n")
    assert "## Selected Revise Suggestions (2 total)\n" in user
    assert '"instruction": "Write dates as YYYY-MM-DD."' in user
    assert "## Previous Steps in This Epoch\n### Step 1 — REJECT (2/4 failed)" in user
    assert user.index("Suggestions") < user.index("Previous Steps") < user.index("new_skill")
    assert "Optimizer Meta Skill" not in user  # the meta skill is not used by the rewrite
    _, plain = rewrite([reply])
    assert "Previous Steps in This Epoch" not in plain.user()


def test_a_rewrite_that_drops_the_slow_update_block_gets_it_back():
    outcome, _ = rewrite([{"new_skill": "# Rewritten\n\n- Everything new.\n"}])
    assert outcome.restored_blocks == 2
    assert outcome.new_skill.startswith("# Rewritten\n\n- Everything new.\n\n")
    assert SLOW in outcome.new_skill and APPENDIX in outcome.new_skill


def test_an_unusable_reply_is_asked_again_then_gives_none_with_the_error():
    replies = [{"new_skill": "  "}, {"new_skill": "x", "change_summary": "dates"}, "no json"]
    outcome, backend = rewrite(replies)
    assert len(backend.requests) == 3
    assert "'change_summary' must be a list" in backend.requests[2].messages[-1]["content"]
    assert outcome.new_skill is None
    assert outcome.error.startswith("no usable rewrite reply after 3 attempts")


def test_a_failed_call_gives_none_with_the_error():
    outcome, _ = rewrite([LLMError("timeout")])
    assert outcome.new_skill is None and outcome.error == "rewrite call failed: timeout"


# ------------------------------------------------------------------ pick_candidate


def test_the_first_candidate_with_a_skill_is_picked():
    candidates = [
        {"title": "empty", "new_skill": "   "},
        {"title": "no skill"},
        {
            "title": "good",
            "change_summary": ["a", 2],
            "new_skill": f"# Good\n\n{SLOW}\n\n{APPENDIX}",
        },
        {"title": "later", "new_skill": "# Later\n"},
    ]
    outcome = pick_candidate(SKILL, candidates)
    assert outcome.new_skill == f"# Good\n\n{SLOW}\n\n{APPENDIX}\n"
    assert outcome.reasoning == "good" and outcome.change_summary == ["a", "2"]
    assert outcome.restored_blocks == 0 and outcome.error is None


def test_a_candidate_loses_no_protected_block():
    outcome = pick_candidate(SKILL, [{"new_skill": "# Only the body\n"}])
    assert outcome.restored_blocks == 2
    assert [outcome.new_skill[s:e] for s, e in protected_regions(outcome.new_skill)] == [
        SLOW,
        APPENDIX,
    ]


@pytest.mark.parametrize("candidates", [[], [{"new_skill": ""}, {"title": "x"}]])
def test_no_usable_candidate_gives_none_with_the_error(candidates):
    outcome = pick_candidate(SKILL, candidates)
    assert outcome.new_skill is None
    assert outcome.error == "no merged candidate holds a non-empty new_skill"
