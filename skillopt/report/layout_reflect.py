"""The reflect part of the document: the runs table, the statistics across seeds, the figures,
and each run's proposed items, failure types and Reproduce section."""

from __future__ import annotations

from skillopt.report.content import ReflectPart, ReflectRun
from skillopt.report.document import (
    Block,
    BulletList,
    Cell,
    Code,
    Column,
    Paragraph,
    Row,
    Section,
    Spans,
    Table,
    Verdict,
)
from skillopt.report.layout_runs import joined, reproduce_section, run_section, runs_table
from skillopt.report.layout_seeds import seeds_section
from skillopt.report.text import fmt_number, mark

PAYLOAD_WORDS = {
    "edits": "edits",
    "revise_suggestions": "suggestions",
    "skill_candidates": "skill candidates (titles)",
}
# Section headings: as they always were, or named as such beside the training part.
HEADINGS = ("Runs", "Settings across seeds", "Plots", "Runs in detail")
MIXED_HEADINGS = (
    "Reflect runs",
    "Reflect settings across seeds",
    "Reflect plots",
    "Reflect runs in detail",
)


def reflect_sections(part: ReflectPart, *, beside_training: bool) -> list[Section]:
    runs, seeds, plots, details = MIXED_HEADINGS if beside_training else HEADINGS
    across = [seeds_section(part.seeds, title=seeds, prefix="")] if part.seeds else []
    figures: list[Block] = list(part.plots)
    gap = _plots_gap(part)
    if gap:
        figures.append(Paragraph(spans=(gap,)))
    if part.constant:
        values = joined([(Code(n), f" = {fmt_number(v)}") for n, v in part.constant], ", ")
        intro = "Metrics with one value in every run that logged them: "
        figures.append(Paragraph(spans=(intro, *values, ".")))
    return [
        Section(
            title=runs, level=2, anchor="runs", blocks=runs_table(part.table, anchor="runs-table")
        ),
        *across,
        Section(title=plots, level=2, anchor="plots", blocks=tuple(figures)),
        Section(title=details, level=2, anchor="details", blocks=tuple(_run(r) for r in part.runs)),
    ]


def _plots_gap(part: ReflectPart) -> str | None:
    """Why there are no metric plots, if there are none."""
    if not part.swept:
        return "No param differs between these runs, so there is nothing to plot against."
    if not any(p.name.startswith("metrics_vs_") for p in part.plots):
        return "No metric differs between the runs that logged it, so no metric is plotted."
    return None


def _run(section: ReflectRun) -> Section:
    items = section.items
    words = PAYLOAD_WORDS.get(items.key or "", "items")
    if items.total == 0:
        heading = f"Proposed {words}: none"
    else:
        heading = f"Proposed {words} (first {len(items.shown)} of {items.total})"
    listed = BulletList(items=tuple((Code(m), f" {t}") for m, t in items.shown), ordered=True)
    if section.failures:
        failures = Section(
            title="Failure types (summed over the failure analysts' summaries)",
            level=4,
            blocks=(
                Table(
                    columns=(Column(header="failure type"), Column(header="count", numeric=True)),
                    rows=tuple(
                        Row(cells=(Cell(text=name), Cell(text=str(count))))
                        for name, count in section.failures
                    ),
                ),
            ),
        )
    else:
        failures = Section(title="Failure types: none reported", level=4)
    blocks: list[Block] = [
        Section(title=heading, level=4, blocks=(listed,) if items.shown else ()),
        failures,
        reproduce_section(section.reproduction, verified=_verified(section)),
    ]
    if section.run.replay_of:
        blocks.append(Paragraph(spans=("This run replays run ", Code(section.run.replay_of), ".")))
    return run_section(section.run, blocks, kind="run")


def _verified(section: ReflectRun) -> Spans:
    if section.verified is None:
        return ("not verified (run skillopt-report --verify-replay)",)
    text = mark(section.verified)
    if section.verified_detail:
        text = f"{text} {section.verified_detail}"
    return (Verdict(text=text, ok=section.verified),)
