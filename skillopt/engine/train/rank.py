"""Stage SELECT: keep at most the step's edit budget of merged items, ranked by the optimizer.

No call is made when the items already fit the budget, and a budget of 0 selects nothing. A
ranking reply that fails, or selects nothing usable, falls back to the first `budget` items and
says so in the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from skillopt.base.errors import ReplyError
from skillopt.base.modes import ModeSpec, UpdateMode
from skillopt.engine.ask import Asker
from skillopt.engine.prompts import format_meta_skill
from skillopt.engine.train.items import describe_item

STAGE = "ranking"

RankStatus = Literal["within_budget", "zero_budget", "ranked", "fallback"]


@dataclass(frozen=True, kw_only=True)
class RankOutcome:
    """The selected items in priority order and how they were chosen."""

    items: list[dict[str, Any]]
    status: RankStatus
    budget: int
    available: int
    selected_indices: list[int] = field(default_factory=list)
    reasoning: str = ""
    error: str | None = None

    def to_json(self, spec: ModeSpec) -> dict[str, Any]:
        """`ranked.json`."""
        return {
            "status": self.status,
            "budget": self.budget,
            "available": self.available,
            "selected_indices": self.selected_indices,
            "reasoning": self.reasoning,
            "error": self.error,
            spec.key: self.items,
        }


def _parse_indices(reply: object) -> tuple[str, list[Any]]:
    if not isinstance(reply, dict):
        raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
    indices = reply.get("selected_indices")
    if not isinstance(indices, list):
        raise ReplyError("'selected_indices' must be a list of 0-based indices")
    return str(reply.get("reasoning") or ""), indices


def select_indices(raw: Sequence[Any], *, available: int, budget: int) -> list[int]:
    """In-range, distinct integer indices in the given order, never more than `budget`."""
    selected: list[int] = []
    for value in raw:
        if len(selected) >= budget:
            break
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if 0 <= value < available and value not in selected:
            selected.append(value)
    return selected


def rank_and_select(
    *,
    skill: str,
    items: Sequence[dict[str, Any]],
    budget: int,
    spec: ModeSpec,
    asker: Asker,
    max_tokens: int = 16384,
    meta_skill: str = "",
) -> RankOutcome:
    """Choose up to `budget` of `items` (budget < 0: all of them)."""
    items = list(items)
    if budget < 0 or len(items) <= budget:
        return RankOutcome(items=items, status="within_budget", budget=budget, available=len(items))
    if budget == 0:
        return RankOutcome(items=[], status="zero_budget", budget=0, available=len(items))
    if spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH:
        raise ValueError("full rewrite candidates are not ranked")
    lines = "\n".join(f"[{i}] {describe_item(item, spec.mode)}" for i, item in enumerate(items))
    title = spec.plural.title()
    parts = [format_meta_skill(meta_skill)] if meta_skill.strip() else []
    parts += [
        f"## Current Skill\n{skill.rstrip()}",
        f"## {spec.singular.title()} Pool ({len(items)} {spec.plural}, budget {budget})\n{lines}",
        f"Select the {budget} most important {spec.plural} as 0-based indices, most important first. "
        f"{title} you leave out are discarded for this step.",
    ]
    answer = asker.ask(
        template="ranking"
        + ("_rewrite" if spec.mode is UpdateMode.REWRITE_FROM_SUGGESTIONS else ""),
        user="\n\n".join(parts),
        max_tokens=max_tokens,
        reply_format=f"ranking:{spec.mode.value}",
        stage=STAGE,
        label=f"budget_{budget}",
        parse=_parse_indices,
    )
    if answer.ok:
        reasoning, raw = answer.value
        chosen = select_indices(raw, available=len(items), budget=budget)
        if chosen:
            return RankOutcome(
                items=[items[i] for i in chosen],
                status="ranked",
                budget=budget,
                available=len(items),
                selected_indices=chosen,
                reasoning=reasoning,
            )
        error = f"the ranking reply selected no valid index from {raw!r}"
    else:
        error = answer.error
    return RankOutcome(
        items=items[:budget],
        status="fallback",
        budget=budget,
        available=len(items),
        selected_indices=list(range(budget)),
        reasoning=f"fallback: first {budget} of {len(items)} {spec.plural} kept",
        error=error,
    )
