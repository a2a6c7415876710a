"""The report as a document: a title and a tree of blocks, with no markup in it.

The layout modules build one `Document`; `render_md` and `render_html` only map each block
type to their markup, so the two files always show the same things in the same order. Text is
plain (renderers escape it); inline pieces are plain strings, `Code` or `Verdict`. Every block
type is in `Block`, and each renderer raises on a type it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

PLOTS_DIR = "plots"  # figures are written to, and linked from, this folder of the report
GENERATED_PREFIX = "Generated at: "  # the line under the title: the only one that changes


@dataclass(frozen=True)
class Code:
    """Inline code: an id, a command, a name as typed."""

    text: str


@dataclass(frozen=True)
class Verdict:
    """A pass/fail mark with its detail (`✓ 7 patches identical`), coloured where possible."""

    text: str
    ok: bool


Inline = str | Code | Verdict
Spans = tuple[Inline, ...]


@dataclass(frozen=True, kw_only=True)
class Paragraph:
    """muted: secondary text (a legend), shown in grey where possible."""

    spans: Spans
    muted: bool = False


@dataclass(frozen=True, kw_only=True)
class BulletList:
    """One item per entry; ordered: numbered from 1."""

    items: tuple[Spans, ...]
    ordered: bool = False


@dataclass(frozen=True, kw_only=True)
class Quote:
    """A quoted note on one line (a run's description)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class CodeBlock:
    """Preformatted text; language: a hint for syntax highlighting (`bash`)."""

    text: str
    language: str = ""


@dataclass(frozen=True, kw_only=True)
class Column:
    """header: as shown; key: a stable name (the HTML sort handle); numeric: right-aligned and
    sorted as a number; code: its values are identifiers, shown as code."""

    header: str
    key: str = ""
    numeric: bool = False
    code: bool = False


@dataclass(frozen=True, kw_only=True)
class Cell:
    """text: as shown; sort: what a sortable table sorts it by (default its text; a missing
    cell sorts last); missing: the run did not log this value (or there is nothing on this
    side)."""

    text: str
    sort: str | None = None
    missing: bool = False


@dataclass(frozen=True, kw_only=True)
class Row:
    """run_id: the run this row stands for, if any; kind: what the row records (`accepted`,
    `rejected`, `skipped`, `same`), for styling."""

    cells: tuple[Cell, ...]
    run_id: str | None = None
    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class Table:
    """notes: sentences about the table's gaps, shown under it; sortable: the HTML sorts on a
    header click; anchor: an id to link to; kind: what the table holds (`compare`, `steps`)."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    sortable: bool = False
    anchor: str | None = None
    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class Figure:
    """A PNG written as `plots/<name>` (linked from Markdown, embedded in HTML); title: what it
    shows, also its alt text."""

    name: str
    title: str
    png: bytes

    @property
    def path(self) -> str:
        return f"{PLOTS_DIR}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class Section:
    """A heading (level 2 for the report's parts, 3 for a run, 4 below) and what it holds.
    anchor: an id to link to; kind: what the section is about (`run`, `run train`)."""

    title: str
    level: int
    blocks: tuple[Block, ...] = ()
    anchor: str | None = None
    kind: str | None = None


Block = Paragraph | BulletList | Quote | CodeBlock | Table | Figure | Section


@dataclass(frozen=True, kw_only=True)
class Document:
    title: str
    blocks: tuple[Block, ...]

    def figures(self) -> list[Figure]:
        """Every figure, in document order (what the report writes under `plots/`)."""
        found: list[Figure] = []

        def walk(blocks: tuple[Block, ...]) -> None:
            for block in blocks:
                if isinstance(block, Figure):
                    found.append(block)
                elif isinstance(block, Section):
                    walk(block.blocks)

        walk(self.blocks)
        return found
