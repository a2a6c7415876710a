from __future__ import annotations

import json

import pytest

from skillopt.base.modes import UpdateMode
from skillopt.engine.train.items import describe_item, short_item_summary
from skillopt.engine.train.stepbuffer import (
    FailurePattern,
    StepEntry,
    build_entry,
    failure_patterns,
    render_step_buffer,
)

ROWS = [
    {"id": "qa-001", "hard": 1, "soft": 1.0},
    {"id": "qa-002", "hard": 0, "soft": 0.67, "fail_reason": "missing_unit: predicted '42'"},
    {"id": "qa-003", "hard": 0, "soft": 0.0, "fail_reason": "wrong_entity: said 'Costa'"},
    {"id": "qa-004", "hard": 0, "soft": 0.5, "fail_reason": "missing_unit: predicted '7'"},
    {"id": "qa-005", "hard": 0, "soft": 0.5, "fail_reason": "partial_list"},
    {"id": "qa-006", "hard": 0, "soft": 0.0},
    {"id": "qa-007", "hard": 0, "soft": 0.1, "fail_reason": "wrong_entity: said 'Hale'"},
    # partly correct: a success by the one failure rule (SkillOpt's), whatever its reason says
    {"id": "qa-008", "hard": 0.5, "soft": 0.5, "fail_reason": "partial_credit: half right"},
]

SUMMARIES = [
    {"failure_type": "Dropped units", "count": 2, "description": "answers omit km/kg"},
    {"failure_type": "Entity confusion", "count": 2, "description": "picks the wrong person"},
    {"failure_type": "Formatting", "count": 1, "description": "uses markdown"},
    "not a mapping",
    {"count": 3, "description": "no failure type"},
]

EDITS = [
    {"op": "append", "content": "- Always keep the unit.", "support_count": 3},
    {"op": "replace", "target": "- Do not round.", "content": 'Say "no"\nthen stop.'},
]


# --- failure patterns ---------------------------------------------------------------------------


def test_failures_are_grouped_by_reason_prefix_and_sorted():
    patterns = failure_patterns(ROWS, [])
    assert [(p.pattern, p.count, p.task_ids) for p in patterns] == [
        ("missing_unit", 2, ("qa-002", "qa-004")),
        ("wrong_entity", 2, ("qa-003", "qa-007")),
        ("partial_list", 1, ("qa-005",)),
        ("unknown", 1, ("qa-006",)),
    ]
    assert all(p.analyst_notes == () for p in patterns)


def test_notes_attach_by_shared_word_not_by_position():
    patterns = {p.pattern: p for p in failure_patterns(ROWS, SUMMARIES)}
    # "Dropped units" and "missing_unit" share no word of >= 3 letters ("units" != "unit")
    assert patterns["missing_unit"].analyst_notes == ()
    assert patterns["wrong_entity"].analyst_notes == ("Entity confusion: picks the wrong person",)
    assert patterns["partial_list"].analyst_notes == ()
    assert patterns["unknown"].analyst_notes == ()
    summaries = [*SUMMARIES, {"failure_type": "missing UNIT", "description": ""}]
    patterns = {p.pattern: p for p in failure_patterns(ROWS, summaries)}
    assert patterns["missing_unit"].analyst_notes == ("missing UNIT",)


def test_short_words_do_not_match():
    rows = [{"id": "a", "hard": 0, "fail_reason": "no_answer"}]
    notes = failure_patterns(rows, [{"failure_type": "no tool use", "description": "d"}])
    assert notes[0].analyst_notes == ()


def test_patterns_are_deterministic_under_row_order():
    forward = failure_patterns(ROWS, SUMMARIES)
    backward = failure_patterns(list(reversed(ROWS)), SUMMARIES)
    assert [(p.pattern, p.count, set(p.task_ids)) for p in forward] == [
        (p.pattern, p.count, set(p.task_ids)) for p in backward
    ]


# --- entries ------------------------------------------------------------------------------------


def test_build_entry_counts_and_keeps_rejected_items_on_reject():
    entry = build_entry(
        step=3,
        action="reject",
        rows=ROWS,
        failure_summaries=SUMMARIES,
        score_before=0.5,
        score_after=0.25,
        rejected_items=EDITS,
        mode=UpdateMode.PATCH,
    )
    assert (entry.step, entry.n_total, entry.n_fail) == (3, 8, 6)  # qa-008 (0.5) passed
    assert entry.rejected_items == (
        {"op": "append", "content": "- Always keep the unit.", "target": ""},
        {"op": "replace", "content": 'Say "no"\nthen stop.', "target": "- Do not round."},
    )


def test_build_entry_drops_items_when_not_rejected():
    entry = build_entry(
        step=4,
        action="accept_new_best",
        rows=ROWS[:1],
        failure_summaries=[],
        rejected_items=EDITS,
        mode="patch",
    )
    assert entry.rejected_items == ()
    assert (entry.n_total, entry.n_fail, entry.failure_patterns) == (1, 0, ())


def test_entry_round_trips_through_json():
    entry = build_entry(
        step=2,
        action="reject",
        rows=ROWS,
        failure_summaries=SUMMARIES,
        score_before=0.0,
        score_after=0.0,
        rejected_items=EDITS,
        mode=UpdateMode.PATCH,
    )
    restored = StepEntry.from_json(json.loads(json.dumps(entry.to_json())))
    assert restored == entry
    assert restored.score_before == 0.0
    assert isinstance(restored.failure_patterns[0], FailurePattern)


# --- rendering ----------------------------------------------------------------------------------


def test_empty_buffer_renders_nothing():
    assert render_step_buffer([], UpdateMode.PATCH) == ""


def test_render_patch_buffer():
    many = [{"id": f"t{i}", "hard": 0, "fail_reason": "timeout: no answer"} for i in range(7)]
    entries = [
        build_entry(
            step=1, action="accept", rows=many, failure_summaries=[], mode=UpdateMode.PATCH
        ),
        build_entry(
            step=2,
            action="reject",
            rows=ROWS,
            failure_summaries=SUMMARIES,
            score_before=0.5,
            score_after=0.375,
            rejected_items=EDITS,
            mode=UpdateMode.PATCH,
        ),
    ]
    text = render_step_buffer(entries, UpdateMode.PATCH)
    lines = text.splitlines()
    assert "rejected" in lines[0] and "edits" in lines[0]
    assert "### Step 1 — ACCEPT (7/7 failed)" in lines
    assert '  - "timeout" (×7, tasks: t0, t1, t2, t3, t4, …)' in lines
    assert "### Step 2 — REJECT (6/8 failed)" in lines
    assert '  - "wrong_entity" (×2, tasks: qa-003, qa-007)' in lines
    assert "    analyst: Entity confusion: picks the wrong person" in lines
    assert "  Rejected edits (score 0.5000 → 0.3750):" in lines
    assert '    1. [append] "- Always keep the unit."' in lines
    assert '    2. [replace] target="- Do not round." → "Say \\"no\\"\\nthen stop."' in lines
    # step 1 was accepted: no rejected line for it
    assert text.count("Rejected edits") == 1
    assert text.index("### Step 1") < text.index("### Step 2")


def test_render_rewrite_and_full_rewrite_items():
    suggestion = {
        "type": "add_rule",
        "title": "Keep units",
        "instruction": "Add a rule about units.",
        "motivation": "ignored",
    }
    entry = build_entry(
        step=5,
        action="reject",
        rows=[],
        failure_summaries=[],
        score_before=None,
        score_after=0.2,
        rejected_items=[suggestion],
        mode=UpdateMode.REWRITE_FROM_SUGGESTIONS,
    )
    text = render_step_buffer([entry], UpdateMode.REWRITE_FROM_SUGGESTIONS)
    assert "### Step 5 — REJECT (0/0 failed)" in text
    assert "  - no failed tasks" in text
    assert "  Rejected suggestions (score n/a → 0.2000):" in text
    assert '    1. [add_rule] "Keep units" → "Add a rule about units."' in text
    assert "ignored" not in text

    candidate = {
        "title": "Tighter format",
        "change_summary": ["merged rules", "added units rule"],
        "new_skill": "# Whole skill text",
        "source_type": "failure",
    }
    entry = build_entry(
        step=6,
        action="reject",
        rows=[],
        failure_summaries=[],
        score_before=0.5,
        score_after=0.5,
        rejected_items=[candidate],
        mode=UpdateMode.FULL_REWRITE_MINIBATCH,
    )
    text = render_step_buffer([entry], UpdateMode.FULL_REWRITE_MINIBATCH)
    assert "  Rejected skill candidates (score 0.5000 → 0.5000):" in text
    assert (
        '    1. [candidate] "Tighter format" (source: failure; '
        'changes: ["merged rules", "added units rule"])'
    ) in text
    assert "Whole skill text" not in text


def test_reject_without_items_says_so():
    entry = build_entry(
        step=1, action="reject", rows=[], failure_summaries=[], mode=UpdateMode.PATCH
    )
    assert "    (none recorded)" in render_step_buffer([entry], UpdateMode.PATCH)


# --- item renderings (skillopt.engine.train.items) ----------------------------------------------------


def test_describe_patch_items():
    assert describe_item(EDITS[0], UpdateMode.PATCH) == (
        'op=append content="- Always keep the unit." support=3'
    )
    assert describe_item(EDITS[1], "patch") == (
        'op=replace target="- Do not round." content="Say \\"no\\"\\nthen stop."'
    )
    assert "\n" not in describe_item(EDITS[1], UpdateMode.PATCH)


def test_describe_suggestion():
    item = {
        "type": "clarify",
        "title": "Units",
        "instruction": "Say which unit.",
        "priority_hint": "high",
        "support_count": 2,
    }
    assert describe_item(item, UpdateMode.REWRITE_FROM_SUGGESTIONS) == (
        'type=clarify title="Units" instruction="Say which unit." priority=high support=2'
    )


def test_describe_full_rewrite_shows_a_preview_only():
    body = "# Skill\n\n" + "word " * 200
    item = {
        "title": "Rewrite",
        "change_summary": ["a", "b"],
        "source_type": "success",
        "support_count": 4,
        "new_skill": body,
    }
    text = describe_item(item, UpdateMode.FULL_REWRITE_MINIBATCH)
    assert text.startswith(
        'title="Rewrite" change_summary=["a", "b"] source=success support=4 preview="# Skill word'
    )
    assert text.endswith('…"')
    assert len(text) < 420


@pytest.mark.parametrize(
    ("mode", "item", "expected"),
    [
        (
            UpdateMode.PATCH,
            {"op": "delete", "target": "x", "support_count": 1},
            {"op": "delete", "content": "", "target": "x"},
        ),
        (
            UpdateMode.REWRITE_FROM_SUGGESTIONS,
            {"type": "compress", "title": "t", "instruction": "i", "motivation": "m"},
            {"type": "compress", "title": "t", "instruction": "i"},
        ),
        (
            UpdateMode.FULL_REWRITE_MINIBATCH,
            {"title": "t", "change_summary": ["c"], "new_skill": "long", "source_type": "failure"},
            {"title": "t", "change_summary": ["c"], "source_type": "failure"},
        ),
    ],
)
def test_short_item_summary(mode, item, expected):
    assert short_item_summary(item, mode) == expected
    # summarising a summary changes nothing (entries may be rebuilt from saved summaries)
    assert short_item_summary(expected, mode) == expected
