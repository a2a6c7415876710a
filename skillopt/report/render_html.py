"""`report.html`: the document as one self-contained page (inline CSS and scripts from
`page_assets`, figures as data URIs, no network).

Sections about a run become `<section>` elements with an id; a sortable table gets sort keys
on its cells and a hint above it; rows carry their run id and kind.
"""

from __future__ import annotations

import base64
from html import escape

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
from skillopt.report.page_assets import CHECK_SCRIPT, CSP, SORT_SCRIPT, STYLE


def e(text: object) -> str:
    return escape(str(text), quote=True)


def _attrs(**values: str | None) -> str:
    """` class="x" id="y"` for the values that are set (`class_` is written `class`)."""
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{e(v)}"' for k, v in values.items() if v)


def render_html(document: Document, *, generated_at: str) -> str:
    """The whole of `report.html`; `generated_at` is the only line that changes between renders."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(document.title)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{CHECK_SCRIPT}</script>",
        "</head>",
        "<body>",
        f"<h1>{e(document.title)}</h1>",
        f'<p class="generated">{e(GENERATED_PREFIX + generated_at)}</p>',
    ]
    for block in document.blocks:
        out += _block(block)
    out += ['<div id="render-check" hidden></div>', f"<script>{SORT_SCRIPT}</script>"]
    return "\n".join([*out, "</body>", "</html>"]) + "\n"


def _inline(span: Inline) -> str:
    if isinstance(span, str):
        return e(span)
    if isinstance(span, Code):
        return f"<code>{e(span.text)}</code>"
    if isinstance(span, Verdict):
        return f'<span class="{"ok" if span.ok else "bad"}">{e(span.text)}</span>'
    raise TypeError(f"render_html: no HTML for inline {type(span).__name__}")


def _spans(spans: Spans) -> str:
    return "".join(_inline(span) for span in spans)


def _table(table: Table) -> list[str]:
    out = ['<p class="muted">Click a column header to sort.</p>'] if table.sortable else []
    kind = " ".join(k for k in ("sortable" if table.sortable else None, table.kind) if k)
    heads = []
    for c in table.columns:
        sort = {"scope": "col", "tabindex": "0", "data_type": "number" if c.numeric else "text"}
        attrs = _attrs(**sort, data_key=c.key) if table.sortable else ""
        heads.append(f"<th{attrs}>{e(c.header)}</th>")
    out += [f"<table{_attrs(class_=kind, id=table.anchor)}>", "<thead>"]
    out += [f"<tr>{''.join(heads)}</tr>", "</thead>", "<tbody>"]
    for row in table.rows:
        cells = []
        for column, c in zip(table.columns, row.cells, strict=True):
            classes = [k for k, on in (("num", column.numeric), ("gap", c.missing)) if on]
            key = "" if c.missing else (c.text if c.sort is None else c.sort)
            sort = f' data-sort="{e(key)}"' if table.sortable else ""
            text = f"<code>{e(c.text)}</code>" if column.code else e(c.text)
            cells.append(f"<td{_attrs(class_=' '.join(classes))}{sort}>{text}</td>")
        out.append(f"<tr{_attrs(class_=row.kind, data_run_id=row.run_id)}>{''.join(cells)}</tr>")
    out += ["</tbody>", "</table>"]
    if table.notes:
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in table.notes) + "</ul>")
    return out


def _block(block: Block) -> list[str]:
    if isinstance(block, Section):
        inner = [line for child in block.blocks for line in _block(child)]
        h = f"h{block.level}"
        if block.kind is None:
            return [f"<{h}{_attrs(id=block.anchor)}>{e(block.title)}</{h}>", *inner]
        start = f"<section{_attrs(class_=block.kind, id=block.anchor)}>"
        return [start, f"<{h}>{e(block.title)}</{h}>", *inner, "</section>"]
    if isinstance(block, Paragraph):
        return [f"<p{_attrs(class_='muted' if block.muted else None)}>{_spans(block.spans)}</p>"]
    if isinstance(block, BulletList):
        tag = "ol" if block.ordered else "ul"
        return [f"<{tag}>{''.join(f'<li>{_spans(i)}</li>' for i in block.items)}</{tag}>"]
    if isinstance(block, Quote):
        return [f"<blockquote>{e(block.text)}</blockquote>"]
    if isinstance(block, CodeBlock):
        return [f"<pre><code>{e(block.text)}</code></pre>"]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return [
            "<figure>",
            f'<img src="data:image/png;base64,{data}" alt="{e(block.title)}">',
            f"<figcaption>{e(block.title)} (<code>{e(block.path)}</code>)</figcaption>",
            "</figure>",
        ]
    raise TypeError(f"render_html: no HTML for block {type(block).__name__}")
