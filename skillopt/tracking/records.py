"""Plain, typed records of what the tracking store holds about a set of runs (no MLflow here).

`skillopt.tracking.reader` fills them; `skillopt.report` reads only these, so a report is a
pure function of the records. Tag names come from `names`; a record exposes the few tags a
reader of runs needs as properties, so callers do not look them up by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from skillopt.base.errors import SkillOptError
from skillopt.tracking.names import JOB_REFLECT, JOB_TRAIN, Tag

# MLflow's status of a run that ended normally.
FINISHED = "FINISHED"

# The payload list of each update mode, in the order they are looked for in a patch.
PAYLOAD_KEYS = ("edits", "revise_suggestions", "skill_candidates")


class StoreError(SkillOptError):
    """The store cannot give what was asked: no store at that path, no such experiment, sweep or
    run, nothing in it to read, or MLflow refused the request. The message is one line."""


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
    patches and the working directory it ran in (from its Hydra settings artifact).

    history: for training runs, every logged value of each step metric it has
    (`Metric.STEP_HISTORY`), as (step, value) pairs sorted by step, one per step (the last
    logged wins); empty for reflect runs."""

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
        return self.tags.get(Tag.JOB) or JOB_REFLECT

    @property
    def is_training(self) -> bool:
        return self.job == JOB_TRAIN

    @property
    def finished(self) -> bool:
        """Whether the run ended normally (MLflow status FINISHED)."""
        return self.status == FINISHED

    @property
    def job_num(self) -> int | None:
        value = self.tags.get(Tag.JOB_NUM)
        return int(value) if value is not None and value.isdigit() else None

    @property
    def is_sweep_parent(self) -> bool:
        return Tag.SWEEP_ID in self.tags and Tag.PARENT not in self.tags

    @property
    def replay_of(self) -> str | None:
        return self.tags.get(Tag.REPLAY_OF)

    @property
    def error(self) -> str | None:
        """Why the run ended FAILED or KILLED, as recorded; None if nothing was."""
        return self.tags.get(Tag.ERROR) or None

    @property
    def note(self) -> str | None:
        """The run description shown in the MLflow UI; None if it has none."""
        return self.tags.get(Tag.NOTE) or None

    @property
    def overrides(self) -> list[str]:
        """The job's override strings as recorded (secrets already redacted); [] if unreadable."""
        try:
            value = json.loads(self.tags.get(Tag.OVERRIDES, "[]"))
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
    """Which runs were read and where they came from.

    kind: `experiment` (every run of one experiment but sweep parents), `sweep` (the jobs of
    one sweep; parent is its parent run) or `runs` (runs chosen by id). latest: the selection
    was not asked for by name but chosen as the most recent sweep or run of the store."""

    kind: str
    tracking_uri: str
    experiment: str | None
    sweep_id: str | None = None
    parent: RunRecord | None = None
    runs: tuple[RunRecord, ...] = field(default_factory=tuple)
    latest: bool = False

    @property
    def reflect_runs(self) -> tuple[RunRecord, ...]:
        """The runs that are not training runs (reflect runs, old runs without a job tag)."""
        return tuple(run for run in self.runs if not run.is_training)

    @property
    def training_runs(self) -> tuple[RunRecord, ...]:
        return tuple(run for run in self.runs if run.is_training)
