from __future__ import annotations

from skillopt.base.rollout import Trajectory, TrajectoryRecord
from skillopt.engine.formatting import (
    TRUNCATION_MARKER,
    ClipLimits,
    FormatSettings,
    format_block,
    format_conversation,
    format_trajectory,
    truncate_middle,
)


def test_every_conversation_shape():
    conversation = [
        "free text",
        {"type": "tool_call", "cmd": "ls", "obs": "a.txt"},
        {"step": 2, "reasoning": "look", "action": "open[a]", "env_feedback": "ok"},
        {"action": "noop", "env_feedback": "nothing", "reasoning": ""},
        {"role": "system", "content": "[EVALUATION RESULT] EM=0"},
        {"role": "assistant", "content": "42"},
        {"type": "message", "turn": 1, "content": "hello"},
    ]
    assert format_conversation(conversation).splitlines() == [
        "[agent] free text",
        "[action] ls",
        "[obs]    a.txt",
        "[step 2 think] look",
        "[step 2 action] open[a]",
        "[step 2 obs]    ok",
        "[step ? action] noop",
        "[step ? obs]    nothing",
        "[verification] [EVALUATION RESULT] EM=0",
        "[assistant] 42",
        "[agent] hello",
    ]


def test_per_field_clip_limits_and_zero_means_unlimited():
    long = "x" * 5000
    conv = [{"type": "tool_call", "cmd": long, "obs": long}, {"role": "user", "content": long}]
    lines = format_conversation(conv, FormatSettings(max_trajectory_chars=0)).splitlines()
    assert [len(line) for line in lines] == [
        len("[action] ") + 500,
        len("[obs]    ") + 800,
        len("[user] ") + 500,
    ]
    custom = FormatSettings(
        max_trajectory_chars=0, clip=ClipLimits(command=10, observation=0, message=3)
    )
    lines = format_conversation(conv, custom).splitlines()
    assert [len(line) for line in lines] == [
        len("[action] ") + 10,
        len("[obs]    ") + 5000,
        len("[user] ") + 3,
    ]


def test_long_trajectory_keeps_head_and_tail():
    conv = [{"role": "assistant", "content": f"turn {i:04d} " + "y" * 400} for i in range(100)]
    text = format_conversation(conv, FormatSettings(max_trajectory_chars=12000))
    assert len(text) == 12000 + len(TRUNCATION_MARKER)
    assert text.startswith("[assistant] turn 0000")
    assert text.endswith("y" * 50)
    assert "turn 0099" in text and "turn 0050" not in text
    assert TRUNCATION_MARKER in text
    full = format_conversation(conv, FormatSettings(max_trajectory_chars=0))
    assert TRUNCATION_MARKER not in full and len(full) > 40000


def test_truncate_middle_leaves_short_text_alone():
    assert truncate_middle("abc", 10) == "abc"
    assert truncate_middle("abcdefghij", 4) == "ab" + TRUNCATION_MARKER + "ij"


def _trajectory(**fields):
    record = TrajectoryRecord(id="t1", hard=0, soft=0.5, **fields)
    return Trajectory(
        record=record,
        conversation=[{"role": "user", "content": "q"}],
        files={"target_user_prompt": "U-FILE"},
    )


def test_header_and_optional_sections():
    traj = _trajectory(
        task_description="Find the river",
        task_type="factoid",
        fail_reason="wrong_span: said Nile",
        n_turns=3,
        reference_text="The Amazon",
        target_system_prompt="SYS-FIELD",
    )
    text = format_trajectory(4, traj)
    assert text.splitlines()[:5] == [
        "### Trajectory 4 (id=t1)",
        "Task: Find the river",
        "Task type: factoid",
        "Failure reason: wrong_span: said Nile",
        "Steps: 3",
    ]
    assert "#### Hidden Reference\nThe Amazon" in text
    assert "#### Target System Prompt\nSYS-FIELD" in text  # the field wins over a file
    assert "#### Target User Prompt\nU-FILE" in text  # the file fills a missing field
    assert "Codex Trace Summary" not in text
    assert text.endswith("\n\n[user] q")


def test_header_falls_back_to_question_and_unknown_steps():
    text = format_trajectory(1, _trajectory(question="What is 2+2?", instruction_type="math"))
    assert "Task: What is 2+2?\nTask type: math\nSteps: ?" in text
    assert "Failure reason" not in text


def test_codex_sections_only_when_enabled():
    traj = _trajectory(codex_trace_summary="SUMMARY", codex_probe_trace_steps="STEPS")
    assert "SUMMARY" not in format_trajectory(1, traj)
    assert "#### Codex Trace Steps\nSTEPS" in format_trajectory(1, traj)
    assert "#### Codex Trace Summary\nSUMMARY" in format_trajectory(
        1, traj, FormatSettings(include_codex_trace=True)
    )


def test_block_numbers_and_separates():
    block = format_block([_trajectory(), _trajectory()])
    assert block.count("\n\n---\n\n") == 1
    assert "### Trajectory 1 (id=t1)" in block and "### Trajectory 2 (id=t1)" in block
