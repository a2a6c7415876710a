"""Usage, cost and budget for the calls of one run. Thread-safe; the reflect workers share it."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from skillopt.base.checks import check_int, check_number
from skillopt.base.errors import BudgetExhausted
from skillopt.llm.types import ChatResponse


@dataclass(frozen=True, kw_only=True)
class Price:
    """US dollars per million tokens (`<role>.price.*` in config)."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def __post_init__(self) -> None:
        check_number("input_per_mtok", self.input_per_mtok, minimum=0)
        check_number("output_per_mtok", self.output_per_mtok, minimum=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Guards on what one role may spend (`<role>.max_calls`, `<role>.max_cost_usd`; None =
    unlimited). Checked before each new call starts: once reached, no new call starts, and calls
    already under way may finish past the cost limit."""

    max_calls: int | None = None
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        check_int("max_calls", self.max_calls, minimum=0, optional=True, note="null = no limit")
        check_number(
            "max_cost_usd", self.max_cost_usd, minimum=0, optional=True, note="null = no limit"
        )


@dataclass(frozen=True, kw_only=True)
class StageUsage:
    """What the calls of one stage (analyst, merge, rollout, ...) used."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    repaired: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageUsage:
        return cls(**_counts(cls, data))

    def plus(self, other: StageUsage) -> StageUsage:
        return StageUsage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def minus(self, other: StageUsage) -> StageUsage:
        delta = {f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        delta["cost_usd"] = round(delta["cost_usd"], 6)
        return StageUsage(**delta)


@dataclass(frozen=True, kw_only=True)
class Usage:
    """A ledger's totals: calls made (cache hits apart), failed calls, transport retries, replies
    used only after repairing near-JSON, tokens, cost in USD, latency, and the same counts per
    stage."""

    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    retries: int = 0
    repaired: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_p50_s: float = 0.0
    latency_max_s: float = 0.0
    stages: dict[str, StageUsage] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = {name: usage.to_json() for name, usage in self.stages.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Usage:
        stages = {name: StageUsage.from_json(u) for name, u in (data.get("stages") or {}).items()}
        return cls(**_counts(cls, data), stages=stages)


def _counts(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric fields of `cls` read from `data` with their types (missing ones are 0)."""
    return {
        f.name: type(f.default)(data.get(f.name, f.default))
        for f in fields(cls)
        if isinstance(f.default, int | float)
    }


@dataclass(kw_only=True)
class Ledger:
    """Counts what was paid for. Cache hits cost nothing and are counted apart. Thread-safe."""

    price: Price = field(default_factory=Price)
    budget: Budget = field(default_factory=Budget)
    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    retries: int = 0
    repaired: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, StageUsage] = field(default_factory=dict)
    _started: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self) -> None:
        """Claim the right to start one new call, or raise BudgetExhausted."""
        budget = self.budget
        with self._lock:
            if budget.max_calls is not None and self._started >= budget.max_calls:
                raise BudgetExhausted(f"budget: max_calls={budget.max_calls} reached")
            if budget.max_cost_usd is not None and self.cost_usd >= budget.max_cost_usd:
                raise BudgetExhausted(
                    f"budget: max_cost_usd={budget.max_cost_usd:g} reached "
                    f"(spent ${self.cost_usd:.4f})"
                )
            self._started += 1

    def record(self, response: ChatResponse, *, stage: str) -> float:
        cost = self.price.cost(response.prompt_tokens, response.completion_tokens)
        with self._lock:
            self.calls += 1
            self.retries += response.retries
            self.prompt_tokens += response.prompt_tokens
            self.completion_tokens += response.completion_tokens
            self.cost_usd += cost
            self.latencies.append(response.latency_s)
            call = StageUsage(
                calls=1,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                cost_usd=cost,
            )
            self.stages[stage] = self.stages.get(stage, StageUsage()).plus(call)
        return cost

    def record_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1

    def record_repair(self, *, stage: str) -> None:
        """A reply of `stage` was used after its near-JSON was repaired."""
        with self._lock:
            self.repaired += 1
            self.stages[stage] = self.stages.get(stage, StageUsage()).plus(StageUsage(repaired=1))

    def restore(self, earlier: Usage) -> None:
        """Add the totals of an earlier attempt, so a resumed run reports what the whole run
        paid, not only what this process paid. Latencies are not restored."""
        with self._lock:
            for name in (
                "calls",
                "errors",
                "cache_hits",
                "retries",
                "repaired",
                "prompt_tokens",
                "completion_tokens",
            ):
                setattr(self, name, getattr(self, name) + getattr(earlier, name))
            self.cost_usd += earlier.cost_usd
            self._started += earlier.calls
            for stage, usage in earlier.stages.items():
                self.stages[stage] = self.stages.get(stage, StageUsage()).plus(usage)

    def usage(self) -> Usage:
        """The totals so far (cost rounded to micro-dollars)."""
        with self._lock:
            lat = sorted(self.latencies)
            return Usage(
                calls=self.calls,
                errors=self.errors,
                cache_hits=self.cache_hits,
                retries=self.retries,
                repaired=self.repaired,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                cost_usd=round(self.cost_usd, 6),
                latency_p50_s=round(statistics.median(lat), 4) if lat else 0.0,
                latency_max_s=round(lat[-1], 4) if lat else 0.0,
                stages=dict(sorted(self.stages.items())),
            )


def usage_delta(
    before: dict[str, StageUsage], after: dict[str, StageUsage]
) -> dict[str, StageUsage]:
    """What each stage used between two snapshots (stages that used nothing are left out)."""
    delta: dict[str, StageUsage] = {}
    for stage, usage in sorted(after.items()):
        change = usage.minus(before.get(stage, StageUsage()))
        if change != StageUsage():
            delta[stage] = change
    return delta
