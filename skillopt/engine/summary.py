"""What a reflect run amounts to, as one typed record: counts, failures, payload, usage, plan.

`ReflectOutcome.summary` derives it from an outcome; `to_json` is the `summary.json` document.
The CLI prints it, tracking logs it, and a training step keeps one per step; nobody reads it
back key by key from a dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from skillopt.base.rollout import BadRecord
from skillopt.llm.ledger import Usage


@dataclass(frozen=True, kw_only=True)
class TrajectoryCounts:
    """What the rollout held: tasks, failures, successes, tasks skipped for want of a
    conversation (by id), and records left out as malformed (`on_bad_record=skip`)."""

    total: int
    failures: int
    successes: int
    skipped_ids: tuple[str, ...] = ()
    bad_records: tuple[BadRecord, ...] = ()

    @property
    def skipped(self) -> int:
        return len(self.skipped_ids)


@dataclass(frozen=True, kw_only=True)
class MinibatchCounts:
    """Minibatches by kind and by status; `resumed` ones were answered from the call cache."""

    total: int = 0
    failure: int = 0
    success: int = 0
    ok: int = 0
    failed: int = 0
    empty: int = 0
    resumed: int = 0


@dataclass(frozen=True, kw_only=True)
class FailedMinibatch:
    minibatch: str
    reason: str | None
    error: str | None


@dataclass(frozen=True, kw_only=True)
class PayloadCounts:
    """Payload items kept (`key` names the mode's list), dropped by validation, cut by the
    budget, items per kind (edit op or suggestion type), and replies used after repair."""

    key: str
    items: int = 0
    dropped: int = 0
    truncated_by_budget: int = 0
    repaired_replies: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PlanRow:
    """One minibatch: which trajectories went in, what came out, and what the call cost."""

    minibatch: str
    kind: str
    ids: tuple[str, ...]
    skipped_ids: tuple[str, ...]
    status: str
    payload_items: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


@dataclass(frozen=True, kw_only=True)
class DryRunEstimate:
    """Requests a dry run built, their prompt tokens (characters / 4) and the input cost."""

    requests: int
    prompt_tokens: int
    input_cost_usd: float


@dataclass(frozen=True, kw_only=True)
class ReflectSummary:
    """The summary of one reflect run (see the module docstring)."""

    update_mode: str
    dry_run: bool
    trajectories: TrajectoryCounts
    minibatches: MinibatchCounts
    failed_minibatches: tuple[FailedMinibatch, ...]
    payload: PayloadCounts
    llm: Usage
    wall_s: float
    plan: tuple[PlanRow, ...]
    dry_run_estimate: DryRunEstimate | None = None

    def to_json(self) -> dict[str, Any]:
        """The `summary.json` document."""
        data = asdict(self)
        data["trajectories"]["skipped"] = self.trajectories.skipped
        data["llm"] = self.llm.to_json()
        if self.dry_run_estimate is None:
            del data["dry_run_estimate"]
        else:
            data["dry_run_estimate"]["note"] = (
                "tokens estimated as characters / 4; output tokens are unknown until a call is made"
            )
        return data
