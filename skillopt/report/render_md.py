"""`report.md`: the report as Markdown, plots linked from `plots/`."""

from __future__ import annotations

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
from skillopt.report.records import TAG_ERROR, RunRecord
from skillopt.report.reproduce import Reproduction
from skillopt.report.tables import MISSING, RunsTable, fmt_number, one_line
from skillopt.report.training import STEP_COLUMNS


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def code(text: str) -> str:
    """Inline code that survives backticks inside `text`."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(content: ReportContent, *, generated_at: str) -> str:
    selection = content.selection
    out: list[str] = [f"# skillopt report: {selection.title}", ""]
    out += [f"{GENERATED_PREFIX}{generated_at}", ""]
    out += [source_sentence(selection), ""]
    jobs = jobs_sentence(selection)
    if jobs:
        out += [jobs, ""]
    if content.has_reflect:
        out += _reflect(content)
    if content.training is not None:
        out += _training(content.training)
    if content.comparison is not None:
        out += _comparison(content)
    return "\n".join(out).rstrip("\n") + "\n"


def _table(table: RunsTable) -> list[str]:
    """A runs table, its gap notes and the legend of `—`."""
    out = ["| " + " | ".join(cell(c.header) for c in table.columns) + " |"]
    out.append("|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|")
    for row in table.rows:
        texts = []
        for column in table.columns:
            text = table.text(row, column)
            texts.append(code(text) if column.key == "run_id" else cell(text))
        out.append("| " + " | ".join(texts) + " |")
    out.append("")
    if table.notes:
        out += [f"- {note}" for note in table.notes] + [""]
    out += [f"{MISSING} marks a value the run did not log.", ""]
    return out


def _reflect(content: ReportContent) -> list[str]:
    headings = reflect_headings(content)
    out = [f"## {headings['runs']}", ""]
    out += _table(content.table)

    out += [f"## {headings['plots']}", ""]
    for plot in content.plots:
        out += [f"![{plot.title}](plots/{plot.name})", "", f"*{plot.title}.*", ""]
    gap = plots_gap(content)
    if gap:
        out += [gap, ""]
    if content.constant:
        values = ", ".join(f"{code(name)} = {fmt_number(v)}" for name, v in content.constant)
        out += [f"Metrics with one value in every run that logged them: {values}.", ""]

    out += [f"## {headings['details']}", ""]
    for section in content.sections:
        out += _section(section)
    return out


def _training(training: TrainingContent) -> list[str]:
    out = ["## Training runs", ""]
    out += _table(training.table)
    if training.summary:
        out += [" ".join(training.summary), ""]
    if training.overlay is not None:
        plot = training.overlay
        out += [f"![{plot.title}](plots/{plot.name})", "", f"*{plot.title}.*", ""]
    out += ["## Training runs in detail", ""]
    for section in training.sections:
        out += _train_section(section)
    return out


def _train_section(section: TrainSection) -> list[str]:
    run = section.run
    out = [f"### {run.label}: {run.run_name or run.run_id}", ""]
    out += [f"Run {code(run.run_id)}, status {run.status}{_error(run)}.", ""]
    note = run.tags.get("mlflow.note.content")
    if note:
        out += [f"> {' '.join(note.split())}", ""]
    out += [f"- {line}" for line in train_headlines(section)] + [""]
    if run.params:
        settings = ", ".join(f"{code(k)} = {code(v)}" for k, v in sorted(run.params.items()))
        out += [f"Settings: {settings}.", ""]
    if section.curve is not None:
        plot = section.curve
        out += [f"![{plot.title}](plots/{plot.name})", "", f"*{plot.title}.*", ""]
    else:
        out += ["No score curve: the run logged no selection or gate history.", ""]
    out += [f"**{steps_heading(section)}**", ""]
    if section.shown:
        heads = ["step", "action", *(header for _, header in STEP_COLUMNS)]
        out.append("| " + " | ".join(heads) + " |")
        out.append("|---:|---|" + "---:|" * len(STEP_COLUMNS))
        for row in section.steps[: section.shown]:
            values = [fmt_number(getattr(row, name)) for name, _ in STEP_COLUMNS]
            out.append("| " + " | ".join([str(row.step), row.action, *values]) + " |")
        out.append("")
    out += _reproduce(section.reproduction, verified=None)
    return out


def _section(section: RunSection) -> list[str]:
    run = section.run
    out = [f"### {run.label}: {run.run_name or run.run_id}", ""]
    out += [f"Run {code(run.run_id)}, status {run.status}{_error(run)}.", ""]
    note = run.tags.get("mlflow.note.content")
    if note:
        out += [f"> {' '.join(note.split())}", ""]
    out += [f"**{items_heading(section)}**", ""]
    for i, (minibatch, text) in enumerate(section.items.shown, 1):
        out.append(f"{i}. {code(minibatch)} {text}")
    if section.items.shown:
        out.append("")
    if section.failures:
        out += ["**Failure types** (summed over the failure analysts' summaries)", ""]
        out += ["| failure type | count |", "|---|---:|"]
        out += [f"| {cell(name)} | {count} |" for name, count in section.failures]
        out.append("")
    else:
        out += ["**Failure types**: none reported.", ""]

    out += _reproduce(section.reproduction, verified=verified_sentence(section))
    if run.replay_of:
        out += [f"This run replays run {code(run.replay_of)}.", ""]
    return out


def _reproduce(rep: Reproduction, *, verified: str | None) -> list[str]:
    """The "Reproduce" block; `verified`: the replay verification line (None: left out)."""
    out = ["#### Reproduce", ""]
    if rep.recorded_command:
        out.append(f"- Recorded command: {code(rep.recorded_command)}")
    overrides = " ".join(code(o) for o in rep.overrides) or "none"
    out.append(f"- Overrides of this job: {overrides}")
    out.append(f"- Working directory: {code(rep.cwd) if rep.cwd else 'unknown'}")
    out.append(f"- Git commit: {code(rep.git_commit)} (dirty: {rep.git_dirty})")
    out.append(f"- Versions: skillopt {rep.skillopt_version}, MLflow {rep.mlflow_version}")
    if verified is not None:
        out.append(f"- Replay verified: {verified}")
    if rep.redacted:
        out.append("- Some overrides held secrets and were redacted; set them again to re-run.")
    out += ["", "Re-run this job:", "", "```bash", rep.shell(rep.rerun), "```", ""]
    if rep.replay_blocker:
        out += [f"Nothing to replay: {rep.replay_blocker}.", ""]
    else:
        out += [
            "Replay it from its recorded calls (same patches, byte for byte):",
            "",
            "```bash",
            rep.shell(rep.replay),
            "```",
            "",
        ]
    return out


def _error(run: RunRecord) -> str:
    error = run.tags.get(TAG_ERROR)
    return f" ({cell(one_line(error, 300))})" if error else ""


def _comparison(content: ReportContent) -> list[str]:
    comparison = content.comparison
    assert comparison is not None
    left, right = comparison.left, comparison.right
    out = [f"## Compare {left.label} with {right.label}", ""]
    out += [
        f"A = run {code(left.run_id)} ({left.run_name}), B = run {code(right.run_id)} "
        f"({right.run_name}). {comparison.identical} of {len(comparison.pairs)} minibatches have "
        "byte-identical patches.",
        "",
    ]
    for pair in comparison.pairs:
        state = " (identical)" if pair.identical else ""
        out += [f"### {pair.minibatch}{state}", ""]
        out += [f"| # | A: {cell(left.label)} | B: {cell(right.label)} |", "|---:|---|---|"]
        if pair.left is None or pair.right is None:
            a = "(no patch)" if pair.left is None else ""
            b = "(no patch)" if pair.right is None else ""
            out.append(f"| | {a} | {b} |")
        for i, (a, b) in enumerate(pair.rows, 1):
            out.append(f"| {i} | {cell(a or '')} | {cell(b or '')} |")
        out.append("")
    return out
