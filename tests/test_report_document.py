"""The report's document model and its two renderers: every block type and inline type is drawn
by both, so a type added to the model cannot be half supported."""

from __future__ import annotations

import base64
import typing
from dataclasses import dataclass

import pytest

from skillopt.report import document as doc
from skillopt.report.render_html import render_html
from skillopt.report.render_md import render_markdown

PNG = b"\x89PNG\r\n\x1a\n" + b"not really an image"

# One of each block type, each with a text only it carries.
SAMPLES: dict[type, doc.Block] = {
    doc.Paragraph: doc.Paragraph(spans=("para-text ",)),
    doc.BulletList: doc.BulletList(items=(("item-one",), ("item-two",)), ordered=True),
    doc.Quote: doc.Quote(text="quote-text"),
    doc.CodeBlock: doc.CodeBlock(text="code-block-text", language="bash"),
    doc.Table: doc.Table(
        columns=(
            doc.Column(header="name-head", key="name"),
            doc.Column(header="value-head", key="value", numeric=True),
            doc.Column(header="id-head", key="run_id", code=True),
        ),
        rows=(
            doc.Row(
                cells=(
                    doc.Cell(text="a|b"),
                    doc.Cell(text="—", missing=True),
                    doc.Cell(text="run-7"),
                ),
                run_id="run-7",
                kind="accepted",
            ),
        ),
        notes=("table-note",),
        sortable=True,
        anchor="sample-table",
    ),
    doc.Figure: doc.Figure(name="fig.png", title="figure-title", png=PNG),
    doc.Section: doc.Section(
        title="section-title",
        level=3,
        anchor="run-x",
        kind="run",
        blocks=(doc.Section(title="minor-title", level=4),),
    ),
}
# One of each inline type.
INLINES: dict[type, doc.Inline] = {
    str: "plain-span ",
    doc.Code: doc.Code(text="code-span"),
    doc.Verdict: doc.Verdict(text="✓ verdict-span", ok=True),
}


def sample_document() -> doc.Document:
    spans = tuple(INLINES.values())
    return doc.Document(
        title="title <&>",
        blocks=(*SAMPLES.values(), doc.Paragraph(spans=spans, muted=True)),
    )


def test_the_samples_cover_every_block_and_inline_type():
    assert set(SAMPLES) == set(typing.get_args(doc.Block))
    assert set(INLINES) == set(typing.get_args(doc.Inline))


def test_markdown_draws_every_block_type():
    text = render_markdown(sample_document(), generated_at="NOW")
    assert text.startswith("# title <&>\n\nGenerated at: NOW\n\npara-text \n\n")
    assert "1. item-one\n2. item-two\n" in text
    assert "> quote-text\n" in text
    assert "```bash\ncode-block-text\n```\n" in text
    table = "| name-head | value-head | id-head |\n|---|---:|---|\n| a\\|b | — | `run-7` |\n"
    assert table in text
    assert "- table-note\n" in text
    assert "![figure-title](plots/fig.png)\n\n*figure-title.*\n" in text
    assert "### section-title\n\n**minor-title**\n" in text
    assert "plain-span `code-span`✓ verdict-span\n" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_html_draws_every_block_type():
    html = render_html(sample_document(), generated_at="NOW")
    assert "<title>title &lt;&amp;&gt;</title>" in html and "<h1>title &lt;&amp;&gt;</h1>" in html
    assert '<p class="generated">Generated at: NOW</p>' in html
    assert "<p>para-text </p>" in html
    assert "<ol><li>item-one</li><li>item-two</li></ol>" in html
    assert "<blockquote>quote-text</blockquote>" in html
    assert "<pre><code>code-block-text</code></pre>" in html
    assert '<p class="muted">Click a column header to sort.</p>' in html
    assert '<table class="sortable" id="sample-table">' in html
    assert (
        '<th scope="col" tabindex="0" data-type="number" data-key="value">value-head</th>' in html
    )
    assert (
        '<tr class="accepted" data-run-id="run-7"><td data-sort="a|b">a|b</td>'
        '<td class="num gap" data-sort="">—</td>'
        '<td data-sort="run-7"><code>run-7</code></td></tr>'
    ) in html
    assert "<ul><li>table-note</li></ul>" in html
    assert f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in html
    assert "<figcaption>figure-title (<code>plots/fig.png</code>)</figcaption>" in html
    assert '<section class="run" id="run-x">\n<h3>section-title</h3>\n<h4>minor-title</h4>' in html
    assert (
        '<p class="muted">plain-span <code>code-span</code>'
        '<span class="ok">✓ verdict-span</span></p>'
    ) in html
    assert html.endswith("</body>\n</html>\n")


@dataclass(frozen=True)
class Unknown:
    text: str = "?"


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_a_type_a_renderer_does_not_know_is_an_error_not_a_gap(render):
    unknown_block: typing.Any = Unknown()
    with pytest.raises(TypeError, match="Unknown"):
        render(doc.Document(title="t", blocks=(unknown_block,)), generated_at="NOW")
    in_paragraph = doc.Paragraph(spans=(unknown_block,))
    with pytest.raises(TypeError, match="Unknown"):
        render(doc.Document(title="t", blocks=(in_paragraph,)), generated_at="NOW")


def test_figures_are_found_in_nested_sections_in_document_order():
    first = doc.Figure(name="a.png", title="a", png=PNG)
    second = doc.Figure(name="b.png", title="b", png=PNG)
    nested = doc.Section(
        title="s", level=2, blocks=(doc.Section(title="t", level=3, blocks=(second,)),)
    )
    document = doc.Document(title="t", blocks=(first, nested))
    assert [f.name for f in document.figures()] == ["a.png", "b.png"]
