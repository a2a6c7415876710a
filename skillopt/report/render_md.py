"""`report.md`: the document as Markdown, figures linked from `plots/`.

Headings of levels 1-3 are `#` lines; a level-4 heading is a bold line. Table cells are made
safe (one line, `|` escaped); other text is written as is.
"""

from __future__ import annotations

from skillopt.report.document import (
    GENERATED_PREFIX,
    Block,
    BulletList,
    Code,
    CodeBlock,
    Document,
    Figure,
    Inline,
    Paragraph,
    Quote,
    Section,
    Spans,
    Table,
    Verdict,
)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def code(text: str) -> str:
    """Inline code that survives backticks inside `text`."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(document: Document, *, generated_at: str) -> str:
    """The whole of `report.md`; `generated_at` is the only line that changes between renders."""
    out = [f"# {document.title}", "", f"{GENERATED_PREFIX}{generated_at}", ""]
    for block in document.blocks:
        out += _block(block)
    return "\n".join(out).rstrip("\n") + "\n"


def _inline(span: Inline) -> str:
    if isinstance(span, str):
        return span
    if isinstance(span, Code):
        return code(span.text)
    if isinstance(span, Verdict):
        return span.text
    raise TypeError(f"render_md: no Markdown for inline {type(span).__name__}")


def _spans(spans: Spans) -> str:
    return "".join(_inline(span) for span in spans)


def _table(table: Table) -> list[str]:
    out = ["| " + " | ".join(cell(c.header) for c in table.columns) + " |"]
    out.append("|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|")
    for row in table.rows:
        texts = [
            code(c.text) if column.code else cell(c.text)
            for column, c in zip(table.columns, row.cells, strict=True)
        ]
        out.append("| " + " | ".join(texts) + " |")
    out.append("")
    if table.notes:
        out += [f"- {note}" for note in table.notes] + [""]
    return out


def _block(block: Block) -> list[str]:
    if isinstance(block, Section):
        heading = f"{'#' * block.level} {block.title}" if block.level <= 3 else f"**{block.title}**"
        return [heading, ""] + [line for child in block.blocks for line in _block(child)]
    if isinstance(block, Paragraph):
        return [_spans(block.spans), ""]
    if isinstance(block, BulletList):
        marks = [f"{i}." if block.ordered else "-" for i in range(1, len(block.items) + 1)]
        return [f"{m} {_spans(item)}" for m, item in zip(marks, block.items, strict=True)] + [""]
    if isinstance(block, Quote):
        return [f"> {block.text}", ""]
    if isinstance(block, CodeBlock):
        return [f"```{block.language}", block.text, "```", ""]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return [f"![{block.title}]({block.path})", "", f"*{block.title}.*", ""]
    raise TypeError(f"render_md: no Markdown for block {type(block).__name__}")
