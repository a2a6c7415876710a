"""Cut a dataset into train, selection and test splits by ratio, reproducibly (spec §11.2)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from skillopt.base.checks import SettingError, check_int
from skillopt.engine.environment import Splits, Task


def parse_split_ratio(
    value: str | Sequence[float], *, field: str = "split_ratio"
) -> tuple[float, float, float]:
    """train:selection:test weights from "a:b:c" or three numbers; `field` names it in errors."""
    allowed = (
        "expected 'train:selection:test' weights such as '4:3:3' (or a list of three numbers), "
        "finite, >= 0, with a positive total"
    )
    if isinstance(value, (bool, int, float)):
        raise SettingError(
            field, value, allowed + " (quote it in YAML: an unquoted 4:3:3 is a base-60 integer)"
        )
    try:
        parts: list[Any] = value.split(":") if isinstance(value, str) else list(value)
        if len(parts) != 3 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        weights = [float(part) for part in parts]
    except (TypeError, ValueError):
        raise SettingError(field, value, allowed) from None
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise SettingError(field, value, allowed)
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
    check_int("limit", limit, minimum=0, note="0 = no limit")
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
