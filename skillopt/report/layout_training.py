"""The training part of the document: the training runs table and overlay, the statistics across
seeds, then per run its headline numbers, settings, score curve, steps and Reproduce section."""

from __future__ import annotations

from skillopt.report.content import TrainingPart, TrainRun
from skillopt.report.document import (
    Block,
    BulletList,
    Cell,
    Code,
    Column,
    Paragraph,
    Row,
    Section,
    Table,
)
from skillopt.report.layout_runs import joined, reproduce_section, run_section, runs_table
from skillopt.report.layout_seeds import seeds_section
from skillopt.report.tables import TOKENS
from skillopt.report.text import fmt_number, signed
from skillopt.report.training import REJECT, SKIP, STEP_COLUMNS
from skillopt.tracking.names import Metric, Param

# Styling kinds of step-table rows (accepted steps are `accepted`; the baseline has none).
ROW_KINDS = {REJECT: "rejected", SKIP: "skipped"}
TEST_HARD = {stage: Metric.TEST_HARD.format(stage) for stage in ("baseline", "best", "final")}


def training_sections(part: TrainingPart) -> list[Section]:
    overview: list[Block] = list(runs_table(part.table, anchor="train-runs-table"))
    if part.summary:
        overview.append(Paragraph(spans=(" ".join(part.summary),)))
    if part.overlay is not None:
        overview.append(part.overlay)
    across = []
    if part.seeds is not None:
        title = "Training settings across seeds"
        across.append(seeds_section(part.seeds, title=title, prefix="train-"))
    return [
        Section(title="Training runs", level=2, anchor="training", blocks=tuple(overview)),
        *across,
        Section(
            title="Training runs in detail",
            level=2,
            anchor="training-details",
            blocks=tuple(_run(r) for r in part.runs),
        ),
    ]


def headlines(section: TrainRun) -> list[str]:
    """A training run's headline numbers, as sentences: selection scores, test scores (when it
    logged any) and steps with their cost."""
    v = section.summary.get
    gate = section.run.params.get(Param.GATE_METRIC)
    metric = f" (gate metric {gate})" if gate else ""
    lines = [
        f"Selection score{metric}: baseline {fmt_number(v(Metric.BASELINE_SELECTION))} → best "
        f"{fmt_number(v(Metric.BEST_SELECTION))}; final skill "
        f"{fmt_number(v(Metric.FINAL_SELECTION))}."
    ]
    if any(v(name) is not None for name in (*TEST_HARD.values(), Metric.TEST_DELTA_HARD)):
        lines.append(
            f"Test (hard): baseline {fmt_number(v(TEST_HARD['baseline']))}, best skill "
            f"{fmt_number(v(TEST_HARD['best']))}, final skill "
            f"{fmt_number(v(TEST_HARD['final']))}; delta {signed(v(Metric.TEST_DELTA_HARD))}."
        )
    total = v(Metric.STEPS_TOTAL)
    if total is None:
        total = float(sum(row.step != 0 for row in section.steps))
    lines.append(
        f"Steps: {fmt_number(total)} ({fmt_number(v(Metric.STEPS_ACCEPTED))} accepted, "
        f"{fmt_number(v(Metric.STEPS_REJECTED))} rejected, "
        f"{fmt_number(v(Metric.STEPS_SKIPPED))} skipped); {fmt_number(v(Metric.LLM_CALLS))} "
        f"LLM calls, {fmt_number(v(TOKENS))} tokens, {fmt_number(v(Metric.LLM_COST_USD))} USD; "
        f"wall time {fmt_number(v(Metric.TRAIN_WALL_S))} s."
    )
    if section.summary.from_history:
        lines.append(
            f"Not logged by the run, read from its step history: "
            f"{', '.join(section.summary.from_history)}."
        )
    return lines


def _steps(section: TrainRun) -> Section:
    total = len(section.steps)
    if total == 0:
        return Section(title="Steps: none logged", level=4)
    if section.shown == total:
        title = f"Steps (all {total}, from the run's step metrics)"
    else:
        title = f"Steps (first {section.shown} of {total}; report.json holds all of them)"
    columns = (
        Column(header="step", numeric=True),
        Column(header="action"),
        *(Column(header=header, numeric=True) for _, header in STEP_COLUMNS),
    )
    rows = []
    for row in section.steps[: section.shown]:
        values = [getattr(row, name) for name, _ in STEP_COLUMNS]
        cells = (
            Cell(text=str(row.step)),
            Cell(text=row.action),
            *(Cell(text=fmt_number(v), missing=v is None) for v in values),
        )
        kind = "accepted" if row.accepted else ROW_KINDS.get(row.action)
        rows.append(Row(cells=cells, kind=kind))
    table = Table(columns=columns, rows=tuple(rows), kind="steps")
    return Section(title=title, level=4, blocks=(table,) if rows else ())


def _run(section: TrainRun) -> Section:
    run = section.run
    blocks: list[Block] = [BulletList(items=tuple((line,) for line in headlines(section)))]
    if run.params:
        pairs = [(Code(k), " = ", Code(v)) for k, v in sorted(run.params.items())]
        blocks.append(Paragraph(spans=("Settings: ", *joined(pairs, ", "), ".")))
    if section.curve is not None:
        blocks.append(section.curve)
    else:
        blocks.append(
            Paragraph(spans=("No score curve: the run logged no selection or gate history.",))
        )
    blocks.append(_steps(section))
    blocks.append(reproduce_section(section.reproduction, verified=None))
    return run_section(run, blocks, kind="run train")
