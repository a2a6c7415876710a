"""The reflect part's data, derived from run records: the runs table, proposed items, failure
types, and which params and metrics vary.

Pure functions over `RunRecord`s. Values that a run did not log are None here (and `—` when
shown). `RunsTable` is also the training runs table (`training`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillopt.report.text import MISSING, fmt_number, mark, one_line
from skillopt.tracking.names import Metric, Tag
from skillopt.tracking.records import RunRecord

TOKENS = "tokens"  # the report's own column: prompt plus completion tokens
TOKEN_METRICS = (Metric.LLM_PROMPT_TOKENS, Metric.LLM_COMPLETION_TOKENS)

# Metric columns of the runs table: (key in report.json, header, metric names summed).
METRIC_COLUMNS = (
    (Metric.PAYLOAD_ITEMS, "payload items", (Metric.PAYLOAD_ITEMS,)),
    (Metric.MINIBATCHES_FAILED, "failed minibatches", (Metric.MINIBATCHES_FAILED,)),
    (TOKENS, "tokens", TOKEN_METRICS),
    (Metric.LLM_COST_USD, "cost (USD)", (Metric.LLM_COST_USD,)),
    (Metric.REFLECT_WALL_S, "wall time (s)", (Metric.REFLECT_WALL_S,)),
)


def varying_params(runs: Sequence[RunRecord]) -> list[str]:
    """Param names whose value (or presence) differs between the runs, sorted by name."""
    names = sorted({name for run in runs for name in run.params})
    return [name for name in names if len({run.params.get(name) for run in runs}) > 1]


def metric_sum(run: RunRecord, names: tuple[str, ...]) -> float | None:
    """Sum of the named metrics; None when the run did not log one of them."""
    if any(name not in run.metrics for name in names):
        return None
    return float(sum(run.metrics[name] for name in names))


def verification(run: RunRecord) -> tuple[bool | None, str]:
    """(verified?, detail) from the `skillopt.replay_verified` tags; None if never verified."""
    value = run.tags.get(Tag.REPLAY_VERIFIED)
    if value is None:
        return None, ""
    return value == "true", run.tags.get(Tag.REPLAY_DETAIL, "")


@dataclass(frozen=True, kw_only=True)
class Column:
    """key: name in report.json; header: as shown; numeric: a number (sorts as one)."""

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


def table_of(
    runs: Sequence[RunRecord],
    *,
    numeric: Sequence[tuple[str, str]],
    text: Sequence[tuple[str, str]] = (),
    values: Sequence[dict[str, Any]],
    notes: list[str],
) -> RunsTable:
    """A runs table: job (when any run has one), the params that vary, status, the `numeric`
    columns and then the `text` columns ((key, header) pairs) with `values` (one dict per run,
    by key), and run id."""
    params = varying_params(runs)
    has_jobs = any(run.job_num is not None for run in runs)
    columns = [Column(key="job", header="job", numeric=True)] if has_jobs else []
    columns += [Column(key=f"params.{name}", header=name) for name in params]
    columns.append(Column(key="status", header="status"))
    columns += [Column(key=key, header=header, numeric=True) for key, header in numeric]
    columns += [Column(key=key, header=header) for key, header in text]
    columns.append(Column(key="run_id", header="run id"))
    rows = []
    for run, own in zip(runs, values, strict=True):
        row: dict[str, Any] = {"job": run.job_num} if has_jobs else {}
        row |= {f"params.{name}": run.params.get(name) for name in params}
        row["status"] = run.status
        row |= {key: own[key] for key, _ in [*numeric, *text]}
        row["run_id"] = run.run_id
        rows.append(row)
    return RunsTable(columns=columns, rows=rows, notes=notes)


def runs_table(runs: tuple[RunRecord, ...]) -> RunsTable:
    """The swept params (only those that vary) as columns, then status, payload items, failed
    minibatches, tokens, cost, wall time, replay verification (once any run has one) and run id."""
    verified_any = any(verification(run)[0] is not None for run in runs)
    values = []
    for run in runs:
        own: dict[str, Any] = {key: metric_sum(run, names) for key, _, names in METRIC_COLUMNS}
        if verified_any:
            own["replay_verified"] = mark(verification(run)[0])
        values.append(own)
    return table_of(
        runs,
        numeric=[(key, header) for key, header, _ in METRIC_COLUMNS],
        text=[("replay_verified", "replay verified")] if verified_any else [],
        values=values,
        notes=gap_notes(runs),
    )


def gap_notes(runs: tuple[RunRecord, ...]) -> list[str]:
    """One sentence per run that failed or misses a table metric, one per replay run."""
    notes = []
    wanted = sorted({name for _, _, names in METRIC_COLUMNS for name in names})
    for run in runs:
        missing = [name for name in wanted if name not in run.metrics]
        if not run.finished:
            reason = f": {one_line(run.error, 300)}" if run.error else ""
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


def _metric_values(runs: tuple[RunRecord, ...]) -> dict[str, set[float]]:
    """Each metric any run logged, by name, with the set of its values."""
    values: dict[str, set[float]] = {}
    for run in runs:
        for name, value in run.metrics.items():
            values.setdefault(name, set()).add(value)
    return dict(sorted(values.items()))


def constant_metrics(runs: tuple[RunRecord, ...]) -> list[tuple[str, float]]:
    """Metrics with one value in every run that logged them (not worth a plot), by name."""
    return [(name, next(iter(v))) for name, v in _metric_values(runs).items() if len(v) == 1]


def varying_metrics(runs: tuple[RunRecord, ...]) -> list[str]:
    """Metrics with at least two different values across the runs, sorted by name."""
    return [name for name, v in _metric_values(runs).items() if len(v) > 1]
