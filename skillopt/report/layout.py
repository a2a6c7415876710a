"""The report's content laid out as one `Document`: where the runs come from, the verdict across
seeds (one sentence per part that has statistics across seeds), the reflect part, the training
part and the comparison, in that order. Both renderers draw this document."""

from __future__ import annotations

from skillopt.report.compare import Comparison
from skillopt.report.content import ReportContent
from skillopt.report.describe import jobs_sentence, selection_title, source_sentence
from skillopt.report.document import (
    Block,
    Cell,
    Code,
    Column,
    Document,
    Paragraph,
    Row,
    Section,
    Table,
)
from skillopt.report.layout_reflect import reflect_sections
from skillopt.report.layout_training import training_sections
from skillopt.tracking.names import JOB_TRAIN

NO_PATCH = "(no patch)"


def build_document(content: ReportContent) -> Document:
    """The document of `content` (no timestamp: the renderers add the generated-at line)."""
    selection = content.selection
    blocks: list[Block] = [Paragraph(spans=(source_sentence(selection),))]
    jobs = jobs_sentence(selection)
    if jobs:
        blocks.append(Paragraph(spans=(jobs,)))
    parts = content.seeds
    for part in parts:
        what = (
            f" ({'training' if part.job == JOB_TRAIN else 'reflect'} runs)"
            if len(parts) > 1
            else ""
        )
        blocks.append(Paragraph(spans=(f"Verdict{what}: {part.verdict}",)))
    if content.reflect is not None:
        blocks += reflect_sections(content.reflect, beside_training=content.training is not None)
    if content.training is not None:
        blocks += training_sections(content.training)
    if content.comparison is not None:
        blocks.append(comparison_section(content.comparison))
    return Document(title=f"skillopt report: {selection_title(selection)}", blocks=tuple(blocks))


def comparison_section(comparison: Comparison) -> Section:
    """The two runs' items side by side, one table per minibatch."""
    left, right = comparison.left, comparison.right
    intro = Paragraph(
        spans=(
            "A = run ",
            Code(left.run_id),
            f" ({left.run_name}), B = run ",
            Code(right.run_id),
            f" ({right.run_name}). {comparison.identical} of {len(comparison.pairs)} minibatches "
            "have byte-identical patches.",
        )
    )
    columns = (
        Column(header="#", numeric=True),
        Column(header=f"A: {left.label}"),
        Column(header=f"B: {right.label}"),
    )
    minibatches = []
    for pair in comparison.pairs:
        rows = []
        if pair.left is None or pair.right is None:
            sides = [(pair.left is None), (pair.right is None)]
            gaps = (Cell(text=NO_PATCH if gap else "", missing=gap) for gap in sides)
            rows.append(Row(cells=(Cell(text=""), *gaps)))
        for i, (a, b) in enumerate(pair.rows, 1):
            cells = (Cell(text=str(i)), Cell(text=a or ""), Cell(text=b or ""))
            rows.append(Row(cells=cells, kind="same" if a == b else None))
        table = Table(columns=columns, rows=tuple(rows), kind="compare")
        title = f"{pair.minibatch}{' (identical)' if pair.identical else ''}"
        minibatches.append(Section(title=title, level=3, blocks=(table,)))
    return Section(
        title=f"Compare {left.label} with {right.label}",
        level=2,
        anchor="compare",
        blocks=(intro, *minibatches),
    )
