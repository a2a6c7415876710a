"""Cut a dataset into train, selection and test splits by ratio, reproducibly (spec §11.2)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from skillopt.base.errors import ConfigError
from skillopt.engine.environment import Splits, Task


def parse_split_ratio(
    value: str | Sequence[float], *, key: str = "env.split_ratio"
) -> tuple[float, float, float]:
    """train:selection:test weights from "a:b:c" or three numbers; `key` names the setting in errors."""
    expected = "a string 'train:selection:test' such as '4:3:3', or a list of three numbers"
    if isinstance(value, (bool, int, float)):
        raise ConfigError(
            f"{key} must be {expected}, got {value!r} "
            "(quote it in YAML: an unquoted 4:3:3 is read as a base-60 integer)"
        )
    if isinstance(value, str):
        parts: list[Any] = value.split(":")
    else:
        try:
            parts = list(value)
        except TypeError:
            raise ConfigError(f"{key} must be {expected}, got {value!r}") from None
    if len(parts) != 3:
        raise ConfigError(f"{key} must have 3 parts (train:selection:test), got {value!r}")
    weights = []
    for part in parts:
        try:
            if isinstance(part, bool):
                raise ValueError
            weight = float(part)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} parts must be numbers, got {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{key} parts must be finite and >= 0, got {value!r}")
        weights.append(weight)
    if sum(weights) <= 0:
        raise ConfigError(f"{key} must have a positive total, got {value!r}")
    return weights[0], weights[1], weights[2]


def split_counts(n: int, ratio: Sequence[float]) -> tuple[int, ...]:
    """Split `n` by weight: floor each share, then give one leftover each to the largest
    fractional remainders (ties go to the earlier split). Exact decimal arithmetic, so 60 at
    0.4:0.3:0.3 is 24/18/18 like 4:3:3."""
    weights = [Fraction(repr(float(w))) for w in ratio]
    total = sum(weights)
    shares = [n * w / total for w in weights]
    counts = [math.floor(s) for s in shares]
    leftover = n - sum(counts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in by_remainder[:leftover]:
        counts[i] += 1
    return tuple(counts)


def split_by_ratio(
    tasks: Sequence[Task], ratio: Sequence[float], *, seed: int, limit: int = 0
) -> Splits:
    """Shuffle `tasks` with `random.Random(seed)`, cut train/selection/test by `ratio` (spec §11.2).

    `limit > 0` keeps only the first `limit` train tasks. Unlike SkillOpt, which truncated every
    split, selection and test stay whole, so gate and test scores mean the same with or without
    a limit.
    """
    if limit < 0:
        raise ConfigError(f"env.limit must be >= 0 (0 = no limit), got {limit}")
    order = list(tasks)
    random.Random(seed).shuffle(order)
    n_train, n_selection, _ = split_counts(len(order), ratio)
    train = order[:n_train]
    if limit > 0:
        train = train[:limit]
    return Splits(
        train=tuple(train),
        selection=tuple(order[n_train : n_train + n_selection]),
        test=tuple(order[n_train + n_selection :]),
    )
