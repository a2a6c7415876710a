"""`report.html`: one self-contained page (inline CSS and JS, plots as data URIs, no network).

A Content-Security-Policy forbids every external resource, so the page looks the same offline,
attached to an MLflow run or mailed around. Two small inline scripts: click a runs-table header
to sort by it, and a render self-check that, once the page has loaded, writes into
`#render-check` how many images decoded and any script error (the browser test reads it).
"""

from __future__ import annotations

import base64
from html import escape

from skillopt.report.content import (
    GENERATED_PREFIX,
    ReportContent,
    RunSection,
    TrainingContent,
    TrainSection,
    items_heading,
    jobs_sentence,
    plots_gap,
    reflect_headings,
    source_sentence,
    steps_heading,
    train_headlines,
    verified_sentence,
)
from skillopt.report.plots import Plot
from skillopt.report.records import TAG_ERROR, RunRecord
from skillopt.report.reproduce import Reproduction
from skillopt.report.tables import MISSING, RunsTable, fmt_number, one_line
from skillopt.report.training import REJECT, SKIP, STEP_COLUMNS

# Classes of step-table rows (accepted steps get `accepted`).
ROW_CLASSES = {REJECT: "rejected", SKIP: "skipped"}

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
  max-width: 1400px; padding: 0 1rem; color: #1b1f23; }
h1, h2, h3, h4 { line-height: 1.2; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #f6f8fa; padding: .6em .8em; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
td.gap { color: #8c959f; }
tr.same td { background: #f0fff4; }
.muted, .generated { color: #57606a; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.compare td { width: 48%; }
.ok { color: #1a7f37; } .bad { color: #cf222e; }
"""

# Added to STYLE only in a report with training runs (a reflect report stays as it was).
TRAIN_STYLE = """
tr.accepted td { background: #f0fff4; } tr.rejected td { background: #fff5f5; }
tr.skipped td { color: #8c959f; }
"""

# Registered first, so errors in any later script are counted.
CHECK_SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message || event.type));
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
    var check = document.getElementById("render-check");
    check.setAttribute("data-images", String(images.length));
    check.setAttribute("data-images-ok", String(ok.length));
    check.setAttribute("data-errors", String(errors.length));
    check.textContent = (ok.length === images.length && errors.length === 0 ? "images-ok " : "images-bad ")
      + ok.length + "/" + images.length + (errors.length ? " errors: " + errors.join("; ") : "");
  });
})();
"""

SORT_SCRIPT = """
(function () {
  function key(cell, numeric) {
    var raw = cell.getAttribute("data-sort");
    if (numeric) { return raw === "" ? null : parseFloat(raw); }
    return raw;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = th.getAttribute("data-type") === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
          if (x === null || y === null) { return (x === null) - (y === null); }
          var order = numeric ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
})();
"""


def e(text: object) -> str:
    return escape(str(text), quote=True)


def render_html(content: ReportContent, *, generated_at: str) -> str:
    selection = content.selection
    title = f"skillopt report: {selection.title}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(title)}</title>",
        f"<style>{STYLE}{TRAIN_STYLE if content.training else ''}</style>",
        f"<script>{CHECK_SCRIPT}</script>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="generated">{e(GENERATED_PREFIX + generated_at)}</p>',
        f"<p>{e(source_sentence(selection))}</p>",
    ]
    jobs = jobs_sentence(selection)
    if jobs:
        out.append(f"<p>{e(jobs)}</p>")
    if content.has_reflect:
        headings = reflect_headings(content)
        out += _runs_table(content.table, title=headings["runs"], ids=("runs", "runs-table"))
        out += _plots(content, title=headings["plots"])
        out.append(f'<h2 id="details">{e(headings["details"])}</h2>')
        for section in content.sections:
            out += _section(section)
    if content.training is not None:
        out += _training(content.training)
    if content.comparison is not None:
        out += _comparison(content)
    out += [
        '<div id="render-check" hidden></div>',
        f"<script>{SORT_SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


def _runs_table(table: RunsTable, *, title: str, ids: tuple[str, str]) -> list[str]:
    """A sortable runs table under a heading; ids: the heading's and the table's."""
    heading, table_id = ids
    out = [
        f'<h2 id="{e(heading)}">{e(title)}</h2>',
        '<p class="muted">Click a column header to sort.</p>',
    ]
    out.append(f'<table class="sortable" id="{e(table_id)}">')
    heads = "".join(
        f'<th scope="col" tabindex="0" data-type="{"number" if c.numeric else "text"}" '
        f'data-key="{e(c.key)}">{e(c.header)}</th>'
        for c in table.columns
    )
    out += ["<thead>", f"<tr>{heads}</tr>", "</thead>", "<tbody>"]
    for row in table.rows:
        cells = []
        for column in table.columns:
            value = row[column.key]
            text = table.text(row, column)
            sort = "" if value is None else (repr(float(value)) if column.numeric else str(value))
            classes = [
                c for c in ("num" if column.numeric else "", "gap" if value is None else "") if c
            ]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            body = f"<code>{e(text)}</code>" if column.key == "run_id" else e(text)
            cells.append(f'<td{attr} data-sort="{e(sort)}">{body}</td>')
        out.append(f'<tr data-run-id="{e(row["run_id"])}">{"".join(cells)}</tr>')
    out += ["</tbody>", "</table>"]
    if table.notes:
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in table.notes) + "</ul>")
    out.append(f'<p class="muted">{e(MISSING)} marks a value the run did not log.</p>')
    return out


def _figure(plot: Plot) -> list[str]:
    data = base64.b64encode(plot.png).decode("ascii")
    return [
        "<figure>",
        f'<img src="data:image/png;base64,{data}" alt="{e(plot.title)}">',
        f"<figcaption>{e(plot.title)} (<code>plots/{e(plot.name)}</code>)</figcaption>",
        "</figure>",
    ]


def _plots(content: ReportContent, *, title: str) -> list[str]:
    out = [f'<h2 id="plots">{e(title)}</h2>']
    for plot in content.plots:
        out += _figure(plot)
    gap = plots_gap(content)
    if gap:
        out.append(f"<p>{e(gap)}</p>")
    if content.constant:
        values = ", ".join(
            f"<code>{e(name)}</code> = {e(fmt_number(v))}" for name, v in content.constant
        )
        out.append(f"<p>Metrics with one value in every run that logged them: {values}.</p>")
    return out


def _pre(text: str) -> str:
    return f"<pre><code>{e(text)}</code></pre>"


def _section(section: RunSection) -> list[str]:
    run = section.run
    out = [
        f'<section class="run" id="run-{e(run.run_id)}">',
        f"<h3>{e(run.label)}: {e(run.run_name or run.run_id)}</h3>",
        f"<p>Run <code>{e(run.run_id)}</code>, status {e(run.status)}{_error(run)}.</p>",
    ]
    note = run.tags.get("mlflow.note.content")
    if note:
        out.append(f"<blockquote>{e(' '.join(note.split()))}</blockquote>")
    out.append(f"<h4>{e(items_heading(section))}</h4>")
    if section.items.shown:
        out.append(
            "<ol>"
            + "".join(
                f"<li><code>{e(minibatch)}</code> {e(text)}</li>"
                for minibatch, text in section.items.shown
            )
            + "</ol>"
        )
    if section.failures:
        out.append("<h4>Failure types (summed over the failure analysts' summaries)</h4>")
        rows = "".join(
            f'<tr><td>{e(name)}</td><td class="num">{count}</td></tr>'
            for name, count in section.failures
        )
        out.append(
            f"<table><thead><tr><th>failure type</th><th>count</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    else:
        out.append("<h4>Failure types: none reported</h4>")

    verified_class = "" if section.verified is None else ("ok" if section.verified else "bad")
    verified = (
        f'Replay verified: <span class="{verified_class}">{e(verified_sentence(section))}</span>'
    )
    out += _reproduce(section.reproduction, verified=verified)
    if run.replay_of:
        out.append(f"<p>This run replays run <code>{e(run.replay_of)}</code>.</p>")
    out.append("</section>")
    return out


def _training(training: TrainingContent) -> list[str]:
    out = _runs_table(training.table, title="Training runs", ids=("training", "train-runs-table"))
    if training.summary:
        out.append(f"<p>{e(' '.join(training.summary))}</p>")
    if training.overlay is not None:
        out += _figure(training.overlay)
    out.append('<h2 id="training-details">Training runs in detail</h2>')
    for section in training.sections:
        out += _train_section(section)
    return out


def _train_section(section: TrainSection) -> list[str]:
    run = section.run
    out = [
        f'<section class="run train" id="run-{e(run.run_id)}">',
        f"<h3>{e(run.label)}: {e(run.run_name or run.run_id)}</h3>",
        f"<p>Run <code>{e(run.run_id)}</code>, status {e(run.status)}{_error(run)}.</p>",
    ]
    note = run.tags.get("mlflow.note.content")
    if note:
        out.append(f"<blockquote>{e(' '.join(note.split()))}</blockquote>")
    out.append(
        "<ul>" + "".join(f"<li>{e(line)}</li>" for line in train_headlines(section)) + "</ul>"
    )
    if run.params:
        settings = ", ".join(
            f"<code>{e(k)}</code> = <code>{e(v)}</code>" for k, v in sorted(run.params.items())
        )
        out.append(f"<p>Settings: {settings}.</p>")
    if section.curve is not None:
        out += _figure(section.curve)
    else:
        out.append("<p>No score curve: the run logged no selection or gate history.</p>")
    out.append(f"<h4>{e(steps_heading(section))}</h4>")
    if section.shown:
        heads = "".join(
            f"<th>{e(h)}</th>" for h in ["step", "action", *(h for _, h in STEP_COLUMNS)]
        )
        rows = []
        for row in section.steps[: section.shown]:
            kind = "accepted" if row.accepted else ROW_CLASSES.get(row.action, "")
            attr = f' class="{kind}"' if kind else ""
            cells = "".join(
                f'<td class="num">{e(fmt_number(getattr(row, name)))}</td>'
                for name, _ in STEP_COLUMNS
            )
            rows.append(
                f'<tr{attr} data-step="{row.step}"><td class="num">{row.step}</td>'
                f"<td>{e(row.action)}</td>{cells}</tr>"
            )
        out.append(
            f'<table class="steps"><thead><tr>{heads}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    out += _reproduce(section.reproduction, verified=None)
    out.append("</section>")
    return out


def _reproduce(rep: Reproduction, *, verified: str | None) -> list[str]:
    """The "Reproduce" block; `verified`: the replay verification item, as HTML (None: left
    out)."""
    items = []
    if rep.recorded_command:
        items.append(f"Recorded command: <code>{e(rep.recorded_command)}</code>")
    overrides = " ".join(f"<code>{e(o)}</code>" for o in rep.overrides) or "none"
    items += [
        f"Overrides of this job: {overrides}",
        f"Working directory: {f'<code>{e(rep.cwd)}</code>' if rep.cwd else 'unknown'}",
        f"Git commit: <code>{e(rep.git_commit)}</code> (dirty: {e(rep.git_dirty)})",
        f"Versions: skillopt {e(rep.skillopt_version)}, MLflow {e(rep.mlflow_version)}",
    ]
    if verified is not None:
        items.append(verified)
    if rep.redacted:
        items.append("Some overrides held secrets and were redacted; set them again to re-run.")
    out = ["<h4>Reproduce</h4>", "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"]
    out += ["<p>Re-run this job:</p>", _pre(rep.shell(rep.rerun))]
    if rep.replay_blocker:
        out.append(f"<p>Nothing to replay: {e(rep.replay_blocker)}.</p>")
    else:
        out += [
            "<p>Replay it from its recorded calls (same patches, byte for byte):</p>",
            _pre(rep.shell(rep.replay)),
        ]
    return out


def _error(run: RunRecord) -> str:
    error = run.tags.get(TAG_ERROR)
    return f" ({e(one_line(error, 300))})" if error else ""


def _comparison(content: ReportContent) -> list[str]:
    comparison = content.comparison
    assert comparison is not None
    left, right = comparison.left, comparison.right
    out = [
        f'<h2 id="compare">Compare {e(left.label)} with {e(right.label)}</h2>',
        f"<p>A = run <code>{e(left.run_id)}</code> ({e(left.run_name)}), B = run "
        f"<code>{e(right.run_id)}</code> ({e(right.run_name)}). {comparison.identical} of "
        f"{len(comparison.pairs)} minibatches have byte-identical patches.</p>",
    ]
    for pair in comparison.pairs:
        state = " (identical)" if pair.identical else ""
        out.append(f"<h3>{e(pair.minibatch)}{e(state)}</h3>")
        rows = []
        if pair.left is None or pair.right is None:
            a = "(no patch)" if pair.left is None else ""
            b = "(no patch)" if pair.right is None else ""
            rows.append(f'<tr><td></td><td class="gap">{a}</td><td class="gap">{b}</td></tr>')
        for i, (a, b) in enumerate(pair.rows, 1):
            same = ' class="same"' if a == b else ""
            rows.append(
                f'<tr{same}><td class="num">{i}</td><td>{e(a or "")}</td><td>{e(b or "")}</td></tr>'
            )
        out.append(
            f'<table class="compare"><thead><tr><th>#</th><th>A: {e(left.label)}</th>'
            f"<th>B: {e(right.label)}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return out
