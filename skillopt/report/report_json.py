"""`report.json`: the computed content as plain data, for scripts and tests.

The runs tables with raw values, each run's items, failure types, steps, histories, reproduce
commands and replay verification, and each part's statistics across seeds (`seeds`, null when
the part has none); no timestamp, so the same runs give the same bytes. A report without reflect
runs still has the reflect keys (empty); `training` is there only when there are training runs.
Undefined statistics are null, never NaN.
"""

from __future__ import annotations

from typing import Any

from skillopt.report.across_seeds import SeedsPart
from skillopt.report.compare import Comparison
from skillopt.report.content import ReflectPart, ReportContent, TrainingPart, TrainRun
from skillopt.report.document import Figure
from skillopt.report.stats import BOOTSTRAP_METHOD, BOOTSTRAP_SEED, MIN_PAIRS, RESAMPLES
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
        "seeds": seeds_data(part.seeds if part else None),
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
        "seeds": seeds_data(part.seeds),
    }


def seeds_data(part: SeedsPart | None) -> dict[str, Any] | None:
    """A part's statistics across seeds: how settings were formed, each setting's statistics
    per metric (with its runs' values), the comparisons with the baseline for every metric,
    the ranking by the chosen metric and the verdict."""
    if part is None:
        return None
    grouping = part.grouping
    return {
        "metric": part.metric.key,
        "level": part.level,
        "bootstrap": {"method": BOOTSTRAP_METHOD, "resamples": RESAMPLES, "seed": BOOTSTRAP_SEED},
        "min_pairs": MIN_PAIRS,
        "metrics": [
            {"key": m.key, "header": m.header, "names": list(m.names), "better": m.better}
            for m in part.metrics
        ],
        "seed_keys": list(grouping.seed_keys),
        "varying_seeds": list(grouping.varying_seeds),
        "setting_params": list(grouping.params),
        "left_out": [
            {"run_id": run.run_id, "status": run.status, "reason": why}
            for run, why in grouping.left_out
        ],
        "notes": list(part.notes),
        "settings": [
            {
                "key": s.setting.key,
                "label": s.setting.label,
                "params": s.setting.params,
                "runs": [run.run_id for run in s.setting.runs],
                "seeds": list(s.setting.seeds),
                "metrics": {
                    key: sample.as_dict() | {"values": list(sample.values)}
                    for key, sample in s.samples.items()
                },
            }
            for s in part.stats
        ],
        "baseline": part.baseline.key if part.baseline else None,
        "baseline_asked": part.baseline_asked,
        "ranked": [s.key for s in part.ranked],
        "comparisons": [c.as_dict() for c in part.comparisons],
        "verdict": part.verdict,
        "plot": part.plot.path if part.plot else None,
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
