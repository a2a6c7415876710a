"""Scores of rollout rows, and the one rule that says whether a task failed.

A task failed when its `hard` reward is missing, zero, negative, NaN or below 1e-9; every other
task succeeded, so a partly correct task (0 < hard < 1) is a success in every stage: the reflect
split, the step buffer and the epoch comparison. SkillOpt applies the same threshold in those
stages but tests success with `bool(hard)`, so a reward between 0 and 1e-9 counted as both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FAILURE_EPSILON = 1e-9


def is_failure(hard: Any) -> bool:
    """True when a task with this `hard` reward failed (see the module docstring)."""
    if hard is None:
        return True
    try:
        value = float(hard)
    except (TypeError, ValueError):
        return True
    return math.isnan(value) or value < FAILURE_EPSILON


def row_failed(row: Mapping[str, Any]) -> bool:
    """`is_failure` of a rollout row's `hard` field (a missing field is a failure)."""
    return is_failure(row.get("hard"))


@dataclass(frozen=True, kw_only=True)
class Score:
    """Mean hard and soft reward over `n` rollout rows."""

    hard: float
    soft: float
    n: int = 0

    def rounded(self, digits: int = 6) -> Score:
        """The score as records keep it (what a JSON round trip of a record gives back)."""
        return Score(hard=round(self.hard, digits), soft=round(self.soft, digits), n=self.n)

    def to_json(self) -> dict[str, Any]:
        return {"hard": self.hard, "soft": self.soft, "n": self.n}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Score:
        return cls(hard=float(data["hard"]), soft=float(data["soft"]), n=int(data.get("n", 0)))


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return 0.0 if value is None else float(value)


def mean_score(rows: Sequence[Mapping[str, Any]]) -> Score:
    """Mean `hard` and `soft` over the rows (a missing value counts as 0); no rows -> 0, 0, n=0."""
    if not rows:
        return Score(hard=0.0, soft=0.0, n=0)
    n = len(rows)
    return Score(
        hard=sum(_number(r, "hard") for r in rows) / n,
        soft=sum(_number(r, "soft") for r in rows) / n,
        n=n,
    )
