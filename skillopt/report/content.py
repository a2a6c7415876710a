"""Everything one report shows, computed once from the selected runs as typed records.

The layout (`layout`) turns this into the document both renderers draw, and `report_json`
into `report.json`; neither computes anything of its own. Reflect runs and training runs (tag
`skillopt.job=train`) get parts of their own: the reflect part is exactly what a report of only
those runs shows; the training part has its own runs table, a score curve per run, an overlay
of the best gate score and each run's steps. A part is None when it has no runs.

Each part also gets statistics across seeds (`across_seeds`) when some setting ran more than one
seed, or a baseline was asked for; else its `seeds` is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.report.across_seeds import SeedOptions, SeedsPart, job_metric, metric_keys, seeds_part
from skillopt.report.compare import Comparison
from skillopt.report.curves import best_overlay, curve_plot
from skillopt.report.document import Figure
from skillopt.report.errors import ReportError
from skillopt.report.grouping import group
from skillopt.report.plots import report_plots
from skillopt.report.reproduce import Reproduction, reproduction
from skillopt.report.tables import (
    ProposedItems,
    RunsTable,
    constant_metrics,
    failure_counts,
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
from skillopt.tracking.names import JOB_REFLECT, JOB_TRAIN, Metric, Param
from skillopt.tracking.records import RunRecord, Selection

# Steps listed per training run unless asked otherwise (report.json always holds them all).
DEFAULT_STEPS = 30

# Params that follow from another one (`reflect.seed`); plotting against them repeats a figure.
DERIVED_PARAMS = frozenset({Param.FAILURE_SEED, Param.SUCCESS_SEED})


@dataclass(frozen=True, kw_only=True)
class ReflectRun:
    """What the report says about one reflect run beyond its table row."""

    run: RunRecord
    items: ProposedItems
    failures: list[tuple[str, int]]
    reproduction: Reproduction
    verified: bool | None
    verified_detail: str


@dataclass(frozen=True, kw_only=True)
class ReflectPart:
    """The reflect runs: their table, the params that vary (swept), the figures, the metrics
    with one value everywhere (constant), each run, and the statistics across seeds."""

    table: RunsTable
    swept: list[str]
    plots: list[Figure]
    constant: list[tuple[str, float]]
    runs: list[ReflectRun]
    seeds: SeedsPart | None = None


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """What the report says about one training run beyond its table row. steps: every step
    from its histories; shown: how many of them the step list shows; curve: its score curve
    (None without a gate or selection history)."""

    run: RunRecord
    caption: str
    summary: TrainSummary
    steps: list[StepRow]
    shown: int
    curve: Figure | None
    reproduction: Reproduction


@dataclass(frozen=True, kw_only=True)
class TrainingPart:
    """The training runs. swept: params that vary between them; overlay: best gate score
    against step for every run (None for fewer than two runs); summary: sentences on the best
    runs; seeds: the statistics across seeds."""

    table: RunsTable
    swept: list[str]
    overlay: Figure | None
    summary: list[str]
    runs: list[TrainRun]
    seeds: SeedsPart | None = None

    @property
    def plots(self) -> list[Figure]:
        """The overlay, then each run's curve in report order (the figure of the statistics
        across seeds is in `seeds`)."""
        curves = [r.curve for r in self.runs if r.curve is not None]
        return ([self.overlay] if self.overlay else []) + curves


@dataclass(frozen=True, kw_only=True)
class ReportContent:
    selection: Selection
    reflect: ReflectPart | None
    training: TrainingPart | None
    comparison: Comparison | None

    @property
    def seeds(self) -> list[SeedsPart]:
        """The statistics across seeds of each part that has them (training first)."""
        parts = (self.training, self.reflect)
        return [p.seeds for p in parts if p is not None and p.seeds is not None]


def across_seeds(job: str, runs: tuple[RunRecord, ...], options: SeedOptions) -> SeedsPart | None:
    """The statistics across seeds of `runs` (all of job `job`), or None when every setting
    has at most one run and no baseline was asked for."""
    grouping = group(runs, extra_seed_keys=options.seed_keys)
    if options.baseline is None and all(len(s.runs) < 2 for s in grouping.settings):
        return None
    return seeds_part(job, grouping, options, figure_name=f"seeds_{job}.png")


def reflect_part(
    runs: tuple[RunRecord, ...], *, tracking_uri: str, items: int, seeds: SeedOptions
) -> ReflectPart:
    """The reflect part for `runs` (reflect runs only), showing the first `items` proposed
    items of each."""
    swept = varying_params(runs)
    plotted = [p for p in swept if not (p in DERIVED_PARAMS and Param.REFLECT_SEED in swept)]
    sections = []
    for run in runs:
        verified, detail = verification(run)
        sections.append(
            ReflectRun(
                run=run,
                items=proposed_items(run, items),
                failures=failure_counts(run),
                reproduction=reproduction(run, tracking_uri=tracking_uri),
                verified=verified,
                verified_detail=detail,
            )
        )
    return ReflectPart(
        table=runs_table(runs),
        swept=swept,
        plots=report_plots(runs, params=plotted, metrics=varying_metrics(runs)),
        constant=constant_metrics(runs),
        runs=sections,
        seeds=across_seeds(JOB_REFLECT, runs, seeds),
    )


def training_part(
    runs: tuple[RunRecord, ...], *, tracking_uri: str, steps: int, seeds: SeedOptions
) -> TrainingPart:
    """The training part for `runs` (training runs only), listing at most `steps` steps per
    run."""
    swept = varying_params(runs)
    captions = [run_caption(run, swept) for run in runs]
    sections = []
    for run, caption in zip(runs, captions, strict=True):
        rows = step_rows(run)
        sections.append(
            TrainRun(
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
    best = leader(runs, summaries, Metric.BEST_SELECTION)
    if best and len(runs) > 1:
        summary.append(f"Highest best selection score: run {best}.")
    delta = leader(runs, summaries, Metric.TEST_DELTA_HARD)
    if delta and len(runs) > 1:
        summary.append(f"Largest test delta (hard): run {delta}.")
    return TrainingPart(
        table=train_table(runs, summaries),
        swept=swept,
        overlay=best_overlay(runs, captions),
        summary=summary,
        runs=sections,
        seeds=across_seeds(JOB_TRAIN, runs, seeds),
    )


def build_content(
    selection: Selection,
    *,
    items: int = 5,
    comparison: Comparison | None = None,
    steps: int = DEFAULT_STEPS,
    seeds: SeedOptions | None = None,
) -> ReportContent:
    """The report of `selection`, showing the first `items` proposed items of each reflect run
    and the first `steps` steps of each training run, with statistics across seeds as `seeds`
    asks (default: by each job's first metric, against the best setting, at 95%).

    A ReportError when `seeds` names a metric neither job has, or a baseline no setting has."""
    seeds = seeds or SeedOptions()
    uri = selection.tracking_uri
    reflect, trained = selection.reflect_runs, selection.training_runs
    jobs = [job for job, runs in ((JOB_TRAIN, trained), (JOB_REFLECT, reflect)) if runs]
    if seeds.metric is not None and not any(job_metric(j, seeds.metric) for j in jobs):
        known = "; ".join(f"{', '.join(metric_keys(j))} ({j})" for j in jobs)
        raise ReportError(
            f"--metric {seeds.metric}: not a metric these runs are compared by: {known}"
        )
    content = ReportContent(
        selection=selection,
        reflect=reflect_part(reflect, tracking_uri=uri, items=items, seeds=seeds)
        if reflect
        else None,
        training=training_part(trained, tracking_uri=uri, steps=steps, seeds=seeds)
        if trained
        else None,
        comparison=comparison,
    )
    if seeds.baseline and not any(part.baseline_asked for part in content.seeds):
        wanted = ",".join(f"{k}={v}" for k, v in seeds.baseline.items())
        labels = "; ".join(s.label for part in content.seeds for s in part.grouping.settings)
        raise ReportError(f"--baseline {wanted}: no setting has it (settings: {labels or 'none'})")
    return content
