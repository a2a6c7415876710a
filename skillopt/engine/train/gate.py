"""The gate: score a candidate skill on the selection split and decide whether it replaces current.

Scores live in one unit. A `Score` is always the raw mean hard/soft of a rollout, and the
`ScoreCache` stores only those; the gate value (hard, soft or a mix) is derived from a Score by
`GateSettings.value` whenever it is needed. An unmeasured score is None, never a sentinel such as
-1 or 0, so a real 0.0 is kept and compared like any other score.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from skillopt.base.scores import Score

GateAction = Literal["accept_new_best", "accept", "reject", "force_accept"]


@dataclass(frozen=True, kw_only=True)
class GateState:
    """Gate values of the current and best skills; None means not measured yet.

    best_step is the global step that produced the best skill (0 = the initial skill).
    """

    current_score: float | None
    best_score: float | None
    best_step: int

    @classmethod
    def unmeasured(cls) -> GateState:
        """State before the baseline evaluation."""
        return cls(current_score=None, best_score=None, best_step=0)

    @classmethod
    def baseline(cls, score: float) -> GateState:
        """State after evaluating the initial skill: it is both current and best, at step 0."""
        return cls(current_score=score, best_score=score, best_step=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "current_score": self.current_score,
            "best_score": self.best_score,
            "best_step": self.best_step,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateState:
        """Read a saved state; a stored 0.0 stays 0.0, only a missing or null score is None."""

        def score(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            current_score=score("current_score"),
            best_score=score("best_score"),
            best_step=int(data.get("best_step", 0)),
        )


@dataclass(frozen=True, kw_only=True)
class GateDecision:
    """The action taken, the state after it, and whether the candidate became the best skill."""

    action: GateAction
    state: GateState
    new_best: bool

    @property
    def accepted(self) -> bool:
        """True when the candidate became the current skill."""
        return self.action != "reject"


def _beats(candidate: float, score: float | None) -> bool:
    return score is None or candidate > score


def decide(candidate: float, state: GateState, *, step: int, use_gate: bool = True) -> GateDecision:
    """Decide on a candidate with gate value `candidate` produced at global step `step`.

    Gated (strict improvement): better than current and best -> accept_new_best (both become the
    candidate, best_step = step); better than current only -> accept; otherwise reject. A score
    that is None has not been measured, so any candidate beats it. With use_gate=False the
    candidate always becomes current (force_accept) and becomes best only if it beats best.
    """
    if math.isnan(candidate):
        raise ValueError("the candidate gate score is NaN")
    beats_best = _beats(candidate, state.best_score)
    if not use_gate:
        new_state = GateState(
            current_score=candidate,
            best_score=candidate if beats_best else state.best_score,
            best_step=step if beats_best else state.best_step,
        )
        return GateDecision(action="force_accept", state=new_state, new_best=beats_best)
    if not _beats(candidate, state.current_score):
        return GateDecision(action="reject", state=state, new_best=False)
    if beats_best:
        new_state = GateState(current_score=candidate, best_score=candidate, best_step=step)
        return GateDecision(action="accept_new_best", state=new_state, new_best=True)
    new_state = GateState(
        current_score=candidate, best_score=state.best_score, best_step=state.best_step
    )
    return GateDecision(action="accept", state=new_state, new_best=False)


class ScoreCache:
    """Skill hash -> raw Score of that skill on the selection split (never a gate value).

    A hit means the skill need not be rolled out again. `to_json`/`from_json` round-trip it
    through the run's state file.
    """

    def __init__(self, scores: Mapping[str, Score] | None = None) -> None:
        self._scores: dict[str, Score] = {}
        for key, score in (scores or {}).items():
            self.put(key, score)

    def get(self, skill_hash: str) -> Score | None:
        return self._scores.get(skill_hash)

    def put(self, skill_hash: str, score: Score) -> None:
        if not isinstance(score, Score):
            raise TypeError(
                f"ScoreCache holds raw Score values, got {type(score).__name__}; "
                "store the measured hard/soft, not a gate value"
            )
        self._scores[skill_hash] = score

    def __len__(self) -> int:
        return len(self._scores)

    def __contains__(self, skill_hash: object) -> bool:
        return skill_hash in self._scores

    def __iter__(self) -> Iterator[str]:
        return iter(self._scores)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {key: score.to_json() for key, score in sorted(self._scores.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, Any]]) -> ScoreCache:
        return cls({key: Score.from_json(value) for key, value in data.items()})
