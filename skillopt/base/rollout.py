"""Load a SkillOpt rollout directory: `results.jsonl` plus `predictions/<id>/` files.

Records are validated with pydantic; unknown fields are kept. A task id comes from a file
nobody wrote by hand, so one that could leave `predictions/` is refused before any read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from skillopt.base.errors import RolloutError
from skillopt.base.scores import is_failure

BadRecordPolicy = Literal["error", "skip"]

OPTIONAL_PROMPT_FILES = (
    "target_system_prompt",
    "target_user_prompt",
    "spreadsheet_preview",
    "codex_trace_summary",
)


class TrajectoryRecord(BaseModel):
    """One row of `results.jsonl` (SkillOpt's RolloutResult). Unknown keys are kept as extras."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    id: str
    hard: float
    soft: float
    n_turns: int | None = None
    fail_reason: str | None = None
    task_type: str | None = None
    task_description: str | None = None
    predicted_answer: str | None = None
    question: str | None = None
    reference_text: str | None = None
    target_system_prompt: str | None = None
    target_user_prompt: str | None = None
    spreadsheet_preview: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_scalar(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("id must be a string or an integer")
        return str(value)

    @field_validator("id")
    @classmethod
    def _id_stays_inside(cls, value: str) -> str:
        check_task_id(value)
        return value

    @property
    def is_failure(self) -> bool:
        """The one failure rule (`skillopt.base.scores.is_failure`); every other record succeeded."""
        return is_failure(self.hard)

    def field(self, name: str) -> Any:
        """A declared field or an extra, None when absent."""
        if name in type(self).model_fields:
            return getattr(self, name)
        return (self.model_extra or {}).get(name)


def check_task_id(task_id: str) -> None:
    """Refuse ids that would resolve outside `predictions/` (`..`, absolute paths, separators)."""
    if not task_id or task_id in {".", ".."}:
        raise ValueError(f"task id {task_id!r} is not a usable directory name")
    if "/" in task_id or "\\" in task_id or "\x00" in task_id:
        raise ValueError(
            f"task id {task_id!r} contains a path separator; it would leave predictions/"
        )
    if task_id.startswith("~") or (len(task_id) > 1 and task_id[1] == ":"):
        raise ValueError(
            f"task id {task_id!r} looks like an absolute path; it would leave predictions/"
        )


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    """A validated record with what its prediction folder held."""

    record: TrajectoryRecord
    conversation: list[Any]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.record.id


@dataclass(frozen=True, kw_only=True)
class BadRecord:
    """A results line or conversation that was skipped under `on_bad_record=skip`."""

    location: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RolloutSet:
    """Everything usable in a rollout directory, plus what was left out and why."""

    root: Path
    records: list[TrajectoryRecord]
    trajectories: dict[str, Trajectory]
    missing_conversation: list[str]
    bad_records: list[BadRecord]

    @property
    def failures(self) -> list[TrajectoryRecord]:
        return [r for r in self.records if r.is_failure]

    @property
    def successes(self) -> list[TrajectoryRecord]:
        return [r for r in self.records if not r.is_failure]


def load_rollout(
    rollout_dir: str | Path, *, on_bad_record: BadRecordPolicy = "error"
) -> RolloutSet:
    """Read and validate a rollout directory.

    `on_bad_record="error"` (default) stops at the first malformed results line or conversation
    file with a message naming file and line; `"skip"` leaves it out and lists it in `bad_records`.
    A missing or empty conversation is not an error: the record keeps its place in the
    minibatch plan (so the split matches SkillOpt) and is reported in `missing_conversation`.
    """
    if on_bad_record not in ("error", "skip"):
        raise RolloutError(f"data.on_bad_record must be 'error' or 'skip', not {on_bad_record!r}")
    root = Path(rollout_dir).expanduser()
    results_path = root / "results.jsonl"
    if not root.is_dir():
        raise RolloutError(f"rollout directory not found: {root}")
    if not results_path.is_file():
        raise RolloutError(
            f"{results_path}: missing (a rollout directory holds results.jsonl and predictions/)"
        )

    bad: list[BadRecord] = []

    def reject(location: str, reason: str) -> None:
        if on_bad_record == "error":
            raise RolloutError(f"{location}: {reason}")
        bad.append(BadRecord(location=location, reason=reason))

    records: list[TrajectoryRecord] = []
    seen: set[str] = set()
    with results_path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            location = f"{results_path}:{line_no}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                reject(location, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(raw, dict):
                reject(location, f"expected a JSON object, got {type(raw).__name__}")
                continue
            try:
                record = TrajectoryRecord.model_validate(raw)
            except ValidationError as exc:
                reject(location, _describe_validation(exc))
                continue
            if record.id in seen:
                reject(location, f"duplicate task id {record.id!r}")
                continue
            seen.add(record.id)
            records.append(record)

    predictions = root / "predictions"
    trajectories: dict[str, Trajectory] = {}
    missing: list[str] = []
    kept: list[TrajectoryRecord] = []
    for record in records:
        folder = predictions / record.id
        conversation_path = folder / "conversation.json"
        if not conversation_path.is_file():
            missing.append(record.id)
            kept.append(record)
            continue
        try:
            conversation = json.loads(conversation_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            reject(f"{conversation_path}:{exc.lineno}", f"not valid JSON ({exc.msg})")
            continue
        except UnicodeDecodeError as exc:
            reject(str(conversation_path), f"not UTF-8 text ({exc.reason})")
            continue
        if not isinstance(conversation, list):
            reject(
                str(conversation_path),
                f"expected a JSON list of turns, got {type(conversation).__name__}",
            )
            continue
        kept.append(record)
        if not conversation:
            missing.append(record.id)
            continue
        files = {}
        for name in OPTIONAL_PROMPT_FILES:
            path = folder / f"{name}.txt"
            if path.is_file():
                files[name] = path.read_text(encoding="utf-8", errors="replace")
        trajectories[record.id] = Trajectory(record=record, conversation=conversation, files=files)

    return RolloutSet(
        root=root,
        records=kept,
        trajectories=trajectories,
        missing_conversation=missing,
        bad_records=bad,
    )


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "record"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
