"""Render trajectories as the text an analyst reads (SkillOpt spec §1.4-1.5).

Every length is configuration (`ClipLimits`); 0 means no limit. A trajectory longer than
`max_trajectory_chars` keeps its head and its tail around a visible marker, because the start
states the task and the end holds the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from skillopt.base.checks import check_bool, check_int
from skillopt.base.rollout import Trajectory

TRUNCATION_MARKER = "\n...[middle of trajectory omitted]...\n"
BLOCK_SEPARATOR = "\n\n---\n\n"


@dataclass(frozen=True, kw_only=True)
class ClipLimits:
    """Per-field character limits applied before the whole-trajectory limit (0 = unlimited)."""

    message: int = 500
    agent: int = 500
    command: int = 500
    observation: int = 800
    think: int = 300
    step_action: int = 200
    step_feedback: int = 500
    verification: int = 2000
    reference: int = 4000
    target_system_prompt: int = 3000
    target_user_prompt: int = 3000
    spreadsheet_preview: int = 3000
    codex_trace_summary: int = 3000

    def __post_init__(self) -> None:
        for f in fields(self):
            check_int(f.name, getattr(self, f.name), minimum=0, note="0 = no limit")


@dataclass(frozen=True, kw_only=True)
class FormatSettings:
    """How trajectories are rendered. `include_codex_trace` replaces SkillOpt's process-wide env var."""

    max_trajectory_chars: int = 12000
    clip: ClipLimits = ClipLimits()
    include_codex_trace: bool = False

    def __post_init__(self) -> None:
        check_int("max_trajectory_chars", self.max_trajectory_chars, minimum=0, note="0 = no limit")
        check_bool("include_codex_trace", self.include_codex_trace)


def clip(value: Any, limit: int) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if limit <= 0 else text[:limit]


def truncate_middle(text: str, max_chars: int) -> str:
    """Keep the first and last `max_chars // 2` characters around a marker (0 = no limit)."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + TRUNCATION_MARKER + text[-half:]


def format_conversation(
    conversation: list[Any], settings: FormatSettings = FormatSettings()
) -> str:
    """One line or more per turn, first matching rule wins (spec §1.4)."""
    c = settings.clip
    lines: list[str] = []
    for turn in conversation:
        if not isinstance(turn, dict):
            lines.append(f"[agent] {clip(turn, c.agent)}")
        elif turn.get("type") == "tool_call":
            lines.append(f"[action] {clip(turn.get('cmd'), c.command)}")
            lines.append(f"[obs]    {clip(turn.get('obs'), c.observation)}")
        elif "action" in turn and "env_feedback" in turn:
            step = turn.get("step", "?")
            reasoning = clip(turn.get("reasoning"), c.think)
            if reasoning:
                lines.append(f"[step {step} think] {reasoning}")
            lines.append(f"[step {step} action] {clip(turn.get('action'), c.step_action)}")
            lines.append(f"[step {step} obs]    {clip(turn.get('env_feedback'), c.step_feedback)}")
        elif turn.get("role") == "system":
            lines.append(f"[verification] {clip(turn.get('content'), c.verification)}")
        else:
            role = turn.get("role") or "agent"
            lines.append(f"[{role}] {clip(turn.get('content'), c.message)}")
    return truncate_middle("\n".join(lines), settings.max_trajectory_chars)


def _first_text(*values: Any) -> str:
    for value in values:
        if value not in (None, ""):
            return str(value)
    return ""


def format_trajectory(
    index: int, trajectory: Trajectory, settings: FormatSettings = FormatSettings()
) -> str:
    """Header, optional context sections, a blank line, then the conversation (spec §1.5)."""
    r = trajectory.record
    c = settings.clip
    # SkillOpt leaves "Task:" empty for rows without task_description; fall back to the question.
    task = _first_text(r.task_description, r.field("instruction"), r.question)
    task_type = _first_text(r.task_type, r.field("instruction_type"))
    steps = r.n_turns if r.n_turns is not None else "?"
    header = [f"### Trajectory {index} (id={r.id})", f"Task: {task}", f"Task type: {task_type}"]
    if r.fail_reason:
        header.append(f"Failure reason: {r.fail_reason}")
    header.append(f"Steps: {steps}")
    text = "\n".join(header) + "\n"

    def section(title: str, body: Any, limit: int) -> None:
        nonlocal text
        body = clip(str(body or "").strip(), limit)
        if body:
            text += f"\n#### {title}\n{body}\n"

    section("Hidden Reference", r.reference_text, c.reference)
    section(
        "Target System Prompt",
        r.target_system_prompt or trajectory.files.get("target_system_prompt"),
        c.target_system_prompt,
    )
    section(
        "Target User Prompt",
        r.target_user_prompt or trajectory.files.get("target_user_prompt"),
        c.target_user_prompt,
    )
    if settings.include_codex_trace:
        section(
            "Codex Trace Summary",
            r.field("codex_trace_summary") or trajectory.files.get("codex_trace_summary"),
            c.codex_trace_summary,
        )
    section("Codex Trace Steps", r.field("codex_probe_trace_steps"), 0)
    section(
        "Spreadsheet Preview",
        r.spreadsheet_preview or trajectory.files.get("spreadsheet_preview"),
        c.spreadsheet_preview,
    )
    return text + "\n" + format_conversation(trajectory.conversation, settings)


def format_block(
    trajectories: list[Trajectory], settings: FormatSettings = FormatSettings()
) -> str:
    """The trajectories of one minibatch, numbered from 1, separated by rules."""
    return BLOCK_SEPARATOR.join(
        format_trajectory(i, t, settings) for i, t in enumerate(trajectories, 1)
    )
