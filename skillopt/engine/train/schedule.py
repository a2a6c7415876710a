"""Edit-budget schedules: how many payload items a training step may apply (SkillOpt's "learning rate").

A schedule is a pure function of the 1-based **global** step. SkillOpt kept a counter that only
advanced on steps that reached SELECT but was reset to the global step on resume, so a resumed
run saw a shifted budget sequence. Keying on the global step gives the same budget for the same
step whether or not earlier steps were skipped or the run was resumed.

`autonomous` is not a formula: the optimizer decides each step how many merged items to apply
(`skillopt.engine.train.autonomous`); its schedule budget is only the analysts' per-minibatch
limit, `edit_budget`, as in SkillOpt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from skillopt.base.checks import check_int, choice

ScheduleKind = Literal["constant", "linear", "cosine", "autonomous"]
SCHEDULE_KINDS: tuple[str, ...] = ("constant", "linear", "cosine", "autonomous")
SCHEDULE_ALIASES: dict[str, str] = {"auto": "autonomous", "optimizer": "autonomous"}
"""SkillOpt's names for `lr_control_mode: autonomous`."""


@dataclass(frozen=True, kw_only=True)
class EditBudgetSchedule:
    """The edit budget for each global step.

    kind: constant | linear | cosine | autonomous (`train.schedule`); trimmed and lowercased.
    max_budget: budget at the start of the decay, and the constant budget (`train.edit_budget`).
    min_budget: floor the decays end at (`train.min_edit_budget`); 0 <= min_budget <= max_budget.
    total_steps: T, the number of global steps the decay spans (epochs * steps per epoch).

    With t = min(step, T) / T (step 1 already uses t = 1/T) and Python's half-to-even `round`:
    linear = max(min, round(max + (min - max) * t)); cosine = max(min, round(min + (max - min) *
    (1 + cos(pi * t)) / 2)). Both decays return max_budget when T <= 1. A budget of 0 means
    "select nothing". constant and autonomous always return max_budget.
    """

    kind: str
    max_budget: int
    min_budget: int
    total_steps: int

    def __post_init__(self) -> None:
        kind = choice("schedule", self.kind, SCHEDULE_KINDS, SCHEDULE_ALIASES)
        object.__setattr__(self, "kind", kind)
        check_int("edit_budget", self.max_budget, minimum=0)
        check_int("min_edit_budget", self.min_budget, minimum=0, maximum=self.max_budget)
        check_int("total_steps", self.total_steps, minimum=0)

    @property
    def autonomous(self) -> bool:
        """The optimizer decides each step's budget; `budget` is then the analysts' limit."""
        return self.kind == "autonomous"

    def budget(self, step: int) -> int:
        """The budget of global step `step` (1-based); the same step always gives the same budget."""
        if step < 1:
            raise ValueError(f"global steps are 1-based, got step={step}")
        hi, lo, total = self.max_budget, self.min_budget, self.total_steps
        if self.kind in ("constant", "autonomous") or total <= 1:
            return hi
        t = min(step, total) / total
        if self.kind == "linear":
            value = hi + (lo - hi) * t
        else:
            value = lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * t))
        return max(lo, round(value))


def make_schedule(
    kind: str, *, max_budget: int, min_budget: int, total_steps: int
) -> EditBudgetSchedule:
    """Build and validate a schedule; a SettingError names the field for an unknown kind or bad
    bounds."""
    return EditBudgetSchedule(
        kind=kind, max_budget=max_budget, min_budget=min_budget, total_steps=total_steps
    )
