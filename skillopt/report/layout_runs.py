"""Blocks every part of the report uses: a runs table with its notes and legend, a run's heading
lines, and a run's Reproduce section."""

from __future__ import annotations

from collections.abc import Iterable

from skillopt.report.document import (
    Block,
    BulletList,
    Cell,
    Code,
    CodeBlock,
    Column,
    Inline,
    Paragraph,
    Quote,
    Row,
    Section,
    Spans,
    Table,
)
from skillopt.report.reproduce import Reproduction
from skillopt.report.tables import RunsTable
from skillopt.report.text import MISSING, one_line
from skillopt.tracking.records import RunRecord


def joined(parts: Iterable[Spans], separator: str) -> Spans:
    """The spans of `parts` with `separator` between them; () for no parts."""
    out: list[Inline] = []
    for index, part in enumerate(parts):
        out += [separator, *part] if index else list(part)
    return tuple(out)


def runs_table(table: RunsTable, *, anchor: str) -> tuple[Block, ...]:
    """A sortable runs table (its notes under it), then the legend of `—`."""
    columns = tuple(
        Column(header=c.header, key=c.key, numeric=c.numeric, code=c.key == "run_id")
        for c in table.columns
    )
    rows = []
    for row in table.rows:
        cells = []
        for column in table.columns:
            value = row[column.key]
            sort = repr(float(value)) if column.numeric and value is not None else None
            cells.append(Cell(text=table.text(row, column), sort=sort, missing=value is None))
        rows.append(Row(cells=tuple(cells), run_id=row["run_id"]))
    return (
        Table(
            columns=columns,
            rows=tuple(rows),
            notes=tuple(table.notes),
            sortable=True,
            anchor=anchor,
        ),
        Paragraph(spans=(f"{MISSING} marks a value the run did not log.",), muted=True),
    )


def run_section(run: RunRecord, blocks: Iterable[Block], *, kind: str) -> Section:
    """A run's section: its label and name as the heading, then its id and status (with the
    recorded error), its description, and `blocks`."""
    error = f" ({one_line(run.error, 300)})" if run.error else ""
    head: list[Block] = [
        Paragraph(spans=("Run ", Code(run.run_id), f", status {run.status}{error}."))
    ]
    if run.note:
        head.append(Quote(text=" ".join(run.note.split())))
    return Section(
        title=f"{run.label}: {run.run_name or run.run_id}",
        level=3,
        blocks=(*head, *blocks),
        anchor=f"run-{run.run_id}",
        kind=kind,
    )


def reproduce_section(rep: Reproduction, *, verified: Spans | None) -> Section:
    """How to re-create a run; `verified`: the replay verification item (None: left out)."""
    items: list[Spans] = []
    if rep.recorded_command:
        items.append(("Recorded command: ", Code(rep.recorded_command)))
    overrides = joined([(Code(o),) for o in rep.overrides], " ") or ("none",)
    items += [
        ("Overrides of this job: ", *overrides),
        ("Working directory: ", Code(rep.cwd) if rep.cwd else "unknown"),
        ("Git commit: ", Code(rep.git_commit), f" (dirty: {rep.git_dirty})"),
        (f"Versions: skillopt {rep.skillopt_version}, MLflow {rep.mlflow_version}",),
    ]
    if verified is not None:
        items.append(("Replay verified: ", *verified))
    if rep.redacted:
        items.append(("Some overrides held secrets and were redacted; set them again to re-run.",))
    blocks: list[Block] = [
        BulletList(items=tuple(items)),
        Paragraph(spans=("Re-run this job:",)),
        CodeBlock(text=rep.shell(rep.rerun), language="bash"),
    ]
    if rep.replay_blocker:
        blocks.append(Paragraph(spans=(f"Nothing to replay: {rep.replay_blocker}.",)))
    else:
        blocks += [
            Paragraph(spans=("Replay it from its recorded calls (same patches, byte for byte):",)),
            CodeBlock(text=rep.shell(rep.replay), language="bash"),
        ]
    return Section(title="Reproduce", level=4, blocks=tuple(blocks))
