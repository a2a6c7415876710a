"""Statistics across seeds: a sample's mean, standard deviation and interval, and the paired
comparison of two settings over the seeds both ran. Numbers in, numbers out.

Intervals are bootstrap intervals of the mean (`scipy.stats.bootstrap`, percentile method,
`RESAMPLES` resamples, a fixed random state so the same values give the same interval, and so
the same report bytes, every time). A sweep has few seeds, and the plain percentile interval is
too narrow for small samples; it is *expanded* (Hesterberg 2015, "What teachers should know
about the bootstrap", The American Statistician 69(4)): the tail probability α/2 is replaced
by Φ(−√(n/(n−1)) · t_{1−α/2, n−1}), which tends to α/2 as n grows. With 4 values the expanded 95 %
interval is about the range of the values. Not BCa: with 3-5 values its acceleration is
unstable, and it is undefined when the values tie.

A constant sample has the point interval [v, v] (every resample has the same mean; scipy is not
asked, since it would warn). One value has no standard deviation and no interval (None, shown
as `—`); nothing here returns NaN.

The decision rule of a paired comparison (`paired`): the differences per shared seed, their
mean and its interval as above; the comparison is decided (`side` ±1) only when there are at
least `MIN_PAIRS` pairs and the whole interval lies on one side of 0; a constant difference
decides by its sign, all-zero differences never do. The Wilcoxon signed-rank p (exact, zero
differences dropped) is reported beside it, not used: with 4 pairs its smallest two-sided value
is 0.125, so it could never reach 0.05. With 4 pairs the rule amounts to "every seed moved the
same way", which chance alone gives 1 time in 8; more seeds make it stricter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RESAMPLES = 9999
BOOTSTRAP_SEED = 0
BOOTSTRAP_METHOD = "percentile, expanded for small samples"
MIN_PAIRS = 4  # below this a paired comparison is "too few pairs", never a verdict
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, kw_only=True)
class Sample:
    """n values: their mean, standard deviation (n − 1 in the denominator) and the interval of
    the mean at the level asked for; None where undefined (no values; sd and interval with one
    value)."""

    values: tuple[float, ...]
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None

    @property
    def n(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict[str, float | int | None]:
        """n, mean, sd, ci_low, ci_high (the values are not repeated)."""
        return {
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "ci_low": self.low,
            "ci_high": self.high,
        }


@dataclass(frozen=True, kw_only=True)
class Paired:
    """A paired comparison: differences (a − b) per shared seed, their Sample, the Wilcoxon p
    (None when every difference is 0 or there is none), and side: +1 when a is higher (the
    whole interval above 0), −1 when lower, 0 when undecided (the interval holds 0, or fewer
    than MIN_PAIRS pairs)."""

    differences: Sample
    wilcoxon_p: float | None
    side: int

    @property
    def pairs(self) -> int:
        return self.differences.n

    @property
    def enough(self) -> bool:
        return self.pairs >= MIN_PAIRS


def check_level(level: float) -> None:
    """A ValueError unless 0 < level < 1."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"the confidence level must be between 0 and 1, not {level:g}")


def expanded_level(level: float, n: int) -> float:
    """The confidence level the percentile interval of n values is taken at, so that it covers
    about `level` (the expanded percentile interval; see the module docstring)."""
    from scipy.stats import norm, t

    tail = norm.sf(math.sqrt(n / (n - 1)) * t.ppf(1 - (1 - level) / 2, n - 1))
    return float(1 - 2 * tail)


def interval(values: Sequence[float], level: float) -> tuple[float, float] | None:
    """The expanded percentile bootstrap interval of the mean of `values` at `level`; the point
    interval for a constant sample; None for fewer than two values."""
    if len(values) < 2:
        return None
    if min(values) == max(values):
        return float(values[0]), float(values[0])
    import numpy as np
    from scipy.stats import bootstrap

    result = bootstrap(
        (np.asarray(values, dtype=float),),
        np.mean,
        confidence_level=expanded_level(level, len(values)),
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def sample(values: Sequence[float], level: float) -> Sample:
    """The Sample of `values` (finite numbers) at `level`."""
    values = tuple(float(v) for v in values)
    n = len(values)
    mean = math.fsum(values) / n if n else None
    sd = None
    if n >= 2 and mean is not None:
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    bounds = interval(values, level)
    return Sample(
        values=values,
        mean=mean,
        sd=sd,
        low=bounds[0] if bounds else None,
        high=bounds[1] if bounds else None,
    )


def wilcoxon_p(differences: Sequence[float]) -> float | None:
    """The two-sided exact Wilcoxon signed-rank p of `differences` (zeros dropped, ties given
    their mean rank); None when no difference is non-zero."""
    if not any(d != 0 for d in differences):
        return None
    from scipy.stats import wilcoxon

    return float(wilcoxon(differences, zero_method="wilcox", method="exact").pvalue)


def paired(differences: Sequence[float], level: float) -> Paired:
    """The paired comparison of the per-seed `differences` (a − b) at `level`."""
    stats = sample(differences, level)
    side = 0
    if stats.n >= MIN_PAIRS and stats.low is not None and stats.high is not None:
        if stats.low > 0:
            side = 1
        elif stats.high < 0:
            side = -1
    return Paired(differences=stats, wilcoxon_p=wilcoxon_p(differences), side=side)
