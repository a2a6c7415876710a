"""What the training loop produced, as typed records: the plan, the baseline, each step, each
epoch's end, and the outcome of the whole run.

Observers receive these (`skillopt.engine.train.observer`); `history.json`, each step's
`step_record.json` and `summary.json` are their `to_json()`; the state file round-trips the step
records with `from_json`, so a resumed run reports exactly what an uninterrupted one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from skillopt.base.scores import Score
from skillopt.engine.train.appendix import AppendixUpdate
from skillopt.engine.train.autonomous import LearningRate
from skillopt.engine.train.update import ApplyCounts
from skillopt.llm.ledger import StageUsage, Usage

ACCEPTED = ("accept", "accept_new_best", "force_accept")


def is_accepted(action: str) -> bool:
    """A gate action that made the candidate the current skill."""
    return action in ACCEPTED


def is_skip(action: str) -> bool:
    """A step that produced no candidate (`skip_no_patches`, `skip_no_rewrite`)."""
    return action.startswith("skip")


def _score_json(score: Score | None) -> dict[str, Any] | None:
    return None if score is None else score.rounded().to_json()


def _score(data: Mapping[str, Any] | None) -> Score | None:
    return None if data is None else Score.from_json(data)


@dataclass(frozen=True, kw_only=True)
class TrainPlan:
    """The run's shape, told before anything happens: `resume_after` is the last step an earlier
    attempt completed (0 for a fresh run)."""

    epochs: int
    steps_per_epoch: int
    total_steps: int
    resume_after: int
    train: int
    selection: int
    test: int


@dataclass(frozen=True, kw_only=True)
class BaselineRecord:
    """Step 0: the initial skill on the selection split (its score is current and best)."""

    selection: Score
    gate_score: float

    step = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "selection", self.selection.rounded())  # as summary.json has it


@dataclass(frozen=True, kw_only=True)
class BatchSummary:
    """One accumulation round of a step: its batch, train score and patches."""

    index: int
    seed: int
    train: Score
    n_failure_patches: int
    n_success_patches: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", self.train.rounded())  # as stored

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed": self.seed,
            "train": self.train.to_json(),
            "n_failure_patches": self.n_failure_patches,
            "n_success_patches": self.n_success_patches,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchSummary:
        return cls(**{**data, "train": Score.from_json(data["train"])})


@dataclass(frozen=True, kw_only=True)
class AppendixCounts:
    """A skill-aware step's notes: written by the analysts, new to the appendix, in it after
    the step, and whether a compaction call replaced them."""

    proposed: int
    added: int
    total: int
    consolidated: bool = False

    @classmethod
    def of(cls, update: AppendixUpdate) -> AppendixCounts:
        consolidation = update.consolidation
        return cls(
            proposed=len(update.proposed),
            added=len(update.added),
            total=update.total,
            consolidated=consolidation is not None and consolidation.after is not None,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True, kw_only=True)
class StepRecord:
    """One step, from rollout to gate (spec §12 "step record").

    `action` is a gate action (accept, accept_new_best, reject, force_accept) or a skip
    (skip_no_patches, skip_no_rewrite); the candidate and selection fields are None on skips.
    `batch_seed` is the first batch's seed; `batches` has one summary per accumulation round.
    `learning_rate` is the autonomous decision (then `edit_budget` is the budget it applied);
    `appendix_notes` counts what a skill-aware step did to the execution-notes appendix.
    `usage` is what each stage's calls used during this step; `llm_cost_usd` is the run's
    cumulative cost after it (both roles).
    """

    step: int
    epoch: int
    step_in_epoch: int
    batch_seed: int
    batch_ids: tuple[str, ...]
    edit_budget: int | None
    train: Score
    n_patches: int
    n_failure_patches: int
    n_success_patches: int
    failed_minibatches: int
    action: str
    current_score: float | None
    best_score: float | None
    best_step: int
    current_origin: str
    best_origin: str
    skill_len: int
    llm_cost_usd: float
    usage: dict[str, StageUsage] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    batches: tuple[BatchSummary, ...] = ()
    learning_rate: LearningRate | None = None
    appendix: AppendixCounts | None = None
    n_items_merged: int | None = None
    merge_fallbacks: int | None = None
    n_items_selected: int | None = None
    rank_status: str | None = None
    rank_error: str | None = None
    edit_apply_summary: ApplyCounts | None = None
    rewrite_change_summary: tuple[str, ...] | None = None
    rewrite_error: str | None = None
    candidate_hash: str | None = None
    candidate_skill_len: int | None = None
    selection: Score | None = None
    selection_cached: bool | None = None
    gate_metric: str | None = None
    gate_score: float | None = None

    def __post_init__(self) -> None:
        # kept as stored, so a record read back from the state equals the one the loop made
        object.__setattr__(self, "train", self.train.rounded())
        if self.selection is not None:
            object.__setattr__(self, "selection", self.selection.rounded())

    @property
    def skipped(self) -> bool:
        return is_skip(self.action)

    @property
    def replies_repaired(self) -> int:
        """Replies of this step used only after their near-JSON was repaired (all stages)."""
        return sum(usage.repaired for usage in self.usage.values())

    @property
    def accepted(self) -> bool:
        return is_accepted(self.action)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in `history.json` and `step_record.json` (None fields left out)."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, Score):
                value = _score_json(value)
            elif isinstance(value, ApplyCounts | LearningRate | AppendixCounts):
                value = value.to_json()
            elif f.name == "batches":
                value = [batch.to_json() for batch in value]
            elif f.name == "usage":
                value = {stage: usage.to_json() for stage, usage in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        values = dict(data)
        for name in ("train", "selection"):
            values[name] = _score(values.get(name))
        if values.get("edit_apply_summary") is not None:
            values["edit_apply_summary"] = ApplyCounts.from_json(values["edit_apply_summary"])
        if values.get("learning_rate") is not None:
            values["learning_rate"] = LearningRate.from_json(values["learning_rate"])
        if values.get("appendix") is not None:
            values["appendix"] = AppendixCounts(**values["appendix"])
        values["batches"] = tuple(BatchSummary.from_json(b) for b in values.get("batches") or ())
        values["usage"] = {
            stage: StageUsage.from_json(usage)
            for stage, usage in (values.get("usage") or {}).items()
        }
        for name in ("batch_ids", "rewrite_change_summary"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, kw_only=True)
class EpochRecord:
    """An epoch's end: the slow update and meta skill (`action` says what happened: skipped in
    epoch 1 or when disabled, a gate action for the guidance block, no_content, meta_only).
    `topup_tasks` / `topup_pairs`: the `changed` policy's top-up (extra train tasks rolled out
    under both skills, and the kept pairs they gave); None when there was none."""

    epoch: int
    step: int
    action: str
    pairs: int | None = None
    categories: dict[str, int] | None = None
    topup_tasks: int | None = None
    topup_pairs: int | None = None
    meta_skill: str | None = None
    meta_skill_error: str | None = None
    error: str | None = None
    selection: Score | None = None
    selection_cached: bool | None = None
    gate_score: float | None = None
    current_score: float | None = None
    best_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        """`slow_update/epoch_EE/epoch_record.json` (None fields left out)."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                data[f.name] = _score_json(value) if isinstance(value, Score) else value
        return data


@dataclass(frozen=True, kw_only=True)
class EpochStats:
    epoch: int
    steps: int
    accepts: int
    rejects: int
    skips: int


@dataclass(frozen=True, kw_only=True)
class FinalTestScores:
    """The initial, best and final skill on the test split, and best/final minus initial (hard)."""

    baseline: Score
    best: Score
    final: Score

    @property
    def delta_hard(self) -> float:
        return round(self.best.hard - self.baseline.hard, 6)

    @property
    def final_delta_hard(self) -> float:
        return round(self.final.hard - self.baseline.hard, 6)


@dataclass(frozen=True, kw_only=True)
class SplitSizes:
    train: int
    selection: int
    test: int


@dataclass(frozen=True, kw_only=True)
class TrainOutcome:
    """The whole run: selection scores of the initial, best and final skill (gate values), what
    happened per step and epoch, the test scores (None with `eval_test` off or no test split),
    and what each role's calls used. `history` holds every step record."""

    gate_metric: str
    baseline_selection: Score | None
    baseline_selection_score: float | None
    best_selection_score: float | None
    final_selection: Score | None
    final_selection_score: float | None
    best_step: int
    best_origin: str
    current_origin: str
    final_promoted_to_best: bool
    epochs: tuple[EpochStats, ...]
    test: FinalTestScores | None
    splits: SplitSizes
    steps_per_epoch: int
    usage: dict[str, Usage]
    wall_s: float
    history: tuple[StepRecord, ...]

    @property
    def total_steps(self) -> int:
        return len(self.history)

    @property
    def accepts(self) -> int:
        return sum(record.accepted for record in self.history)

    @property
    def rejects(self) -> int:
        return sum(record.action == "reject" for record in self.history)

    @property
    def skips(self) -> int:
        return sum(record.skipped for record in self.history)

    @property
    def replies_repaired(self) -> int:
        return sum(record.replies_repaired for record in self.history)

    def to_json(self) -> dict[str, Any]:
        """`summary.json` (without the history, which is `history.json`)."""
        test = None
        if self.test is not None:
            test = {
                "baseline": _score_json(self.test.baseline),
                "best": _score_json(self.test.best),
                "final": _score_json(self.test.final),
                "delta_hard": self.test.delta_hard,
                "final_delta_hard": self.test.final_delta_hard,
            }
        return {
            "gate_metric": self.gate_metric,
            "baseline_selection": _score_json(self.baseline_selection),
            "baseline_selection_score": self.baseline_selection_score,
            "best_selection_score": self.best_selection_score,
            "final_selection": _score_json(self.final_selection),
            "final_selection_score": self.final_selection_score,
            "best_step": self.best_step,
            "best_origin": self.best_origin,
            "current_origin": self.current_origin,
            "final_promoted_to_best": self.final_promoted_to_best,
            "total_steps": self.total_steps,
            "accepts": self.accepts,
            "rejects": self.rejects,
            "skips": self.skips,
            "replies_repaired": self.replies_repaired,
            "epochs": [vars(e).copy() for e in self.epochs],
            "test": test,
            "splits": vars(self.splits).copy(),
            "steps_per_epoch": self.steps_per_epoch,
            "llm": {role: usage.to_json() for role, usage in self.usage.items()},
            "wall_s": self.wall_s,
        }
