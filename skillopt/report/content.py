"""Everything one report shows, computed once from the selected runs; the renderers lay it out.

`report.json` is this content as data (the runs table with raw values, each run's items,
failure types, reproduce commands and replay verification), for scripts and tests.

Reflect runs and training runs (tag `skillopt.job=train`) get sections of their own: the
reflect part is exactly what a report of only those runs shows; the training part (`training`,
present only when there are training runs, also in `report.json`) has its own runs table, a
score curve per run, an overlay of the best gate score and each run's steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillopt.report.compare import Comparison
from skillopt.report.curves import best_overlay, curve_plot
from skillopt.report.plots import Plot, report_plots
from skillopt.report.records import RunRecord, Selection
from skillopt.report.reproduce import Reproduction, reproduction
from skillopt.report.tables import (
    MISSING,
    ProposedItems,
    RunsTable,
    constant_metrics,
    failure_counts,
    fmt_number,
    proposed_items,
    runs_table,
    varying_metrics,
    varying_params,
    verification,
)
from skillopt.report.training import (
    StepRow,
    TrainSummary,
    leader,
    run_caption,
    step_rows,
    train_summary,
    train_table,
)

# Steps listed per training run unless asked otherwise (report.json always holds them all).
DEFAULT_STEPS = 30

# Params that follow from another one (`reflect.seed`); plotting against them repeats a figure.
DERIVED_PARAMS = frozenset({"reflect.failure_seed", "reflect.success_seed"})


@dataclass(frozen=True, kw_only=True)
class RunSection:
    """What the report says about one run beyond its table row."""

    run: RunRecord
    items: ProposedItems
    failures: list[tuple[str, int]]
    reproduction: Reproduction
    verified: bool | None
    verified_detail: str


@dataclass(frozen=True, kw_only=True)
class TrainSection:
    """What the report says about one training run beyond its table row. steps: every step
    from its histories; shown: how many of them the step list shows; curve: its score curve
    (None without a gate or selection history)."""

    run: RunRecord
    caption: str
    summary: TrainSummary
    steps: list[StepRow]
    shown: int
    curve: Plot | None
    reproduction: Reproduction

    def as_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "job_num": run.job_num,
            "status": run.status,
            "params": dict(sorted(run.params.items())),
            "metrics": dict(sorted(run.metrics.items())),
            "summary": dict(sorted(self.summary.values.items())),
            "summary_from_history": list(self.summary.from_history),
            "history": {
                name: [[step, value] for step, value in points]
                for name, points in sorted(run.history.items())
            },
            "steps": [row.as_dict() for row in self.steps],
            "curve": f"plots/{self.curve.name}" if self.curve else None,
            "reproduce": self.reproduction.as_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class TrainingContent:
    """The training part of a report. swept: params that vary between the training runs;
    overlay: best gate score against step for every run (None for fewer than two runs);
    summary: sentences on the best runs."""

    table: RunsTable
    swept: list[str]
    overlay: Plot | None
    summary: list[str]
    sections: list[TrainSection]

    @property
    def plots(self) -> list[Plot]:
        """Every training figure: the overlay, then each run's curve in report order."""
        curves = [s.curve for s in self.sections if s.curve is not None]
        return ([self.overlay] if self.overlay else []) + curves

    def as_json(self) -> dict[str, Any]:
        return {
            "table": {
                "columns": [
                    {"key": c.key, "header": c.header, "numeric": c.numeric}
                    for c in self.table.columns
                ],
                "rows": self.table.rows,
                "notes": self.table.notes,
            },
            "swept_params": self.swept,
            "summary": self.summary,
            "plots": [{"file": f"plots/{p.name}", "title": p.title} for p in self.plots],
            "runs": [section.as_json() for section in self.sections],
        }


@dataclass(frozen=True, kw_only=True)
class ReportContent:
    """The reflect part (table, swept, plots, constant, sections: empty without reflect runs),
    the training part (None without training runs) and the optional comparison."""

    selection: Selection
    table: RunsTable
    swept: list[str]
    plots: list[Plot]
    constant: list[tuple[str, float]]
    sections: list[RunSection]
    comparison: Comparison | None
    training: TrainingContent | None = None

    @property
    def has_reflect(self) -> bool:
        return bool(self.sections)

    @property
    def all_plots(self) -> list[Plot]:
        """Every figure the report writes under `plots/`."""
        return self.plots + (self.training.plots if self.training else [])

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (what `report.json` holds); no timestamp."""
        selection = self.selection
        comparison = None
        if self.comparison is not None:
            comparison = {
                "left": self.comparison.left.run_id,
                "right": self.comparison.right.run_id,
                "minibatches": [
                    {
                        "minibatch": p.minibatch,
                        "left": p.left,
                        "right": p.right,
                        "identical": p.identical,
                    }
                    for p in self.comparison.pairs
                ],
            }
        data: dict[str, Any] = {
            "source": {
                "kind": selection.kind,
                "tracking_uri": selection.tracking_uri,
                "experiment": selection.experiment,
                "sweep_id": selection.sweep_id,
                "parent_run_id": selection.parent.run_id if selection.parent else None,
            },
            "table": {
                "columns": [
                    {"key": c.key, "header": c.header, "numeric": c.numeric}
                    for c in self.table.columns
                ],
                "rows": self.table.rows,
                "notes": self.table.notes,
            },
            "swept_params": self.swept,
            "plots": [{"file": f"plots/{p.name}", "title": p.title} for p in self.plots],
            "constant_metrics": dict(self.constant),
            "runs": [
                {
                    "run_id": s.run.run_id,
                    "run_name": s.run.run_name,
                    "job_num": s.run.job_num,
                    "status": s.run.status,
                    "params": dict(sorted(s.run.params.items())),
                    "metrics": dict(sorted(s.run.metrics.items())),
                    "payload_key": s.items.key,
                    "items": [{"minibatch": m, "text": t} for m, t in s.items.shown],
                    "items_total": s.items.total,
                    "failure_types": dict(s.failures),
                    "reproduce": s.reproduction.as_dict(),
                    "replay_verified": s.verified,
                    "replay_detail": s.verified_detail,
                }
                for s in self.sections
            ],
            "compare": comparison,
        }
        if self.training is not None:
            data["training"] = self.training.as_json()
        return data


def build_training(
    runs: tuple[RunRecord, ...], *, tracking_uri: str, steps: int
) -> TrainingContent:
    """The training part for `runs` (training runs only), listing at most `steps` steps per
    run."""
    swept = varying_params(runs)
    captions = [run_caption(run, swept) for run in runs]
    sections = []
    for run, caption in zip(runs, captions, strict=True):
        rows = step_rows(run)
        sections.append(
            TrainSection(
                run=run,
                caption=caption,
                summary=train_summary(run, rows),
                steps=rows,
                shown=min(steps, len(rows)),
                curve=curve_plot(run, rows, caption=caption),
                reproduction=reproduction(run, tracking_uri=tracking_uri),
            )
        )
    summaries = [s.summary for s in sections]
    summary = []
    best = leader(runs, summaries, "best.selection_score")
    if best and len(runs) > 1:
        summary.append(f"Highest best selection score: run {best}.")
    delta = leader(runs, summaries, "test.delta_hard")
    if delta and len(runs) > 1:
        summary.append(f"Largest test delta (hard): run {delta}.")
    return TrainingContent(
        table=train_table(runs, summaries),
        swept=swept,
        overlay=best_overlay(runs, captions),
        summary=summary,
        sections=sections,
    )


def build_content(
    selection: Selection,
    *,
    items: int = 5,
    comparison: Comparison | None = None,
    steps: int = DEFAULT_STEPS,
) -> ReportContent:
    """The report of `selection`, showing the first `items` proposed items of each reflect run
    and the first `steps` steps of each training run."""
    runs = selection.reflect_runs
    trained = selection.training_runs
    training = None
    if trained:
        training = build_training(trained, tracking_uri=selection.tracking_uri, steps=steps)
    swept = varying_params(runs)
    plotted = [p for p in swept if not (p in DERIVED_PARAMS and "reflect.seed" in swept)]
    sections = []
    for run in runs:
        verified, detail = verification(run)
        sections.append(
            RunSection(
                run=run,
                items=proposed_items(run, items),
                failures=failure_counts(run),
                reproduction=reproduction(run, tracking_uri=selection.tracking_uri),
                verified=verified,
                verified_detail=detail,
            )
        )
    return ReportContent(
        selection=selection,
        table=runs_table(runs) if runs else RunsTable(columns=[], rows=[], notes=[]),
        swept=swept,
        plots=report_plots(runs, params=plotted, metrics=varying_metrics(runs)),
        constant=constant_metrics(runs),
        sections=sections,
        comparison=comparison,
        training=training,
    )


def plots_gap(content: ReportContent) -> str | None:
    """Why there are no metric plots, if there are none."""
    if not content.swept:
        return "No param differs between these runs, so there is nothing to plot against."
    if not any(p.name.startswith("metrics_vs_") for p in content.plots):
        return "No metric differs between the runs that logged it, so no metric is plotted."
    return None


PAYLOAD_WORDS = {
    "edits": "edits",
    "revise_suggestions": "suggestions",
    "skill_candidates": "skill candidates (titles)",
    None: "items",
}
GENERATED_PREFIX = "Generated at: "


def source_sentence(selection: Selection) -> str:
    """Where the runs come from, in one sentence (plain text)."""
    count = f"{len(selection.runs)} run{'s' if len(selection.runs) != 1 else ''}"
    where = f"tracking URI {selection.tracking_uri}"
    if selection.kind == "sweep":
        parent = selection.parent.run_id if selection.parent else "?"
        return (
            f"Sweep {selection.sweep_id} of experiment {selection.experiment} "
            f"(parent run {parent}), {count}; {where}."
        )
    if selection.kind == "experiment":
        return f"Experiment {selection.experiment}, {count} (sweep parents left out); {where}."
    return f"{count.capitalize()} chosen by id, from experiment {selection.experiment}; {where}."


def items_heading(section: RunSection) -> str:
    words = PAYLOAD_WORDS.get(section.items.key, "items")
    shown = len(section.items.shown)
    if section.items.total == 0:
        return f"Proposed {words}: none"
    return f"Proposed {words} (first {shown} of {section.items.total})"


def verified_sentence(section: RunSection) -> str:
    if section.verified is None:
        return "not verified (run skillopt-report --verify-replay)"
    mark = "✓" if section.verified else "✗"
    return f"{mark} {section.verified_detail}" if section.verified_detail else mark


# Section headings of the reflect part: as they always were, or named as such beside training.
REFLECT_HEADINGS = {"runs": "Runs", "plots": "Plots", "details": "Runs in detail"}
MIXED_HEADINGS = {
    "runs": "Reflect runs",
    "plots": "Reflect plots",
    "details": "Reflect runs in detail",
}


def reflect_headings(content: ReportContent) -> dict[str, str]:
    return MIXED_HEADINGS if content.training is not None else REFLECT_HEADINGS


def jobs_sentence(selection: Selection) -> str | None:
    """How many runs are training runs, when any are (None for a reflect-only report)."""
    trained = len(selection.training_runs)
    if not trained:
        return None
    reflect = len(selection.reflect_runs)
    if not reflect:
        if trained == 1:
            return "It is a training run (skillopt-train)."
        return "All of them are training runs (skillopt-train)."
    what = "is a training run" if trained == 1 else "are training runs"
    return (
        f"{trained} of them {what} (skillopt-train); "
        f"{reflect} reflect run{'s' if reflect != 1 else ''}."
    )


def signed(value: float | None) -> str:
    """`+0.1`, `-0.05`, `0`; `—` for None."""
    if value is None:
        return MISSING
    return ("+" if value > 0 else "") + fmt_number(value)


def train_headlines(section: TrainSection) -> list[str]:
    """A training run's headline numbers, as sentences: selection scores, test scores (when it
    logged any) and steps with their cost."""
    v = section.summary.get
    run = section.run
    gate = run.params.get("gate.metric")
    metric = f" (gate metric {gate})" if gate else ""
    lines = [
        f"Selection score{metric}: baseline {fmt_number(v('baseline.selection_score'))} → best "
        f"{fmt_number(v('best.selection_score'))}; final skill "
        f"{fmt_number(v('final.selection_score'))}."
    ]
    tests = ("test.baseline_hard", "test.best_hard", "test.final_hard", "test.delta_hard")
    if any(v(name) is not None for name in tests):
        lines.append(
            f"Test (hard): baseline {fmt_number(v('test.baseline_hard'))}, best skill "
            f"{fmt_number(v('test.best_hard'))}, final skill "
            f"{fmt_number(v('test.final_hard'))}; delta {signed(v('test.delta_hard'))}."
        )
    total = v("steps.total")
    if total is None:
        total = float(sum(row.step != 0 for row in section.steps))
    lines.append(
        f"Steps: {fmt_number(total)} ({fmt_number(v('steps.accepted'))} accepted, "
        f"{fmt_number(v('steps.rejected'))} rejected, {fmt_number(v('steps.skipped'))} "
        f"skipped); {fmt_number(v('llm.calls'))} LLM calls, {fmt_number(v('tokens'))} tokens, "
        f"{fmt_number(v('llm.cost_usd'))} USD; wall time {fmt_number(v('train.wall_s'))} s."
    )
    if section.summary.from_history:
        lines.append(
            f"Not logged by the run, read from its step history: "
            f"{', '.join(section.summary.from_history)}."
        )
    return lines


def steps_heading(section: TrainSection) -> str:
    total = len(section.steps)
    if total == 0:
        return "Steps: none logged"
    if section.shown == total:
        return f"Steps (all {total}, from the run's step metrics)"
    return f"Steps (first {section.shown} of {total}; report.json holds all of them)"
