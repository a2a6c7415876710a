from __future__ import annotations

import hashlib

import pytest

from skillopt.base.skill import (
    APPENDIX_END,
    APPENDIX_START,
    SLOW_UPDATE_END,
    SLOW_UPDATE_START,
    normalize_skill,
    protected_regions,
    skill_hash,
    slow_update_guidance,
    with_empty_slow_update_block,
    with_slow_update_block,
)
from skillopt.engine.train.update import apply_edits

SKILL = """\
# Skill: Answering questions from passages

Answer the question using only the supplied passages.

## Numbers and dates

- Copy numbers exactly as written, including units.
- Do not round unless the question asks you to.


## Answer format

- Give the final answer in your last message.
- Do not include citations.
"""

GUIDANCE = "- Units were dropped in 4 of 20 tasks last epoch; always keep the unit."

SKILL_WITH_SLOW = SKILL.rstrip() + f"\n\n{SLOW_UPDATE_START}\n{GUIDANCE}\n{SLOW_UPDATE_END}\n"

SKILL_WITH_BOTH = (
    SKILL.rstrip()
    + f"\n\n{SLOW_UPDATE_START}\n{GUIDANCE}\n{SLOW_UPDATE_END}\n"
    + f"\n{APPENDIX_START}\n- Prefer the passage that names the subject.\n{APPENDIX_END}\n"
)


def one(skill: str, **edit):
    result = apply_edits(skill, [edit])
    assert len(result.reports) == 1
    return result, result.reports[0]


# --- append -----------------------------------------------------------------------------------


def test_append_without_protected_block_goes_to_the_end():
    result, row = one(SKILL, op="append", content="  ## Lists\n\n- Keep the passage order.  \n")
    assert row.status == "applied_append"
    assert result.skill == SKILL.rstrip() + "\n\n## Lists\n\n- Keep the passage order.\n"
    assert result.changed


def test_append_lands_before_the_slow_update_block():
    result, row = one(SKILL_WITH_SLOW, op="append", content="- Answer in plain text.")
    assert row.status == "applied_append_before_protected_region"
    assert result.skill == (
        SKILL.rstrip()
        + "\n\n- Answer in plain text.\n\n"
        + f"{SLOW_UPDATE_START}\n{GUIDANCE}\n{SLOW_UPDATE_END}\n"
    )
    assert slow_update_guidance(result.skill) == GUIDANCE


def test_append_ignores_its_target_even_inside_a_block():
    """SkillOpt dropped such appends; an append never touches its target."""
    result, row = one(SKILL_WITH_SLOW, op="append", target="keep the unit", content="- New rule.")
    assert row.status == "applied_append_before_protected_region"
    assert "- New rule.\n\n" + SLOW_UPDATE_START in result.skill


def test_missing_op_means_append():
    result, row = one(SKILL, content="- A default rule.")
    assert (row.op, row.status) == ("append", "applied_append")
    assert result.skill.endswith("- Do not include citations.\n\n- A default rule.\n")


def test_markers_are_removed_from_content():
    result, row = one(
        SKILL,
        op="append",
        content=f"{SLOW_UPDATE_START}- Sneaky rule.{SLOW_UPDATE_END}{APPENDIX_START}",
    )
    assert row.status == "applied_append"
    assert result.skill.endswith("\n\n- Sneaky rule.\n")
    assert protected_regions(result.skill) == []


@pytest.mark.parametrize("op", ["append", "insert_after"])
def test_empty_content_is_skipped(op):
    result, row = one(SKILL, op=op, target="", content=f"  {SLOW_UPDATE_END}\n ")
    assert row.status == "skipped_empty_content"
    assert result.skill == SKILL and not result.changed


# --- insert_after -------------------------------------------------------------------------------


def test_insert_after_goes_after_the_line_where_the_target_ends():
    result, row = one(
        SKILL,
        op="insert_after",
        target="Copy numbers exactly",
        content="- Keep thousands separators.",
    )
    assert row.status == "applied_insert_after"
    assert (
        "- Copy numbers exactly as written, including units.\n\n"
        "- Keep thousands separators.\n"
        "- Do not round unless the question asks you to.\n"
    ) in result.skill


def test_insert_after_the_last_line_without_newline():
    skill = SKILL.rstrip()
    result, row = one(skill, op="insert_after", target="citations.", content="- Be brief.")
    assert row.status == "applied_insert_after"
    assert result.skill == skill + "\n\n- Be brief.\n"


def test_insert_after_without_target_falls_back_to_append():
    result, row = one(SKILL, op="insert_after", content="- Fallback rule.")
    assert row.status == "applied_insert_after_fallback_append"
    assert result.skill.endswith("citations.\n\n- Fallback rule.\n")
    result, row = one(SKILL_WITH_SLOW, op="insert_after", target="", content="- Fallback rule.")
    assert row.status == "applied_insert_after_fallback_before_protected_region"
    assert "- Fallback rule.\n\n" + SLOW_UPDATE_START in result.skill


def test_insert_after_with_unknown_target_is_skipped_not_appended():
    result, row = one(
        SKILL, op="insert_after", target="## Lists", content="- Keep the passage order."
    )
    assert row.status == "skipped_insert_after_target_not_found"
    assert result.skill == SKILL


# --- replace / delete ---------------------------------------------------------------------------


def test_replace_first_occurrence_only():
    skill = SKILL + "\n## Reminder\n\n- Do not include citations.\n"
    result, row = one(
        skill,
        op="replace",
        target="- Do not include citations.",
        content="- Never cite passage numbers.",
    )
    assert row.status == "applied_replace"
    assert result.skill.count("- Never cite passage numbers.") == 1
    assert result.skill.index("Never cite") < result.skill.index("## Reminder")
    assert result.skill.endswith("## Reminder\n\n- Do not include citations.\n")


def test_replace_is_case_sensitive():
    result, row = one(SKILL, op="replace", target="## answer format", content="## Output")
    assert row.status == "skipped_replace_target_not_found"
    assert result.skill == SKILL


def test_replace_and_delete_need_a_target():
    assert one(SKILL, op="replace", content="x")[1].status == "skipped_replace_missing_target"
    assert one(SKILL, op="delete", target="")[1].status == "skipped_delete_missing_target"
    assert one(SKILL, op="delete", target="nope")[1].status == "skipped_delete_target_not_found"


def test_delete_removes_the_text_and_leaves_blank_lines():
    result, row = one(SKILL, op="delete", target="- Do not round unless the question asks you to.")
    assert row.status == "applied_delete"
    assert "- Copy numbers exactly as written, including units.\n\n\n\n## Answer format" in (
        result.skill
    )


# --- protection ---------------------------------------------------------------------------------


def test_regions_cover_every_marker_pair():
    skill = SKILL_WITH_BOTH + f"\n{SLOW_UPDATE_START}\nsecond block\n{SLOW_UPDATE_END}\n"
    regions = protected_regions(skill)
    assert len(regions) == 3
    texts = [skill[a:b] for a, b in regions]
    assert texts[0].startswith(SLOW_UPDATE_START) and texts[0].endswith(SLOW_UPDATE_END)
    assert texts[1].startswith(APPENDIX_START) and texts[1].endswith(APPENDIX_END)
    assert "second block" in texts[2]
    assert regions == sorted(regions)


def test_unclosed_marker_protects_nothing():
    assert protected_regions(SKILL + f"\n{SLOW_UPDATE_START}\ntrailing text\n") == []
    assert protected_regions(SKILL + f"\n{APPENDIX_END}\n") == []


@pytest.mark.parametrize("op", ["insert_after", "replace", "delete"])
def test_target_inside_a_block_is_protected(op):
    result, row = one(SKILL_WITH_BOTH, op=op, target="names the subject", content="- Changed.")
    assert row.status == "skipped_protected_region"
    assert result.skill == SKILL_WITH_BOTH


def test_only_the_first_occurrence_decides_protection():
    skill = SKILL_WITH_SLOW.replace(GUIDANCE, "- Do not include citations.")
    # first occurrence is in the normal text: the edit applies there, the block is untouched
    result, row = one(
        skill, op="replace", target="- Do not include citations.", content="- No citations."
    )
    assert row.status == "applied_replace"
    assert slow_update_guidance(result.skill) == "- Do not include citations."
    # the only occurrence is in the second block (appendix): protected even though the slow block
    # is the first region
    result, row = one(SKILL_WITH_BOTH, op="delete", target="Prefer the passage")
    assert row.status == "skipped_protected_region"


def test_target_straddling_a_marker_is_protected():
    target = f"citations.\n\n{SLOW_UPDATE_START}"
    result, row = one(SKILL_WITH_SLOW, op="replace", target=target, content="citations.")
    assert row.status == "skipped_protected_region"
    assert result.skill == SKILL_WITH_SLOW


# --- ordering, errors, reports ------------------------------------------------------------------


def test_edits_apply_in_order_on_the_previous_result():
    edits = [
        {"op": "insert_after", "target": "## Answer format", "content": "- Lead with the answer."},
        {
            "op": "replace",
            "target": "Lead with the answer.",
            "content": "Lead with the answer only.",
        },
        {"op": "insert_after", "target": "answer only.", "content": "- Then stop."},
        {"op": "delete", "target": "- Then stop.\n"},
        {"op": "delete", "target": "- Then stop."},
    ]
    result = apply_edits(SKILL, edits)
    assert [r.status for r in result.reports] == [
        "applied_insert_after",
        "applied_replace",
        "applied_insert_after",
        "applied_delete",
        "skipped_delete_target_not_found",
    ]
    assert "## Answer format\n\n- Lead with the answer only.\n\n" in result.skill
    assert "Then stop" not in result.skill
    assert [r.index for r in result.reports] == [1, 2, 3, 4, 5]


def test_bad_edits_are_reported_and_do_not_stop_the_rest():
    edits = [
        ["op", "append"],
        {"op": "rewrite", "target": "x", "content": "y"},
        {"op": "replace", "target": 42, "content": "y"},
        {"op": " APPEND ", "content": "- Still applied."},
    ]
    result = apply_edits(SKILL, edits)
    rows = result.reports
    assert rows[0].status == "error" and "mapping" in rows[0].error and "list" in rows[0].error
    assert rows[1].status == "skipped_unknown_op" and rows[1].op == "rewrite"
    assert rows[2].status == "error" and "target must be a string" in rows[2].error
    assert rows[3].status == "applied_append" and rows[3].op == "append"
    assert result.skill.endswith("- Still applied.\n")
    assert result.counts().to_json() == {"total": 4, "applied": 1, "skipped": 1, "errors": 2}
    assert "error" not in rows[3].to_json()
    assert rows[0].to_json()["error"] == rows[0].error


def test_report_rows_are_cut_to_200_chars():
    long = "x" * 500
    result, row = one(SKILL, op="replace", target=long, content=" " + long + " ")
    assert row.status == "skipped_replace_target_not_found"
    assert row.to_json() == {
        "index": 1,
        "op": "replace",
        "target": "x" * 200,
        "content_preview": "x" * 200,
        "status": "skipped_replace_target_not_found",
    }


def test_no_edits_means_no_change():
    result = apply_edits(SKILL, [])
    assert result.skill == SKILL and not result.changed
    assert result.counts().to_json() == {"total": 0, "applied": 0, "skipped": 0, "errors": 0}


def test_replacing_text_by_itself_is_applied_but_unchanged():
    result, row = one(SKILL, op="replace", target="## Answer format", content="## Answer format")
    assert row.status == "applied_replace"
    assert not result.changed


# --- slow-update helpers ------------------------------------------------------------------------


def test_guidance_is_read_from_the_first_block():
    assert slow_update_guidance(SKILL) == ""
    assert slow_update_guidance(SKILL_WITH_BOTH) == GUIDANCE
    assert slow_update_guidance(with_empty_slow_update_block(SKILL)) == ""


def test_empty_placeholder_block():
    skill = with_empty_slow_update_block(SKILL)
    assert skill == SKILL.rstrip() + f"\n\n{SLOW_UPDATE_START}\n{SLOW_UPDATE_END}\n"
    # idempotent: a second placeholder replaces the first
    assert with_empty_slow_update_block(skill) == skill
    assert with_slow_update_block(SKILL, "   ") == skill


def test_new_block_replaces_old_and_keeps_other_blank_lines():
    updated = with_slow_update_block(SKILL_WITH_SLOW, "  - Check units first.\n")
    assert (
        updated
        == SKILL.rstrip() + f"\n\n{SLOW_UPDATE_START}\n- Check units first.\n{SLOW_UPDATE_END}\n"
    )
    # the double blank line before "## Answer format" is the author's and survives (SkillOpt
    # collapsed every triple newline in the document)
    assert "asks you to.\n\n\n## Answer format" in updated
    assert slow_update_guidance(updated) == "- Check units first."


def test_blocks_in_the_middle_and_orphan_markers_are_all_removed():
    skill = (
        "# Skill\n\n- Rule one.\n\n"
        f"{SLOW_UPDATE_START}\nold guidance A\n{SLOW_UPDATE_END}\n\n"
        "- Rule two.\n"
        f"{SLOW_UPDATE_END}\n"
        "- Rule three.\n\n\n"
        "## Tail\n\n"
        f"{SLOW_UPDATE_START}\nhalf-written guidance\n"
    )
    updated = with_slow_update_block(skill, "new guidance")
    assert updated == (
        "# Skill\n\n- Rule one.\n\n- Rule two.\n- Rule three.\n\n\n## Tail\n\n"
        "half-written guidance\n\n"
        f"{SLOW_UPDATE_START}\nnew guidance\n{SLOW_UPDATE_END}\n"
    )
    assert updated.count(SLOW_UPDATE_START) == 1 and updated.count(SLOW_UPDATE_END) == 1


def test_slow_block_update_leaves_the_appendix_alone():
    updated = with_slow_update_block(SKILL_WITH_BOTH, "fresh")
    assert (
        f"{APPENDIX_START}\n- Prefer the passage that names the subject.\n{APPENDIX_END}" in updated
    )
    assert GUIDANCE not in updated
    assert updated.endswith(f"{SLOW_UPDATE_START}\nfresh\n{SLOW_UPDATE_END}\n")
    assert len(protected_regions(updated)) == 2


def test_block_content_cannot_smuggle_markers():
    updated = with_slow_update_block(SKILL, f"a {SLOW_UPDATE_END} b {APPENDIX_START}")
    assert updated.count(SLOW_UPDATE_END) == 1
    assert APPENDIX_START not in updated


# --- hash / normalize ---------------------------------------------------------------------------


def test_normalize_and_hash():
    assert normalize_skill("# S\n\n- a  \n\n\n") == "# S\n\n- a\n"
    assert normalize_skill("# S") == "# S\n"
    assert skill_hash(SKILL) == hashlib.sha256(SKILL.encode()).hexdigest()[:16]
    assert len(skill_hash(SKILL)) == 16
    assert skill_hash(SKILL) != skill_hash(SKILL + " ")
