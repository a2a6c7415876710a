"""Usage, cost and budget for the calls of one run. Thread-safe; the reflect workers share it."""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass, field
from typing import Any

from skillopt.base.errors import BudgetExhausted
from skillopt.llm.types import ChatResponse


@dataclass(frozen=True, kw_only=True)
class Price:
    """US dollars per million tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6


@dataclass(kw_only=True)
class _StageUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(kw_only=True)
class Ledger:
    """Counts what was paid for. Cache hits cost nothing and are counted apart.

    `max_calls` and `max_cost_usd` (None = unlimited) are checked before each new call starts;
    calls already under way may finish past the cost limit.
    """

    price: Price = field(default_factory=Price)
    max_calls: int | None = None
    max_cost_usd: float | None = None
    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, _StageUsage] = field(default_factory=dict)
    _started: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self) -> None:
        """Claim the right to start one new call, or raise BudgetExhausted."""
        with self._lock:
            if self.max_calls is not None and self._started >= self.max_calls:
                raise BudgetExhausted(f"budget: model.max_calls={self.max_calls} reached")
            if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
                raise BudgetExhausted(
                    f"budget: model.max_cost_usd={self.max_cost_usd:g} reached (spent ${self.cost_usd:.4f})"
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
            usage = self.stages.setdefault(stage, _StageUsage())
            usage.calls += 1
            usage.prompt_tokens += response.prompt_tokens
            usage.completion_tokens += response.completion_tokens
            usage.cost_usd += cost
        return cost

    def record_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1

    def restore(self, summary: dict[str, Any]) -> None:
        """Add the totals of an earlier attempt (a `summary()`), so a resumed run reports what the
        whole run paid, not only what this process paid. Latencies are not restored."""
        with self._lock:
            for name in (
                "calls",
                "errors",
                "cache_hits",
                "retries",
                "prompt_tokens",
                "completion_tokens",
            ):
                setattr(self, name, getattr(self, name) + int(summary.get(name, 0)))
            self.cost_usd += float(summary.get("cost_usd", 0.0))
            self._started += int(summary.get("calls", 0))
            for stage, usage in (summary.get("stages") or {}).items():
                target = self.stages.setdefault(stage, _StageUsage())
                target.calls += int(usage.get("calls", 0))
                target.prompt_tokens += int(usage.get("prompt_tokens", 0))
                target.completion_tokens += int(usage.get("completion_tokens", 0))
                target.cost_usd += float(usage.get("cost_usd", 0.0))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            lat = sorted(self.latencies)
            return {
                "calls": self.calls,
                "errors": self.errors,
                "cache_hits": self.cache_hits,
                "retries": self.retries,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": round(self.cost_usd, 6),
                "latency_p50_s": round(statistics.median(lat), 4) if lat else 0.0,
                "latency_max_s": round(lat[-1], 4) if lat else 0.0,
                "stages": {name: vars(u).copy() for name, u in sorted(self.stages.items())},
            }
