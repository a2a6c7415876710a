"""The report's data, derived from run records: the runs table, proposed items, failure types.

Pure functions over `RunRecord`s; the renderers only lay out what is computed here. Values
that a run did not log are None here and `—` when shown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from skillopt.report.records import TAG_ERROR, TAG_REPLAY_DETAIL, TAG_REPLAY_VERIFIED, RunRecord

MISSING = "—"
ITEM_MAX_CHARS = 240

# Metric columns of the runs table: (key in report.json, header, metric names summed).
METRIC_COLUMNS = (
    ("payload.items", "payload items", ("payload.items",)),
    ("minibatches.failed", "failed minibatches", ("minibatches.failed",)),
    ("tokens", "tokens", ("llm.prompt_tokens", "llm.completion_tokens")),
    ("llm.cost_usd", "cost (USD)", ("llm.cost_usd",)),
    ("reflect.wall_s", "wall time (s)", ("reflect.wall_s",)),
)


def fmt_number(value: float | None) -> str:
    """Integers without a decimal point, other numbers to 4 significant digits, None as `—`."""
    if value is None:
        return MISSING
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def one_line(text: str, limit: int = ITEM_MAX_CHARS) -> str:
    """`text` on one line (whitespace collapsed), cut to `limit` characters with `…`."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def varying_params(runs: tuple[RunRecord, ...] | list[RunRecord]) -> list[str]:
    """Param names whose value (or presence) differs between the runs, sorted by name."""
    names = sorted({name for run in runs for name in run.params})
    return [name for name in names if len({run.params.get(name) for run in runs}) > 1]


def metric_names(runs: tuple[RunRecord, ...] | list[RunRecord]) -> list[str]:
    return sorted({name for run in runs for name in run.metrics})


def metric_sum(run: RunRecord, names: tuple[str, ...]) -> float | None:
    """Sum of the named metrics; None when the run did not log one of them."""
    if any(name not in run.metrics for name in names):
        return None
    return float(sum(run.metrics[name] for name in names))


def verification(run: RunRecord) -> tuple[bool | None, str]:
    """(verified?, detail) from the `skillopt.replay_verified` tags; None if never verified."""
    value = run.tags.get(TAG_REPLAY_VERIFIED)
    detail = run.tags.get(TAG_REPLAY_DETAIL, "")
    if value is None:
        return None, ""
    return value == "true", detail


def mark(verified: bool | None) -> str:
    return MISSING if verified is None else ("✓" if verified else "✗")


@dataclass(frozen=True, kw_only=True)
class Column:
    """key: name in report.json; header: as shown; numeric: sorts as a number in the HTML."""

    key: str
    header: str
    numeric: bool = False


@dataclass(frozen=True, kw_only=True)
class RunsTable:
    """columns; rows: one dict per run, column key -> raw value (str, float or None); notes:
    sentences about gaps (failed runs, missing metrics)."""

    columns: list[Column]
    rows: list[dict[str, Any]]
    notes: list[str]

    def text(self, row: dict[str, Any], column: Column) -> str:
        value = row[column.key]
        if value is None:
            return MISSING
        return fmt_number(value) if column.numeric else str(value)


def runs_table(runs: tuple[RunRecord, ...]) -> RunsTable:
    """The swept params (only those that vary) as columns, then status, payload items, failed
    minibatches, tokens, cost, wall time, replay verification (once any run has one) and run id."""
    params = varying_params(runs)
    columns: list[Column] = []
    has_jobs = any(run.job_num is not None for run in runs)
    if has_jobs:
        columns.append(Column(key="job", header="job", numeric=True))
    columns += [Column(key=f"params.{name}", header=name) for name in params]
    columns.append(Column(key="status", header="status"))
    columns += [Column(key=key, header=header, numeric=True) for key, header, _ in METRIC_COLUMNS]
    verified_any = any(verification(run)[0] is not None for run in runs)
    if verified_any:
        columns.append(Column(key="replay_verified", header="replay verified"))
    columns.append(Column(key="run_id", header="run id"))

    rows = []
    for run in runs:
        row: dict[str, Any] = {}
        if has_jobs:
            row["job"] = run.job_num
        for name in params:
            row[f"params.{name}"] = run.params.get(name)
        row["status"] = run.status
        for key, _, names in METRIC_COLUMNS:
            row[key] = metric_sum(run, names)
        if verified_any:
            row["replay_verified"] = mark(verification(run)[0])
        row["run_id"] = run.run_id
        rows.append(row)
    return RunsTable(columns=columns, rows=rows, notes=gap_notes(runs))


def gap_notes(runs: tuple[RunRecord, ...]) -> list[str]:
    """One sentence per run that failed or misses a table metric, one per replay run."""
    notes = []
    wanted = sorted({name for _, _, names in METRIC_COLUMNS for name in names})
    for run in runs:
        missing = [name for name in wanted if name not in run.metrics]
        if run.status != "FINISHED":
            error = run.tags.get(TAG_ERROR)
            reason = f": {one_line(error, 300)}" if error else ""
            if not run.metrics:
                what = "it logged no metrics"
            elif missing:
                what = f"it did not log {', '.join(missing)}"
            else:
                what = "its metrics may be partial"
            notes.append(
                f"Run {run.label} ended {run.status}{reason}; {what} (shown as {MISSING})."
            )
        elif missing:
            notes.append(f"Run {run.label} did not log {', '.join(missing)} (shown as {MISSING}).")
        if run.replay_of:
            notes.append(f"Run {run.label} is a replay of run {run.replay_of}.")
    return notes


def item_text(key: str | None, item: dict[str, Any]) -> str:
    """One proposed item as one line: an edit's op, target and content; a suggestion's type,
    title and instruction; a skill candidate's title."""
    if key == "edits":
        target = item.get("target")
        where = f" “{one_line(target, 60)}”" if target else ""
        return one_line(f"{item.get('op', '?')}{where}: {item.get('content', '')}")
    if key == "revise_suggestions":
        return one_line(
            f"[{item.get('type', '?')}] {item.get('title', '')}: {item.get('instruction', '')}"
        )
    if key == "skill_candidates":
        return one_line(str(item.get("title", "(untitled candidate)")))
    return one_line(str(item))


@dataclass(frozen=True, kw_only=True)
class ProposedItems:
    """The first items a run proposed, minibatch by minibatch: (minibatch, text) pairs; total is
    the count over all its patches; key names the payload (`edits`, ...) or is None."""

    key: str | None
    shown: list[tuple[str, str]]
    total: int


def proposed_items(run: RunRecord, limit: int) -> ProposedItems:
    shown: list[tuple[str, str]] = []
    total = 0
    keys = [p.payload_key for p in run.patches if p.payload_key]
    for patch in run.patches:
        for item in patch.items:
            total += 1
            if len(shown) < limit:
                shown.append((patch.minibatch, item_text(patch.payload_key, item)))
    return ProposedItems(key=keys[0] if keys else None, shown=shown, total=total)


def failure_counts(run: RunRecord) -> list[tuple[str, int]]:
    """Failure types summed over the failure analysts' summaries, most frequent first."""
    counts: Counter[str] = Counter()
    for patch in run.patches:
        for entry in patch.failure_summary:
            count = entry.get("count", 1)
            counts[str(entry.get("failure_type", "?"))] += (
                int(count) if isinstance(count, (int, float)) else 1
            )
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def constant_metrics(runs: tuple[RunRecord, ...]) -> list[tuple[str, float]]:
    """Metrics with one value in every run that logged them (not worth a plot), by name."""
    out = []
    for name in metric_names(runs):
        values = {run.metrics[name] for run in runs if name in run.metrics}
        if len(values) == 1:
            out.append((name, values.pop()))
    return out


def varying_metrics(runs: tuple[RunRecord, ...]) -> list[str]:
    """Metrics with at least two different values across the runs, sorted by name."""
    return [
        name
        for name in metric_names(runs)
        if len({run.metrics[name] for run in runs if name in run.metrics}) > 1
    ]
