"""Everything one report shows, computed once from the selected runs; the renderers lay it out.

`report.json` is this content as data (the runs table with raw values, each run's items,
failure types, reproduce commands and replay verification), for scripts and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillopt.report.compare import Comparison
from skillopt.report.plots import Plot, report_plots
from skillopt.report.records import RunRecord, Selection
from skillopt.report.reproduce import Reproduction, reproduction
from skillopt.report.tables import (
    ProposedItems,
    RunsTable,
    constant_metrics,
    failure_counts,
    proposed_items,
    runs_table,
    varying_metrics,
    varying_params,
    verification,
)

# Params that follow from another one (`reflect.seed`); plotting against them repeats a figure.
DERIVED_PARAMS = frozenset({"reflect.failure_seed", "reflect.success_seed"})


@dataclass(frozen=True, kw_only=True)
class RunSection:
    """What the report says about one run beyond its table row."""

    run: RunRecord
    items: ProposedItems
    failures: list[tuple[str, int]]
    reproduction: Reproduction
    verified: bool | None
    verified_detail: str


@dataclass(frozen=True, kw_only=True)
class ReportContent:
    selection: Selection
    table: RunsTable
    swept: list[str]
    plots: list[Plot]
    constant: list[tuple[str, float]]
    sections: list[RunSection]
    comparison: Comparison | None

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (what `report.json` holds); no timestamp."""
        selection = self.selection
        comparison = None
        if self.comparison is not None:
            comparison = {
                "left": self.comparison.left.run_id,
                "right": self.comparison.right.run_id,
                "minibatches": [
                    {
                        "minibatch": p.minibatch,
                        "left": p.left,
                        "right": p.right,
                        "identical": p.identical,
                    }
                    for p in self.comparison.pairs
                ],
            }
        return {
            "source": {
                "kind": selection.kind,
                "tracking_uri": selection.tracking_uri,
                "experiment": selection.experiment,
                "sweep_id": selection.sweep_id,
                "parent_run_id": selection.parent.run_id if selection.parent else None,
            },
            "table": {
                "columns": [
                    {"key": c.key, "header": c.header, "numeric": c.numeric}
                    for c in self.table.columns
                ],
                "rows": self.table.rows,
                "notes": self.table.notes,
            },
            "swept_params": self.swept,
            "plots": [{"file": f"plots/{p.name}", "title": p.title} for p in self.plots],
            "constant_metrics": dict(self.constant),
            "runs": [
                {
                    "run_id": s.run.run_id,
                    "run_name": s.run.run_name,
                    "job_num": s.run.job_num,
                    "status": s.run.status,
                    "params": dict(sorted(s.run.params.items())),
                    "metrics": dict(sorted(s.run.metrics.items())),
                    "payload_key": s.items.key,
                    "items": [{"minibatch": m, "text": t} for m, t in s.items.shown],
                    "items_total": s.items.total,
                    "failure_types": dict(s.failures),
                    "reproduce": s.reproduction.as_dict(),
                    "replay_verified": s.verified,
                    "replay_detail": s.verified_detail,
                }
                for s in self.sections
            ],
            "compare": comparison,
        }


def build_content(
    selection: Selection,
    *,
    items: int = 5,
    comparison: Comparison | None = None,
) -> ReportContent:
    """The report of `selection`, showing the first `items` proposed items of each run."""
    runs = selection.runs
    swept = varying_params(runs)
    plotted = [p for p in swept if not (p in DERIVED_PARAMS and "reflect.seed" in swept)]
    sections = []
    for run in runs:
        verified, detail = verification(run)
        sections.append(
            RunSection(
                run=run,
                items=proposed_items(run, items),
                failures=failure_counts(run),
                reproduction=reproduction(run, tracking_uri=selection.tracking_uri),
                verified=verified,
                verified_detail=detail,
            )
        )
    return ReportContent(
        selection=selection,
        table=runs_table(runs),
        swept=swept,
        plots=report_plots(runs, params=plotted, metrics=varying_metrics(runs)),
        constant=constant_metrics(runs),
        sections=sections,
        comparison=comparison,
    )


def plots_gap(content: ReportContent) -> str | None:
    """Why there are no metric plots, if there are none."""
    if not content.swept:
        return "No param differs between these runs, so there is nothing to plot against."
    if not any(p.name.startswith("metrics_vs_") for p in content.plots):
        return "No metric differs between the runs that logged it, so no metric is plotted."
    return None


PAYLOAD_WORDS = {
    "edits": "edits",
    "revise_suggestions": "suggestions",
    "skill_candidates": "skill candidates (titles)",
    None: "items",
}
GENERATED_PREFIX = "Generated at: "


def source_sentence(selection: Selection) -> str:
    """Where the runs come from, in one sentence (plain text)."""
    count = f"{len(selection.runs)} run{'s' if len(selection.runs) != 1 else ''}"
    where = f"tracking URI {selection.tracking_uri}"
    if selection.kind == "sweep":
        parent = selection.parent.run_id if selection.parent else "?"
        return (
            f"Sweep {selection.sweep_id} of experiment {selection.experiment} "
            f"(parent run {parent}), {count}; {where}."
        )
    if selection.kind == "experiment":
        return f"Experiment {selection.experiment}, {count} (sweep parents left out); {where}."
    return f"{count.capitalize()} chosen by id, from experiment {selection.experiment}; {where}."


def items_heading(section: RunSection) -> str:
    words = PAYLOAD_WORDS.get(section.items.key, "items")
    shown = len(section.items.shown)
    if section.items.total == 0:
        return f"Proposed {words}: none"
    return f"Proposed {words} (first {shown} of {section.items.total})"


def verified_sentence(section: RunSection) -> str:
    if section.verified is None:
        return "not verified (run skillopt-report --verify-replay)"
    mark = "✓" if section.verified else "✗"
    return f"{mark} {section.verified_detail}" if section.verified_detail else mark
