"""Seed-aware grouping: the runs that differ only in their seeds are one *setting*.

A setting is identified by every param of its runs except the seed keys (`Param.SETTING_SEEDS`:
`train.seed`, `reflect.seed` and the two seeds derived from it, `env.split_seed`; plus any
`--seed-keys`); it is shown by the params that differ between the settings. Only runs that
ended FINISHED, and are not replays of another run, enter the statistics; the others are
listed with the reason. A run's seed is its values of the seed keys that vary (a key that
follows one for one from another, as `reflect.failure_seed` from `reflect.seed`, is left out).

Each job has the metrics that matter for it (`TRAIN_METRICS`, `REFLECT_METRICS`), each with the
direction that is better. Pure functions over `RunRecord`s.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from skillopt.report.tables import TOKEN_METRICS, TOKENS, metric_sum
from skillopt.report.text import MISSING
from skillopt.tracking.names import Metric, Param
from skillopt.tracking.records import RunRecord

HIGHER = "higher"
LOWER = "lower"
FINAL_TEST_HARD = Metric.TEST_HARD.format("final")
ALL_RUNS = "all runs"  # the label of the one setting when no param tells settings apart


@dataclass(frozen=True, kw_only=True)
class SeedMetric:
    """A metric compared across seeds. key: its name in the report (`tokens` sums prompt and
    completion tokens); names: the logged metrics summed into it; better: HIGHER or LOWER is
    better, or None when neither is (a count to read, not to maximise)."""

    key: str
    header: str
    names: tuple[str, ...]
    better: str | None

    @property
    def arrow(self) -> str:
        """↑ higher is better, ↓ lower is better, ↕ neither."""
        return {HIGHER: "↑", LOWER: "↓"}.get(self.better or "", "↕")

    @property
    def direction(self) -> str:
        """`higher is better`, `lower is better` or `neither direction is better`."""
        return f"{self.better} is better" if self.better else "neither direction is better"

    def value(self, run: RunRecord) -> float | None:
        """The run's value (None when it did not log every name, or logged a non-finite one)."""
        value = metric_sum(run, self.names)
        return value if value is not None and math.isfinite(value) else None


def _one(key: str, header: str, better: str | None) -> SeedMetric:
    return SeedMetric(key=key, header=header, names=(key,), better=better)


TRAIN_METRICS = (
    _one(Metric.BEST_SELECTION, "best selection score", HIGHER),
    _one(Metric.TEST_DELTA_HARD, "test Δ hard", HIGHER),
    _one(FINAL_TEST_HARD, "final test hard", HIGHER),
    _one(Metric.STEPS_ACCEPTED, "accepted steps", None),
    SeedMetric(key=TOKENS, header="tokens", names=TOKEN_METRICS, better=LOWER),
    _one(Metric.LLM_COST_USD, "cost (USD)", LOWER),
)
REFLECT_METRICS = (
    _one(Metric.PAYLOAD_ITEMS, "payload items", HIGHER),
    _one(Metric.MINIBATCHES_FAILED, "failed minibatches", LOWER),
    SeedMetric(key=TOKENS, header="tokens", names=TOKEN_METRICS, better=LOWER),
    _one(Metric.LLM_COST_USD, "cost (USD)", LOWER),
)


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: key, a stable short name (`s` and 8 hex digits of a hash of every non-seed
    param, so the same setting has the same key in any report; a valid MLflow metric name
    part); params: the values of the params that tell the settings apart (None: not logged);
    runs: its runs in the statistics, in report order; seeds: each run's seed, as shown."""

    key: str
    params: dict[str, str | None]
    runs: tuple[RunRecord, ...]
    seeds: tuple[str, ...]

    @property
    def label(self) -> str:
        """`train.edit_budget=4, reflect.workers=8`, or `all runs`."""
        if not self.params:
            return ALL_RUNS
        return ", ".join(f"{k}={MISSING if v is None else v}" for k, v in self.params.items())

    @property
    def short(self) -> str:
        """The param values alone (`4, 8`), for plot ticks."""
        if not self.params:
            return ALL_RUNS
        return ", ".join(MISSING if v is None else v for v in self.params.values())

    def values(self, metric: SeedMetric) -> list[tuple[str, float]]:
        """(seed, value) of each of its runs that has a value of `metric`."""
        found = [(seed, metric.value(run)) for seed, run in zip(self.seeds, self.runs, strict=True)]
        return [(seed, value) for seed, value in found if value is not None]


@dataclass(frozen=True, kw_only=True)
class Grouping:
    """settings, in the order of their first run in the report; params: the params that tell
    them apart; seed_keys: every key counted as a seed; varying_seeds: the seed keys whose
    values differ between the runs, less those that follow from another one (what a run's seed
    is made of); left_out: (run, why) for each run kept out of the statistics."""

    settings: tuple[Setting, ...]
    params: tuple[str, ...]
    seed_keys: tuple[str, ...]
    varying_seeds: tuple[str, ...]
    left_out: tuple[tuple[RunRecord, str], ...]

    def find(self, wanted: dict[str, str]) -> list[Setting]:
        """The settings whose params hold every KEY=VALUE of `wanted` (numbers compared as
        numbers, so `4` finds `4.0`)."""
        return [
            s
            for s in self.settings
            if all(_same(_param(s, key), value) for key, value in wanted.items())
        ]


def _param(setting: Setting, key: str) -> str | None:
    if key in setting.params:
        return setting.params[key]
    first = setting.runs[0] if setting.runs else None
    return first.params.get(key) if first else None


def _same(logged: str | None, wanted: str) -> bool:
    if logged is None:
        return False
    if logged == wanted:
        return True
    try:
        return float(logged) == float(wanted)
    except ValueError:
        return False


def setting_key(params: dict[str, str]) -> str:
    """`s` + 8 hex digits of the sha256 of the params (sorted JSON)."""
    text = json.dumps(params, sort_keys=True, ensure_ascii=False)
    return "s" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _varying(runs: Sequence[RunRecord], keys: Sequence[str]) -> list[str]:
    return sorted(k for k in set(keys) if len({run.params.get(k) for run in runs}) > 1)


def _seed_parts(runs: Sequence[RunRecord], seed_keys: Sequence[str]) -> list[str]:
    """The seed keys that vary, in `seed_keys` order, leaving out a key whose values follow
    one for one from a key already kept (`reflect.failure_seed` from `reflect.seed`)."""
    kept: list[str] = []
    for key in seed_keys:
        values = [run.params.get(key) for run in runs]
        if len(set(values)) < 2:
            continue
        follows = any(
            len(set(zip(values, [run.params.get(k) for run in runs], strict=True)))
            == len(set(values))
            == len({run.params.get(k) for run in runs})
            for k in kept
        )
        if not follows:
            kept.append(key)
    return kept


def left_out_reason(run: RunRecord) -> str | None:
    """Why `run` is kept out of the statistics, or None."""
    if run.replay_of:
        return f"a replay of run {run.replay_of}"
    if not run.finished:
        return f"ended {run.status}"
    return None


def group(runs: Sequence[RunRecord], *, extra_seed_keys: Sequence[str] = ()) -> Grouping:
    """The settings of `runs` (seed keys: `Param.SETTING_SEEDS` and `extra_seed_keys`)."""
    seed_keys = tuple(dict.fromkeys([*Param.SETTING_SEEDS, *extra_seed_keys]))
    left_out = tuple((run, why) for run in runs if (why := left_out_reason(run)) is not None)
    used = [run for run in runs if left_out_reason(run) is None]
    names = {name for run in used for name in run.params}
    shown = _varying(used, [n for n in names if n not in seed_keys])
    varying_seeds = _seed_parts(used, seed_keys)
    members: dict[str, list[RunRecord]] = {}
    for run in used:
        own = {k: v for k, v in run.params.items() if k not in seed_keys}
        members.setdefault(setting_key(own), []).append(run)
    settings = []
    for key, mine in members.items():
        seeds = tuple(
            "/".join(run.params.get(k, MISSING) for k in varying_seeds) or MISSING for run in mine
        )
        params = {name: mine[0].params.get(name) for name in shown}
        settings.append(Setting(key=key, params=params, runs=tuple(mine), seeds=seeds))
    return Grouping(
        settings=tuple(settings),
        params=tuple(shown),
        seed_keys=seed_keys,
        varying_seeds=tuple(varying_seeds),
        left_out=left_out,
    )
