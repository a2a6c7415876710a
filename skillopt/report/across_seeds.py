"""Statistics across seeds for one part of a report (the training runs or the reflect runs):
per setting and metric the n, mean, standard deviation and interval; every setting against a
baseline, paired by seed; and the verdict: the best setting by the chosen metric with its
interval, and whether it is distinguishable from the runner-up, in one sentence.

The baseline is the setting `--baseline KEY=VALUE[,KEY=VALUE]` names, else the best setting
(so the table reads "each setting against the best one"). Where a setting ran a seed more than
once, the pairing uses the mean of its runs for that seed and a note says so. Settings come from
`grouping`, numbers from `stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from skillopt.report.document import Figure
from skillopt.report.errors import ReportError
from skillopt.report.grouping import (
    HIGHER,
    LOWER,
    REFLECT_METRICS,
    TRAIN_METRICS,
    Grouping,
    SeedMetric,
    Setting,
)
from skillopt.report.plots_seeds import seeds_plot
from skillopt.report.stats import DEFAULT_LEVEL, MIN_PAIRS, Paired, Sample, paired, sample
from skillopt.report.text import fmt_number, fmt_p, percent, plural, signed
from skillopt.tracking.names import JOB_REFLECT, JOB_TRAIN

BETTER = "better"
WORSE = "worse"
NO_EVIDENCE = "no evidence"
TOO_FEW = "too few pairs"
JOB_METRICS = {JOB_TRAIN: TRAIN_METRICS, JOB_REFLECT: REFLECT_METRICS}


@dataclass(frozen=True, kw_only=True)
class SeedOptions:
    """metric: the metric key the settings are ranked and compared by (None: the job's first,
    best selection score for training, payload items for reflect); baseline: KEY=VALUE pairs
    naming the setting the others are compared with (None: the best setting); level: of every
    interval (default 0.95); seed_keys: params counted as seeds besides the usual ones."""

    metric: str | None = None
    baseline: dict[str, str] | None = None
    level: float = DEFAULT_LEVEL
    seed_keys: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SettingStats:
    """A setting and, by metric key, the Sample of its runs' values."""

    setting: Setting
    samples: dict[str, Sample]


@dataclass(frozen=True, kw_only=True)
class PairedComparison:
    """`setting` against `baseline` on `metric` over their shared seeds (in the setting's
    order); test: the differences setting − baseline."""

    setting: Setting
    baseline: Setting
    metric: SeedMetric
    seeds: tuple[str, ...]
    test: Paired

    @property
    def verdict(self) -> str:
        """`better`, `worse` or `no evidence` (`higher`/`lower` for a metric with no better
        direction), or `too few pairs`."""
        if not self.test.enough:
            return TOO_FEW
        if self.test.side == 0:
            return NO_EVIDENCE
        if self.metric.better is None:
            return HIGHER if self.test.side > 0 else LOWER
        return BETTER if self.test.side == _better_side(self.metric) else WORSE

    def as_dict(self) -> dict[str, Any]:
        d = self.test.differences
        return {
            "setting": self.setting.key,
            "baseline": self.baseline.key,
            "metric": self.metric.key,
            "pairs": self.test.pairs,
            "seeds": list(self.seeds),
            "differences": list(d.values),
            "diff_mean": d.mean,
            "sd": d.sd,
            "ci_low": d.low,
            "ci_high": d.high,
            "wilcoxon_p": self.test.wilcoxon_p,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, kw_only=True)
class SeedsPart:
    """The statistics across seeds of one job's runs. metric: the chosen one; stats: per
    setting; baseline: the setting compared with (asked: named by --baseline, else the best);
    comparisons: every other setting against it, for every metric; ranked: the settings with
    a value of the chosen metric, best first; notes: sentences on the runs left out and the
    seeds run twice; verdict: the one sentence; plot: the figure (None without values)."""

    job: str
    metrics: tuple[SeedMetric, ...]
    metric: SeedMetric
    level: float
    grouping: Grouping
    stats: tuple[SettingStats, ...]
    baseline: Setting | None
    baseline_asked: bool
    comparisons: tuple[PairedComparison, ...]
    ranked: tuple[Setting, ...]
    notes: tuple[str, ...]
    verdict: str
    plot: Figure | None

    def chosen(self) -> list[PairedComparison]:
        """The comparisons on the chosen metric, in settings order."""
        return [c for c in self.comparisons if c.metric.key == self.metric.key]


def job_metric(job: str, key: str | None) -> SeedMetric | None:
    """The job's metric named `key` (its first metric for None); None if it has no such one."""
    metrics = JOB_METRICS[job]
    if key is None:
        return metrics[0]
    return next((m for m in metrics if m.key == key), None)


def metric_keys(job: str) -> list[str]:
    return [m.key for m in JOB_METRICS[job]]


def _better_side(metric: SeedMetric) -> int:
    """+1 when a higher value is better (or neither is), −1 when lower is."""
    return -1 if metric.better == LOWER else 1


def by_seed(setting: Setting, metric: SeedMetric) -> dict[str, float]:
    """The setting's value per seed (the mean where it ran a seed more than once)."""
    found: dict[str, list[float]] = {}
    for seed, value in setting.values(metric):
        found.setdefault(seed, []).append(value)
    return {seed: math.fsum(values) / len(values) for seed, values in found.items()}


def compare_settings(
    setting: Setting, baseline: Setting, metric: SeedMetric, level: float
) -> PairedComparison:
    """`setting` against `baseline` on `metric`, paired by seed."""
    mine, theirs = by_seed(setting, metric), by_seed(baseline, metric)
    shared = tuple(seed for seed in mine if seed in theirs)
    differences = [mine[seed] - theirs[seed] for seed in shared]
    return PairedComparison(
        setting=setting,
        baseline=baseline,
        metric=metric,
        seeds=shared,
        test=paired(differences, level),
    )


def rank(stats: tuple[SettingStats, ...], metric: SeedMetric) -> tuple[Setting, ...]:
    """The settings with a mean of `metric`, best first (highest first for a metric with no
    better direction); ties keep the settings' order."""
    valued = [(s.samples[metric.key].mean, i, s.setting) for i, s in enumerate(stats)]
    sign = -_better_side(metric)
    ordered = sorted((v for v in valued if v[0] is not None), key=lambda v: (sign * v[0], v[1]))
    return tuple(setting for _, _, setting in ordered)


def asked_baseline(grouping: Grouping, wanted: dict[str, str]) -> Setting | None:
    """The one setting `wanted` (KEY=VALUE pairs) names; None if it names none (whether that is
    an error depends on the other part of the report). A ReportError when it names a seed key
    or several settings."""
    seeds = [key for key in wanted if key in grouping.seed_keys]
    if seeds:
        raise ReportError(
            f"--baseline: {', '.join(seeds)} is a seed key; name the setting by the params that "
            "tell settings apart"
        )
    found = grouping.find(wanted)
    if len(found) > 1:
        raise ReportError(
            f"--baseline: {_pairs(wanted)} matches {len(found)} settings "
            f"({'; '.join(s.label for s in found)}); add KEY=VALUE pairs to pick one"
        )
    return found[0] if found else None


def _pairs(wanted: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in wanted.items())


def seeds_part(
    job: str, grouping: Grouping, options: SeedOptions, *, figure_name: str
) -> SeedsPart:
    """The statistics across seeds of the settings of `grouping` (runs of job `job`)."""
    metrics = JOB_METRICS[job]
    metric = job_metric(job, options.metric)
    notes = []
    if metric is None:  # a metric of the other job: this part uses its own default
        metric = metrics[0]
        notes.append(
            f"{options.metric} is not a metric of {job} runs; they are ranked by {metric.key}."
        )
    stats = tuple(
        SettingStats(
            setting=s,
            samples={m.key: sample([v for _, v in s.values(m)], options.level) for m in metrics},
        )
        for s in grouping.settings
    )
    ranked = rank(stats, metric)
    asked = asked_baseline(grouping, options.baseline) if options.baseline else None
    baseline = asked or (ranked[0] if ranked else None)
    comparisons = tuple(
        compare_settings(s.setting, baseline, m, options.level)
        for m in metrics
        for s in stats
        if baseline is not None and s.setting.key != baseline.key
    )
    notes += [_left_out(grouping)] if grouping.left_out else []
    notes += _repeated(grouping)
    if options.baseline and not asked:
        notes.append(
            f"No setting of these runs has {_pairs(options.baseline)}; each setting is compared "
            "with the best one instead."
        )
    return SeedsPart(
        job=job,
        metrics=metrics,
        metric=metric,
        level=options.level,
        grouping=grouping,
        stats=stats,
        baseline=baseline,
        baseline_asked=asked is not None,
        comparisons=comparisons,
        ranked=ranked,
        notes=tuple(notes),
        verdict=verdict_sentence(ranked, stats, metric, options.level),
        plot=seeds_plot(
            [(s.setting, s.samples) for s in stats],
            metrics,
            baseline=baseline,
            xlabel=", ".join(grouping.params),
            level=options.level,
            name=figure_name,
        ),
    )


def _left_out(grouping: Grouping) -> str:
    runs = "; ".join(f"{run.label} ({why})" for run, why in grouping.left_out)
    count = plural(len(grouping.left_out), "run")
    return f"{count} left out of the statistics (only finished runs count): {runs}."


def _repeated(grouping: Grouping) -> list[str]:
    notes = []
    for setting in grouping.settings:
        twice = sorted({seed for seed in setting.seeds if setting.seeds.count(seed) > 1})
        if twice:
            notes.append(
                f"Setting {setting.label} ran seed {', '.join(twice)} more than once; its "
                "statistics count every run, and the pairing uses the mean per seed."
            )
    return notes


def interval_text(s: Sample, level: float, *, difference: bool = False) -> str:
    """`95% CI 0.5 to 0.75` (`+0.1 to +0.3` for a difference), or why there is none."""
    if s.low is None or s.high is None:
        return f"no interval from {plural(s.n, 'run')}"
    show = signed if difference else fmt_number
    return f"{percent(level)} CI {show(s.low)} to {show(s.high)}"


def _wilcoxon(p: float | None) -> str:
    return "no Wilcoxon p: every difference is 0" if p is None else f"Wilcoxon p {fmt_p(p)}"


def verdict_sentence(
    ranked: tuple[Setting, ...], stats: tuple[SettingStats, ...], metric: SeedMetric, level: float
) -> str:
    """The best setting by `metric` with its interval, and whether it is distinguishable from
    the runner-up (paired by seed), as one sentence."""
    if not ranked:
        return f"No setting has a value of {metric.header}, so none can be called the best."
    samples = {s.setting.key: s.samples[metric.key] for s in stats}
    best, top = ranked[0], samples[ranked[0].key]
    word = "Best" if metric.better else "Highest"
    head = (
        f"{word} setting by {metric.header} ({metric.direction}): {best.label}, mean "
        f"{fmt_number(top.mean)} ({interval_text(top, level)}, n = {top.n})"
    )
    if len(ranked) == 1:
        return f"{head}; no other setting has a value to compare it with."
    runner = ranked[1]
    other = f"the runner-up {runner.label} (mean {fmt_number(samples[runner.key].mean)})"
    test = compare_settings(best, runner, metric, level).test
    if test.pairs == 0:
        return f"{head}; {other} shares no seed with it, so the two cannot be compared pairwise."
    if not test.enough:
        return (
            f"{head}; whether it differs from {other} cannot be told from "
            f"{plural(test.pairs, 'shared seed')} ({MIN_PAIRS} needed)."
        )
    d = test.differences
    detail = (
        f"paired difference {signed(d.mean)} ({interval_text(d, level, difference=True)}, "
        f"{plural(test.pairs, 'pair')}, {_wilcoxon(test.wilcoxon_p)})"
    )
    if test.side == 0:
        return f"{head}; it is not distinguishable from {other}: {detail}."
    if test.side == _better_side(metric):
        return f"{head}; it is distinguishable from {other}: {detail}."
    worse = WORSE if metric.better else LOWER
    return f"{head}; yet on the seeds both ran it is {worse} than {other}: {detail}."
