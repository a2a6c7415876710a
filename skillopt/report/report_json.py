"""`report.json`: the computed content as plain data, for scripts and tests.

The runs tables with raw values, each run's items, failure types, steps, histories, reproduce
commands and replay verification; no timestamp, so the same runs give the same bytes. A report
without reflect runs still has the reflect keys (empty); `training` is there only when there are
training runs.
"""

from __future__ import annotations

from typing import Any

from skillopt.report.compare import Comparison
from skillopt.report.content import ReflectPart, ReportContent, TrainingPart, TrainRun
from skillopt.report.document import Figure
from skillopt.report.tables import RunsTable
from skillopt.tracking.records import RunRecord, Selection


def report_data(content: ReportContent) -> dict[str, Any]:
    """The report as plain data (what `report.json` holds)."""
    data: dict[str, Any] = {"source": _source(content.selection)}
    data |= _reflect(content.reflect)
    data["compare"] = _comparison(content.comparison) if content.comparison else None
    if content.training is not None:
        data["training"] = _training(content.training)
    return data


def _source(selection: Selection) -> dict[str, Any]:
    return {
        "kind": selection.kind,
        "tracking_uri": selection.tracking_uri,
        "experiment": selection.experiment,
        "sweep_id": selection.sweep_id,
        "parent_run_id": selection.parent.run_id if selection.parent else None,
    }


def _table(table: RunsTable | None) -> dict[str, Any]:
    if table is None:
        return {"columns": [], "rows": [], "notes": []}
    return {
        "columns": [
            {"key": c.key, "header": c.header, "numeric": c.numeric} for c in table.columns
        ],
        "rows": table.rows,
        "notes": table.notes,
    }


def _plots(figures: list[Figure]) -> list[dict[str, str]]:
    return [{"file": f.path, "title": f.title} for f in figures]


def _run(run: RunRecord) -> dict[str, Any]:
    """What both parts say about any run."""
    return {
        "run_id": run.run_id,
        "run_name": run.run_name,
        "job_num": run.job_num,
        "status": run.status,
        "params": dict(sorted(run.params.items())),
        "metrics": dict(sorted(run.metrics.items())),
    }


def _reflect(part: ReflectPart | None) -> dict[str, Any]:
    runs = part.runs if part else []
    return {
        "table": _table(part.table if part else None),
        "swept_params": part.swept if part else [],
        "plots": _plots(part.plots if part else []),
        "constant_metrics": dict(part.constant if part else []),
        "runs": [
            _run(r.run)
            | {
                "payload_key": r.items.key,
                "items": [{"minibatch": m, "text": t} for m, t in r.items.shown],
                "items_total": r.items.total,
                "failure_types": dict(r.failures),
                "reproduce": r.reproduction.as_dict(),
                "replay_verified": r.verified,
                "replay_detail": r.verified_detail,
            }
            for r in runs
        ],
    }


def _train_run(section: TrainRun) -> dict[str, Any]:
    run = section.run
    return _run(run) | {
        "summary": dict(sorted(section.summary.values.items())),
        "summary_from_history": list(section.summary.from_history),
        "history": {
            name: [[step, value] for step, value in points]
            for name, points in sorted(run.history.items())
        },
        "steps": [row.as_dict() for row in section.steps],
        "curve": section.curve.path if section.curve else None,
        "reproduce": section.reproduction.as_dict(),
    }


def _training(part: TrainingPart) -> dict[str, Any]:
    return {
        "table": _table(part.table),
        "swept_params": part.swept,
        "summary": part.summary,
        "plots": _plots(part.plots),
        "runs": [_train_run(r) for r in part.runs],
    }


def _comparison(comparison: Comparison) -> dict[str, Any]:
    return {
        "left": comparison.left.run_id,
        "right": comparison.right.run_id,
        "minibatches": [
            {"minibatch": p.minibatch, "left": p.left, "right": p.right, "identical": p.identical}
            for p in comparison.pairs
        ],
    }
