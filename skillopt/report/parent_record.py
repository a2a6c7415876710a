"""What a sweep's parent run records of the statistics across seeds, besides the report's files,
so the MLflow UI shows the same numbers: a metric per setting, metric and statistic
(`settings.<setting>.<metric>.<statistic>`), a metric per compared setting, baseline, metric
and statistic (`settings.<setting>.vs.<baseline>.<metric>.<statistic>`), the same numbers as
two MLflow tables (one row per setting and metric, one per comparison; their `setting` column
maps each key to its params) and the verdict as a tag.

Plain data only: `skillopt.tracking.reader.Store.log_summary` writes it. Undefined statistics
(None) are left out of the metrics and are null in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillopt.report.across_seeds import SeedsPart
from skillopt.tracking.names import Artifact, Metric, Tag


@dataclass(frozen=True, kw_only=True)
class ParentRecord:
    """metrics: name -> value; tables: artifact file -> column -> values; tags: name -> value."""

    metrics: dict[str, float]
    tables: dict[str, dict[str, list[Any]]]
    tags: dict[str, str]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as columns (every key of any row, in first-seen order; None where a row lacks it)."""
    names = list(dict.fromkeys(key for row in rows for key in row))
    return {name: [row.get(name) for row in rows] for name in names}


def parent_record(parts: list[SeedsPart]) -> ParentRecord:
    """The parent run's share of `parts` (the report's statistics across seeds)."""
    metrics: dict[str, float] = {}
    settings_rows: list[dict[str, Any]] = []
    comparison_rows: list[dict[str, Any]] = []
    for part in parts:
        for stats in part.stats:
            setting = stats.setting
            head = {"job": part.job, "setting": setting.key, "label": setting.label}
            head |= {f"params.{k}": v for k, v in setting.params.items()}
            for metric in part.metrics:
                values = stats.samples[metric.key].as_dict()
                for name in Metric.SETTING_STATS:
                    if values[name] is not None:
                        key = Metric.SETTING_STAT.format(setting.key, metric.key, name)
                        metrics[key] = float(values[name])
                settings_rows.append(
                    head
                    | {"seeds": ", ".join(setting.seeds), "metric": metric.key}
                    | {"better": metric.better}
                    | values
                )
        for comparison in part.comparisons:
            data = comparison.as_dict()
            for name in Metric.SETTING_VS_STATS:
                if data[name] is not None:
                    key = Metric.SETTING_VS.format(
                        comparison.setting.key, comparison.baseline.key, comparison.metric.key, name
                    )
                    metrics[key] = float(data[name])
            comparison_rows.append(
                {
                    "job": part.job,
                    "setting": comparison.setting.key,
                    "label": comparison.setting.label,
                    "baseline": comparison.baseline.key,
                    "baseline_label": comparison.baseline.label,
                    "metric": comparison.metric.key,
                    "better": comparison.metric.better,
                    "pairs": comparison.test.pairs,
                    "seeds": ", ".join(comparison.seeds),
                    "differences": ", ".join(repr(d) for d in data["differences"]),
                    "diff_mean": data["diff_mean"],
                    "ci_low": data["ci_low"],
                    "ci_high": data["ci_high"],
                    "wilcoxon_p": data["wilcoxon_p"],
                    "verdict": comparison.verdict,
                }
            )
    tables = {Artifact.SETTINGS_TABLE: _columns(settings_rows)}
    if comparison_rows:
        tables[Artifact.COMPARISONS_TABLE] = _columns(comparison_rows)
    verdict = " ".join(part.verdict for part in parts)
    return ParentRecord(metrics=metrics, tables=tables, tags={Tag.VERDICT: verdict})
