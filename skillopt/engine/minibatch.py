"""Split scored trajectories into minibatches exactly as SkillOpt does for the same seed.

Failures are shuffled with `random.Random(seed)`, successes with `random.Random(seed + 1)`,
then each list is cut into consecutive chunks of `minibatch_size` (the last may be short).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from skillopt.base.errors import ConfigError
from skillopt.base.rollout import TrajectoryRecord

Kind = Literal["failure", "success"]
_PREFIX = {"failure": "minibatch_fail", "success": "minibatch_succ"}


@dataclass(frozen=True, kw_only=True)
class Minibatch:
    """One analyst call's worth of trajectories."""

    name: str
    kind: Kind
    index: int
    ids: tuple[str, ...]


def minibatch_name(kind: Kind, index: int) -> str:
    return f"{_PREFIX[kind]}_{index:03d}"


def _chunks(ids: list[str], size: int, kind: Kind) -> list[Minibatch]:
    return [
        Minibatch(
            name=minibatch_name(kind, i), kind=kind, index=i, ids=tuple(ids[start : start + size])
        )
        for i, start in enumerate(range(0, len(ids), size))
    ]


def plan_minibatches(
    records: list[TrajectoryRecord],
    *,
    minibatch_size: int,
    seed: int | None,
    failure_only: bool = False,
) -> list[Minibatch]:
    """Failure minibatches first, then success minibatches; names sort in the same order.

    `seed=None` keeps input order (SkillOpt's behaviour without a seed).
    """
    if minibatch_size < 1:
        raise ConfigError(f"reflect.minibatch_size must be >= 1, got {minibatch_size}")
    failures = [r.id for r in records if r.is_failure]
    successes = [] if failure_only else [r.id for r in records if not r.is_failure]
    if seed is not None:
        random.Random(seed).shuffle(failures)
        random.Random(seed + 1).shuffle(successes)
    return _chunks(failures, minibatch_size, "failure") + _chunks(
        successes, minibatch_size, "success"
    )
