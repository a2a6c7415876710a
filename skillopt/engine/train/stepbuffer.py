"""The step buffer: what earlier steps of this epoch tried, failed on, and had rejected.

It is rendered into the analyst, learning-rate and rewrite prompts so that the optimizer does not
propose again what the gate just refused, and works on failure patterns that are still open.
Entries are plain values with `to_json`/`from_json`, so the buffer can be saved with the run
state and survive a mid-epoch resume (SkillOpt lost it). Analyst notes are attached to the
failure pattern they talk about (shared words), not zipped to patterns by position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skillopt.base.modes import UpdateMode, mode_spec, normalize_update_mode
from skillopt.base.scores import row_failed
from skillopt.engine.train.items import quote, short_item_summary

MAX_TASK_IDS = 5
UNKNOWN_PATTERN = "unknown"


@dataclass(frozen=True, kw_only=True)
class FailurePattern:
    """Failed tasks that share a failure reason (the reason's text before its first ":")."""

    pattern: str
    count: int
    task_ids: tuple[str, ...]
    analyst_notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "count": self.count,
            "task_ids": list(self.task_ids),
            "analyst_notes": list(self.analyst_notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FailurePattern:
        return cls(
            pattern=str(data["pattern"]),
            count=int(data["count"]),
            task_ids=tuple(str(t) for t in data.get("task_ids", ())),
            analyst_notes=tuple(str(n) for n in data.get("analyst_notes", ())),
        )


@dataclass(frozen=True, kw_only=True)
class StepEntry:
    """One finished (non-skipped) step: its gate action, failures and, on reject, what was refused.

    score_before/score_after are the current and candidate gate values; rejected_items are
    `short_item_summary` dicts and are only kept when the action is a reject.
    """

    step: int
    action: str
    n_total: int
    n_fail: int
    failure_patterns: tuple[FailurePattern, ...]
    score_before: float | None = None
    score_after: float | None = None
    rejected_items: tuple[dict[str, Any], ...] = ()

    @property
    def rejected(self) -> bool:
        return "reject" in self.action

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "action": self.action,
            "n_total": self.n_total,
            "n_fail": self.n_fail,
            "failure_patterns": [p.to_json() for p in self.failure_patterns],
            "score_before": self.score_before,
            "score_after": self.score_after,
            "rejected_items": [dict(item) for item in self.rejected_items],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepEntry:
        def score(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            step=int(data["step"]),
            action=str(data["action"]),
            n_total=int(data["n_total"]),
            n_fail=int(data["n_fail"]),
            failure_patterns=tuple(
                FailurePattern.from_json(p) for p in data.get("failure_patterns", ())
            ),
            score_before=score("score_before"),
            score_after=score("score_after"),
            rejected_items=tuple(dict(item) for item in data.get("rejected_items", ())),
        )


def _pattern_of(row: Mapping[str, Any]) -> str:
    reason = row.get("fail_reason")
    text = "" if reason is None else str(reason).strip()
    if not text:
        return UNKNOWN_PATTERN
    return text.split(":", 1)[0].strip() or UNKNOWN_PATTERN


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3}


def failure_patterns(
    rows: Sequence[Mapping[str, Any]], failure_summaries: Sequence[Mapping[str, Any]]
) -> tuple[FailurePattern, ...]:
    """Group the failed rows by failure reason and attach the analysts' matching notes.

    The pattern is the `fail_reason` text before its first ":" (the whole reason without a
    colon, "unknown" when missing). Groups are ordered by count (descending), then pattern.
    A `failure_summaries` entry {failure_type, count, description} becomes the note
    "<failure_type>: <description>" on every pattern that shares a word of three or more letters
    with its failure_type (case-insensitive); notes keep the order of the summaries.
    """
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row_failed(row):
            groups.setdefault(_pattern_of(row), []).append(str(row.get("id", "")))
    notes: list[tuple[set[str], str]] = []
    for summary in failure_summaries:
        if not isinstance(summary, Mapping):
            continue
        failure_type = str(summary.get("failure_type") or "").strip()
        if not failure_type:
            continue
        description = str(summary.get("description") or "").strip()
        note = f"{failure_type}: {description}" if description else failure_type
        notes.append((_words(failure_type), note))
    patterns = []
    for pattern, ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        words = _words(pattern)
        matched: list[str] = []
        for note_words, note in notes:
            if words & note_words and note not in matched:
                matched.append(note)
        patterns.append(
            FailurePattern(
                pattern=pattern, count=len(ids), task_ids=tuple(ids), analyst_notes=tuple(matched)
            )
        )
    return tuple(patterns)


def build_entry(
    *,
    step: int,
    action: str,
    rows: Sequence[Mapping[str, Any]],
    failure_summaries: Sequence[Mapping[str, Any]],
    score_before: float | None = None,
    score_after: float | None = None,
    rejected_items: Sequence[Mapping[str, Any]] = (),
    mode: UpdateMode | str,
) -> StepEntry:
    """The buffer entry of a step that reached the gate. `rows` are the step's rollout rows,
    `failure_summaries` the failure analysts' summaries, `rejected_items` the payload items the
    candidate was built from (summarised, and kept only when `action` is a reject)."""
    rejected = "reject" in action
    return StepEntry(
        step=step,
        action=action,
        n_total=len(rows),
        n_fail=sum(row_failed(r) for r in rows),
        failure_patterns=failure_patterns(rows, failure_summaries),
        score_before=score_before,
        score_after=score_after,
        rejected_items=(
            tuple(short_item_summary(item, mode) for item in rejected_items) if rejected else ()
        ),
    )


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _rejected_line(number: int, item: Mapping[str, Any], mode: UpdateMode) -> str:
    if mode is UpdateMode.PATCH:
        op = item.get("op") or "append"
        target = item.get("target") or ""
        if target:
            return f"    {number}. [{op}] target={quote(target)} → {quote(item.get('content'))}"
        return f"    {number}. [{op}] {quote(item.get('content'))}"
    if mode is UpdateMode.REWRITE_FROM_SUGGESTIONS:
        kind = item.get("type") or "?"
        return (
            f"    {number}. [{kind}] {quote(item.get('title'))} → {quote(item.get('instruction'))}"
        )
    changes = item.get("change_summary") or []
    source = item.get("source_type") or "unknown"
    return (
        f"    {number}. [candidate] {quote(item.get('title'))} "
        f"(source: {source}; changes: {json.dumps(list(changes), ensure_ascii=False)})"
    )


def render_step_buffer(entries: Sequence[StepEntry], mode: UpdateMode | str) -> str:
    """The buffer as prompt text, oldest step first; "" when there are no entries."""
    if not entries:
        return ""
    mode = normalize_update_mode(mode)
    label = mode_spec(mode).plural
    lines = [
        "Earlier steps of this epoch, oldest first. Do not propose again the "
        f"{label} that were rejected (they did not improve the selection score), and give "
        "priority to the failure patterns that keep coming back.",
    ]
    for entry in entries:
        lines.append("")
        lines.append(
            f"### Step {entry.step} — {entry.action.upper()} "
            f"({entry.n_fail}/{entry.n_total} failed)"
        )
        if not entry.failure_patterns:
            lines.append("  - no failed tasks")
        for pattern in entry.failure_patterns:
            ids = list(pattern.task_ids[:MAX_TASK_IDS])
            if len(pattern.task_ids) > MAX_TASK_IDS:
                ids.append("…")
            lines.append(f'  - "{pattern.pattern}" (×{pattern.count}, tasks: {", ".join(ids)})')
            lines.extend(f"    analyst: {note}" for note in pattern.analyst_notes)
        if entry.rejected:
            lines.append(
                f"  Rejected {label} (score {_score(entry.score_before)} → "
                f"{_score(entry.score_after)}):"
            )
            if not entry.rejected_items:
                lines.append("    (none recorded)")
            for number, item in enumerate(entry.rejected_items, start=1):
                lines.append(_rejected_line(number, item, mode))
    return "\n".join(lines) + "\n"
