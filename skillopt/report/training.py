"""The training part of a report, from training runs' records: each run's steps (read back from
its step-metric histories), its headline numbers, and the training runs table.

Pure functions over `RunRecord`s, like `tables`. A training run that ended early (failed,
killed, still running) has no final metrics; where a headline number can be read from its step
history instead (baseline and best gate score, step counts), the history is used and a note says
so. Everything else it did not log is None here and `—` when shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillopt.report.tables import TOKEN_METRICS, TOKENS, RunsTable, metric_sum, table_of
from skillopt.report.text import MISSING, fmt_number, one_line, plural
from skillopt.tracking.names import Metric, Param
from skillopt.tracking.records import RunRecord

# Step actions as the report names them (SkillOpt's accept / accept_new_best / force_accept /
# reject / skip_*), told apart from the `gate.accepted` and `gate.best` histories.
BASELINE = "baseline"
ACCEPT = "accept"
ACCEPT_NEW_BEST = "accept (new best)"
FORCE_ACCEPT = "force accept"
FORCE_ACCEPT_NEW_BEST = "force accept (new best)"
REJECT = "reject"
SKIP = "skip"
ACCEPTED_ACTIONS = frozenset({ACCEPT, ACCEPT_NEW_BEST, FORCE_ACCEPT, FORCE_ACCEPT_NEW_BEST})

# The step metrics that say a step happened. `llm.cost_usd` is left out: its final, run-level
# value may be logged at a step of its own.
STEP_EVIDENCE = tuple(m for m in Metric.STEP_HISTORY if m != Metric.LLM_COST_USD)

# Columns of the training runs table after the params: (key in report.json, header, metric
# names summed). Keys that a cut-short run can take from its history are in HISTORY_FALLBACK.
TRAIN_METRIC_COLUMNS = (
    (Metric.BASELINE_SELECTION, "baseline selection", (Metric.BASELINE_SELECTION,)),
    (Metric.BEST_SELECTION, "best selection", (Metric.BEST_SELECTION,)),
    (Metric.TEST_DELTA_HARD, "test Δ hard", (Metric.TEST_DELTA_HARD,)),
    (Metric.STEPS_ACCEPTED, "accepted", (Metric.STEPS_ACCEPTED,)),
    (Metric.STEPS_REJECTED, "rejected", (Metric.STEPS_REJECTED,)),
    (Metric.STEPS_SKIPPED, "skipped", (Metric.STEPS_SKIPPED,)),
    (TOKENS, "tokens", TOKEN_METRICS),
    (Metric.LLM_COST_USD, "cost (USD)", (Metric.LLM_COST_USD,)),
    (Metric.TRAIN_WALL_S, "wall time (s)", (Metric.TRAIN_WALL_S,)),
)
HISTORY_FALLBACK = (
    Metric.BASELINE_SELECTION,
    Metric.BEST_SELECTION,
    Metric.STEPS_ACCEPTED,
    Metric.STEPS_REJECTED,
    Metric.STEPS_SKIPPED,
)

# Step-table columns: (StepRow attribute, header), after `step` and `action`.
STEP_COLUMNS = (
    ("edit_budget", "edit budget"),
    ("selection_hard", "selection hard"),
    ("selection_soft", "selection soft"),
    ("gate_score", "gate score"),
    ("gate_current", "current"),
    ("gate_best", "best"),
    ("edits_applied", "edits applied"),
)

_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, kw_only=True)
class StepRow:
    """One training step as the histories tell it: the action and every step metric logged for
    it (None where none was)."""

    step: int
    action: str
    edit_budget: float | None
    selection_hard: float | None
    selection_soft: float | None
    gate_score: float | None
    gate_current: float | None
    gate_best: float | None
    train_hard: float | None
    train_soft: float | None
    edits_applied: float | None
    cost_usd: float | None

    @property
    def accepted(self) -> bool:
        return self.action in ACCEPTED_ACTIONS

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "action": self.action,
            "edit_budget": self.edit_budget,
            "selection_hard": self.selection_hard,
            "selection_soft": self.selection_soft,
            "gate_score": self.gate_score,
            "gate_current": self.gate_current,
            "gate_best": self.gate_best,
            "train_hard": self.train_hard,
            "train_soft": self.train_soft,
            "edits_applied": self.edits_applied,
            "cost_usd": self.cost_usd,
        }


def gate_enabled(run: RunRecord) -> bool:
    """The run's `gate.enabled` param (true when not logged)."""
    return str(run.params.get(Param.GATE_ENABLED, "true")).strip().lower() not in _FALSE


def step_rows(run: RunRecord) -> list[StepRow]:
    """Every step the run logged a step metric for, in order.

    Step 0 is the baseline. A step with `gate.accepted` 0 is a reject; with 1 an accept (a force
    accept when the run's gate is disabled), "new best" when `gate.best` rose over the previous
    step's; a later step without `gate.accepted` was skipped."""
    history = {name: dict(points) for name, points in run.history.items()}
    steps = sorted({step for name in STEP_EVIDENCE for step in history.get(name, {})})
    forced = not gate_enabled(run)
    best_before: float | None = None
    rows = []
    for step in steps:

        def value(name: str, at: int = step) -> float | None:
            return history.get(name, {}).get(at)

        best = value(Metric.GATE_BEST)
        accepted = value(Metric.GATE_ACCEPTED)
        if step == 0:
            action = BASELINE
        elif accepted is None:
            action = SKIP
        elif accepted < 0.5:
            action = REJECT
        else:
            new_best = best is not None and best_before is not None and best > best_before
            if forced:
                action = FORCE_ACCEPT_NEW_BEST if new_best else FORCE_ACCEPT
            else:
                action = ACCEPT_NEW_BEST if new_best else ACCEPT
        if best is not None:
            best_before = best
        rows.append(
            StepRow(
                step=step,
                action=action,
                edit_budget=value(Metric.EDIT_BUDGET),
                selection_hard=value(Metric.SELECTION_HARD),
                selection_soft=value(Metric.SELECTION_SOFT),
                gate_score=value(Metric.GATE_SCORE),
                gate_current=value(Metric.GATE_CURRENT),
                gate_best=best,
                train_hard=value(Metric.TRAIN_HARD),
                train_soft=value(Metric.TRAIN_SOFT),
                edits_applied=value(Metric.EDITS_APPLIED),
                cost_usd=value(Metric.LLM_COST_USD),
            )
        )
    return rows


def history_values(rows: list[StepRow]) -> dict[str, float]:
    """What a run's step rows say about the `HISTORY_FALLBACK` numbers: the baseline's and the
    last best gate score, and how many steps were accepted, rejected and skipped."""
    out: dict[str, float] = {}
    if rows and rows[0].step == 0:
        first = rows[0]
        baseline = first.gate_best if first.gate_best is not None else first.gate_current
        if baseline is not None:
            out[Metric.BASELINE_SELECTION] = baseline
    bests = [r.gate_best for r in rows if r.gate_best is not None]
    if bests:
        out[Metric.BEST_SELECTION] = bests[-1]
    if rows:
        updates = [r for r in rows if r.action != BASELINE]
        out[Metric.STEPS_ACCEPTED] = float(sum(r.accepted for r in updates))
        out[Metric.STEPS_REJECTED] = float(sum(r.action == REJECT for r in updates))
        out[Metric.STEPS_SKIPPED] = float(sum(r.action == SKIP for r in updates))
    return out


@dataclass(frozen=True, kw_only=True)
class TrainSummary:
    """A training run's headline numbers, keyed like its metrics (`best.selection_score`,
    `test.delta_hard`, `tokens`, ...), None where unknown; from_history: the keys read from the
    step history because the run did not log them."""

    values: dict[str, float | None]
    from_history: tuple[str, ...]

    def get(self, key: str) -> float | None:
        return self.values.get(key)


SUMMARY_METRICS = (
    Metric.BASELINE_SELECTION,
    Metric.BEST_SELECTION,
    Metric.FINAL_SELECTION,
    Metric.TEST_HARD.format("baseline"),
    Metric.TEST_HARD.format("best"),
    Metric.TEST_HARD.format("final"),
    Metric.TEST_DELTA_HARD,
    Metric.TEST_SOFT.format("baseline"),
    Metric.TEST_SOFT.format("best"),
    Metric.STEPS_TOTAL,
    Metric.STEPS_ACCEPTED,
    Metric.STEPS_REJECTED,
    Metric.STEPS_SKIPPED,
    Metric.LLM_CALLS,
    Metric.LLM_COST_USD,
    Metric.TRAIN_WALL_S,
)


def train_summary(run: RunRecord, rows: list[StepRow]) -> TrainSummary:
    values: dict[str, float | None] = {name: run.metrics.get(name) for name in SUMMARY_METRICS}
    values[TOKENS] = metric_sum(run, TOKEN_METRICS)
    derived = history_values(rows)
    used = []
    for key in HISTORY_FALLBACK:
        if values[key] is None and key in derived:
            values[key] = derived[key]
            used.append(key)
    return TrainSummary(values=values, from_history=tuple(used))


def train_table(runs: tuple[RunRecord, ...], summaries: list[TrainSummary]) -> RunsTable:
    """The training runs table: job, the params that vary between the training runs, status,
    baseline and best selection score, test delta (hard), accepted/rejected/skipped steps,
    tokens, cost, wall time and run id."""
    return table_of(
        runs,
        numeric=[(key, header) for key, header, _ in TRAIN_METRIC_COLUMNS],
        values=[summary.values for summary in summaries],
        notes=train_notes(runs, summaries),
    )


def train_notes(runs: tuple[RunRecord, ...], summaries: list[TrainSummary]) -> list[str]:
    """One sentence per training run that failed, misses a table metric or had table values
    read from its step history."""
    notes = []
    wanted = sorted({name for _, _, names in TRAIN_METRIC_COLUMNS for name in names})
    for run, summary in zip(runs, summaries, strict=True):
        missing = [n for n in wanted if n not in run.metrics and n not in summary.from_history]
        parts = []
        if not run.finished:
            error = f": {one_line(run.error, 300)}" if run.error else ""
            parts.append(f"ended {run.status}{error}")
        if summary.from_history:
            parts.append(f"{', '.join(summary.from_history)} read from its step history")
        if missing:
            parts.append(f"it did not log {', '.join(missing)} (shown as {MISSING})")
        if parts:
            notes.append(f"Run {run.label} {'; '.join(parts)}.")
    return notes


def run_caption(run: RunRecord, params: list[str]) -> str:
    """`#0 1a2b3c4d (train.edit_budget=4, train.seed=1)`: a run and its values of `params`."""
    values = ", ".join(f"{name}={run.params.get(name, MISSING)}" for name in params)
    return f"{run.label} ({values})" if values else run.label


def leader(runs: tuple[RunRecord, ...], summaries: list[TrainSummary], key: str) -> str | None:
    """`#1 5e6f7a8b (0.8)`: the run with the highest `key`, first in report order on a tie
    (`#0 1a2b3c4d (1; tied with 7 other runs)`); None if no run has it."""
    scored = [
        (value, index)
        for index, summary in enumerate(summaries)
        if (value := summary.get(key)) is not None
    ]
    if not scored:
        return None
    best, index = max(scored, key=lambda pair: (pair[0], -pair[1]))
    tied = sum(value == best for value, _ in scored) - 1
    others = f"; tied with {plural(tied, 'other run')}" if tied else ""
    return f"{runs[index].label} ({fmt_number(best)}{others})"
