"""What a reflect run produced, as typed values: the engine returns these and never prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from skillopt.base.modes import DroppedItem, ModeSpec
from skillopt.base.rollout import BadRecord
from skillopt.engine.minibatch import Minibatch
from skillopt.engine.observing import notify
from skillopt.engine.summary import (
    DryRunEstimate,
    FailedMinibatch,
    MinibatchCounts,
    PayloadCounts,
    PlanRow,
    ReflectSummary,
    TrajectoryCounts,
)
from skillopt.llm.ledger import Price, Usage
from skillopt.llm.types import ChatRequest, estimate_tokens

Status = Literal["ok", "failed", "empty", "dry_run"]
FailureReason = Literal["budget", "llm_error", "invalid_reply"]


@dataclass(frozen=True, kw_only=True)
class CallInfo:
    """One request sent (or answered from the cache) for a minibatch."""

    key: str
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    retries: int


@dataclass(frozen=True, kw_only=True)
class PreparedMinibatch:
    """A minibatch's request before it is sent. `request` is None when no trajectory had a
    conversation (nothing to ask)."""

    minibatch: Minibatch
    shown_ids: tuple[str, ...]
    skipped_ids: tuple[str, ...]
    template: str
    system: str
    user: str
    trajectories_text: str
    request: ChatRequest | None

    @property
    def name(self) -> str:
        return self.minibatch.name

    @property
    def estimated_prompt_tokens(self) -> int:
        return estimate_tokens(self.request.chars) if self.request is not None else 0


@dataclass(frozen=True, kw_only=True)
class MinibatchResult:
    """The analyst's work on one minibatch.

    `status`: ok (a valid reply), failed (`failure_reason` + `error` say why), empty (no
    trajectory had a conversation, so no call), dry_run (request built, not sent).
    `appendix_notes`: the execution lapses a skill-aware failure analyst wrote down (None when
    the minibatch was not asked for them).
    """

    prepared: PreparedMinibatch
    status: Status
    items: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[DroppedItem] = field(default_factory=list)
    truncated: int = 0
    reply: dict[str, Any] | None = None
    failure_reason: FailureReason | None = None
    error: str | None = None
    calls: list[CallInfo] = field(default_factory=list)
    repaired: bool = False
    appendix_notes: list[str] | None = None

    # The request side, read through from the prepared minibatch.
    @property
    def name(self) -> str:
        return self.prepared.name

    @property
    def minibatch(self) -> Minibatch:
        return self.prepared.minibatch

    @property
    def shown_ids(self) -> tuple[str, ...]:
        return self.prepared.shown_ids

    @property
    def skipped_ids(self) -> tuple[str, ...]:
        return self.prepared.skipped_ids

    @property
    def system(self) -> str:
        return self.prepared.system

    @property
    def user(self) -> str:
        return self.prepared.user

    @property
    def estimated_prompt_tokens(self) -> int:
        return self.prepared.estimated_prompt_tokens

    @property
    def resumed(self) -> bool:
        """Every call was answered from the call cache."""
        return bool(self.calls) and all(c.cached for c in self.calls)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls if not c.cached)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls if not c.cached)

    @property
    def latency_s(self) -> float:
        return sum(c.latency_s for c in self.calls if not c.cached)

    def patch_document(self, spec: ModeSpec) -> dict[str, Any]:
        """The patch file: the analyst's JSON with only the kept items, plus provenance."""
        reply = dict(self.reply or {})
        patch = dict(reply.get("patch") or {})
        patch[spec.key] = self.items
        reply["patch"] = patch
        reply["source_type"] = self.minibatch.kind
        reply["minibatch"] = self.name
        reply["ids"] = list(self.shown_ids)
        reply["validation"] = {
            "dropped": [{"index": d.index, "reason": d.reason} for d in self.dropped],
            "truncated_by_budget": self.truncated,
        }
        if self.appendix_notes is not None:
            reply["appendix_notes"] = list(self.appendix_notes)
        return reply


class ReflectObserver(Protocol):
    """What a reflect run tells its listeners, in order: the plan, each request as it is built,
    each result as it arrives (on the thread that finished it), then the summary. The CLI draws
    a progress bar, writes files and tracks the run with these events."""

    def on_start(self, plan: list[Minibatch]) -> None: ...

    def on_minibatch_ready(self, prepared: PreparedMinibatch) -> None: ...

    def on_minibatch_done(self, result: MinibatchResult) -> None: ...

    def on_finish(self, summary: ReflectSummary) -> None: ...


class NullObserver:
    """The default observer: does nothing. Subclass it to handle only some events."""

    def on_start(self, plan: list[Minibatch]) -> None:
        return None

    def on_minibatch_ready(self, prepared: PreparedMinibatch) -> None:
        return None

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        return None

    def on_finish(self, summary: ReflectSummary) -> None:
        return None


class Observers(NullObserver):
    """Several observers as one, called in order (see `skillopt.engine.observing.notify`)."""

    def __init__(self, *observers: ReflectObserver) -> None:
        self.observers = observers

    def on_start(self, plan: list[Minibatch]) -> None:
        notify(self.observers, "on_start", plan)

    def on_minibatch_ready(self, prepared: PreparedMinibatch) -> None:
        notify(self.observers, "on_minibatch_ready", prepared)

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        notify(self.observers, "on_minibatch_done", result)

    def on_finish(self, summary: ReflectSummary) -> None:
        notify(self.observers, "on_finish", summary)


@dataclass(frozen=True, kw_only=True)
class ReflectOutcome:
    """All minibatch results, ordered by minibatch name, plus what was read and what it cost."""

    spec: ModeSpec
    results: list[MinibatchResult]
    trajectories_total: int
    failures: int
    successes: int
    missing_conversation: list[str]
    bad_records: list[BadRecord]
    llm: Usage
    wall_s: float
    dry_run: bool
    price: Price

    @cached_property
    def summary(self) -> ReflectSummary:
        """The run in numbers (`price` turns a dry run's estimated prompt tokens into cost)."""
        return summarize(self, price=self.price)

    def by_status(self, status: Status) -> list[MinibatchResult]:
        return [r for r in self.results if r.status == status]

    def op_counts(self) -> dict[str, int]:
        """Payload items per kind: edit op in patch mode, suggestion type in rewrite mode."""
        counter: Counter[str] = Counter()
        for result in self.results:
            for item in result.items:
                counter[str(item.get("op") or item.get("type") or "candidate")] += 1
        return dict(sorted(counter.items()))


def summarize(outcome: ReflectOutcome, *, price: Price) -> ReflectSummary:
    """The summary of `outcome`; `price` turns a dry run's estimated prompt tokens into cost."""
    results = outcome.results
    estimate = None
    if outcome.dry_run:
        prompt_tokens = sum(r.estimated_prompt_tokens for r in results)
        estimate = DryRunEstimate(
            requests=sum(r.status == "dry_run" for r in results),
            prompt_tokens=prompt_tokens,
            input_cost_usd=round(price.cost(prompt_tokens, 0), 6),
        )
    return ReflectSummary(
        update_mode=outcome.spec.mode.value,
        dry_run=outcome.dry_run,
        trajectories=TrajectoryCounts(
            total=outcome.trajectories_total,
            failures=outcome.failures,
            successes=outcome.successes,
            skipped_ids=tuple(outcome.missing_conversation),
            bad_records=tuple(outcome.bad_records),
        ),
        minibatches=MinibatchCounts(
            total=len(results),
            failure=sum(r.minibatch.kind == "failure" for r in results),
            success=sum(r.minibatch.kind == "success" for r in results),
            ok=len(outcome.by_status("ok")),
            failed=len(outcome.by_status("failed")),
            empty=len(outcome.by_status("empty")),
            resumed=sum(r.resumed for r in results),
        ),
        failed_minibatches=tuple(
            FailedMinibatch(minibatch=r.name, reason=r.failure_reason, error=r.error)
            for r in outcome.by_status("failed")
        ),
        payload=PayloadCounts(
            key=outcome.spec.key,
            items=sum(len(r.items) for r in results),
            dropped=sum(len(r.dropped) for r in results),
            truncated_by_budget=sum(r.truncated for r in results),
            repaired_replies=sum(r.repaired for r in results),
            by_kind=outcome.op_counts(),
        ),
        llm=outcome.llm,
        wall_s=round(outcome.wall_s, 4),
        plan=tuple(
            PlanRow(
                minibatch=r.name,
                kind=r.minibatch.kind,
                ids=tuple(r.minibatch.ids),
                skipped_ids=tuple(r.skipped_ids),
                status=r.status,
                payload_items=len(r.items),
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                latency_s=round(r.latency_s, 4),
            )
            for r in results
        ),
        dry_run_estimate=estimate,
    )
