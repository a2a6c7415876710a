"""Plain, typed records of what MLflow holds about a set of runs (no MLflow here).

`collect` fills them; every renderer reads only these, so a report is a pure function of the
records (plus one generated-at line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from skillopt.base.errors import SkillOptError

# Tags this package reads or writes on a run.
TAG_SWEEP_ID = "skillopt.sweep_id"
TAG_JOB_NUM = "skillopt.job_num"
TAG_OVERRIDES = "skillopt.overrides"
TAG_COMMAND = "skillopt.command"
TAG_ERROR = "skillopt.error"
TAG_REPLAY_OF = "skillopt.replay_of"
TAG_REPLAY_VERIFIED = "skillopt.replay_verified"
TAG_REPLAY_DETAIL = "skillopt.replay_detail"
TAG_PARENT = "mlflow.parentRunId"
# Which job logged a run: `train` for skillopt-train, `reflect` (or no tag, for older runs)
# for skillopt-reflect.
TAG_JOB = "skillopt.job"
JOB_TRAIN = "train"
JOB_REFLECT = "reflect"

# The per-step metrics of a training run (logged with step=<global step>; step 0 is the
# baseline), whose whole history a report reads. Final single-value metrics are read from the
# run's latest values like any other metric.
STEP_METRICS = (
    "selection.hard",
    "selection.soft",
    "gate.score",
    "gate.current",
    "gate.best",
    "gate.accepted",
    "train.hard",
    "train.soft",
    "select.edit_budget",
    "update.edits_applied",
    "llm.cost_usd",
)

# The payload list of each update mode, in the order they are looked for in a patch.
PAYLOAD_KEYS = ("edits", "revise_suggestions", "skill_candidates")


class ReportError(SkillOptError):
    """The report cannot be made from this input (unknown experiment, sweep, run, store...)."""


@dataclass(frozen=True, kw_only=True)
class PatchFile:
    """One `patches/<minibatch>.json` artifact: its exact text and the parsed document.

    `document` is None when the text is not a JSON object (shown as a gap, never a crash)."""

    name: str
    text: str
    document: dict[str, Any] | None

    @property
    def minibatch(self) -> str:
        return self.name.removesuffix(".json")

    @property
    def payload_key(self) -> str | None:
        """`edits`, `revise_suggestions` or `skill_candidates`: the list this patch carries."""
        patch = (self.document or {}).get("patch")
        if not isinstance(patch, dict):
            return None
        for key in PAYLOAD_KEYS:
            if isinstance(patch.get(key), list):
                return key
        return None

    @property
    def items(self) -> list[dict[str, Any]]:
        """The kept payload items, in the order the analyst gave them."""
        key = self.payload_key
        if key is None:
            return []
        return [i for i in self.document["patch"][key] if isinstance(i, dict)]  # type: ignore[index]

    @property
    def failure_summary(self) -> list[dict[str, Any]]:
        summary = (self.document or {}).get("failure_summary")
        return [e for e in summary if isinstance(e, dict)] if isinstance(summary, list) else []


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One MLflow run: its info, params, metrics and tags as MLflow returned them, plus the
    patches and the working directory it ran in (from its `hydra/hydra.yaml` artifact).

    history: for training runs, every logged value of each step metric it has (`STEP_METRICS`),
    as (step, value) pairs sorted by step, one per step (the last logged wins); empty for
    reflect runs."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    patches: tuple[PatchFile, ...] = ()
    artifact_dirs: tuple[str, ...] = ()
    cwd: str | None = None
    history: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)

    @property
    def job(self) -> str:
        """`train` or `reflect` (the `skillopt.job` tag; runs without it are reflect runs)."""
        return self.tags.get(TAG_JOB) or JOB_REFLECT

    @property
    def is_training(self) -> bool:
        return self.job == JOB_TRAIN

    @property
    def job_num(self) -> int | None:
        value = self.tags.get(TAG_JOB_NUM)
        return int(value) if value is not None and value.isdigit() else None

    @property
    def is_sweep_parent(self) -> bool:
        return TAG_SWEEP_ID in self.tags and TAG_PARENT not in self.tags

    @property
    def replay_of(self) -> str | None:
        return self.tags.get(TAG_REPLAY_OF)

    @property
    def overrides(self) -> list[str]:
        """The job's override strings as recorded (secrets already redacted); [] if unreadable."""
        try:
            value = json.loads(self.tags.get(TAG_OVERRIDES, "[]"))
        except json.JSONDecodeError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def label(self) -> str:
        """Short, unique-enough name for plots and headings: `#<job> <id[:8]>`."""
        job = self.job_num
        return f"#{job} {self.run_id[:8]}" if job is not None else self.run_id[:8]

    def sort_key(self) -> tuple[int, int, int, str]:
        """Runs sort by job number (runs without one last), then start time, then id."""
        job = self.job_num
        return (0 if job is not None else 1, job or 0, self.start_time, self.run_id)

    def with_tags(self, tags: dict[str, str]) -> RunRecord:
        return replace(self, tags={**self.tags, **tags})


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which runs a report covers and where they came from.

    kind: `experiment`, `sweep` or `runs`. parent: the sweep's parent run (sweeps only)."""

    kind: str
    tracking_uri: str
    experiment: str | None
    sweep_id: str | None = None
    parent: RunRecord | None = None
    runs: tuple[RunRecord, ...] = field(default_factory=tuple)

    @property
    def reflect_runs(self) -> tuple[RunRecord, ...]:
        """The runs that are not training runs (reflect runs, old runs without a job tag)."""
        return tuple(run for run in self.runs if not run.is_training)

    @property
    def training_runs(self) -> tuple[RunRecord, ...]:
        return tuple(run for run in self.runs if run.is_training)

    @property
    def title(self) -> str:
        if self.kind == "sweep":
            return f"sweep {self.sweep_id}"
        if self.kind == "experiment":
            return f"experiment {self.experiment}"
        return f"{len(self.runs)} selected run{'s' if len(self.runs) != 1 else ''}"
