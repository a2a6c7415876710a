"""The report job end to end: resolve the store, collect runs, verify replays, write, log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from skillopt.report.collect import Store, collect, collect_run, resolve_tracking_uri
from skillopt.report.compare import Comparison, compare, pick
from skillopt.report.content import DEFAULT_STEPS, build_content
from skillopt.report.records import ReportError, RunRecord, Selection
from skillopt.report.replay import ReplayCheck, verify_replays
from skillopt.report.write import REPORT_FILES, write_report

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "skillopt-reflect"


@dataclass(frozen=True, kw_only=True)
class ReportRequest:
    """What to report on and where to write it.

    tracking_uri: the MLflow store (default `sqlite:///mlflow.db`, relative to the current
    directory, like skillopt-reflect's). experiment: experiment name (default
    `skillopt-reflect`; training runs are in `skillopt-train`). sweep_id: report on one sweep
    of it. run_ids: report on these runs instead (any experiment). compare: two run ids (or
    unique prefixes) to diff patch by patch. items: proposed items shown per reflect run
    (default 5). steps: steps listed per training run (default 30; report.json holds them
    all). verify_replay: replay every reflect run first and record whether its patches came
    out byte for byte. out: the report folder (default `report`). generated_at: the timestamp
    line (default now, UTC)."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    experiment: str = DEFAULT_EXPERIMENT
    sweep_id: str | None = None
    run_ids: tuple[str, ...] = ()
    compare: tuple[str, str] | None = None
    items: int = 5
    steps: int = DEFAULT_STEPS
    verify_replay: bool = False
    out: Path = Path("report")
    generated_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReportResult:
    """html: path of report.html; logged_to: the sweep parent run the report was logged to;
    checks: replay verdicts by run id (empty without verify_replay)."""

    html: Path
    selection: Selection
    logged_to: str | None
    checks: dict[str, ReplayCheck]


def make_report(
    request: ReportRequest,
    *,
    on_replay: Callable[[RunRecord, ReplayCheck], None] | None = None,
) -> ReportResult:
    """Write the report `request` asks for; ReportError (one line) on bad input."""
    if request.items < 0:
        raise ReportError(f"--items must be 0 or more, not {request.items}")
    if request.steps < 0:
        raise ReportError(f"--steps must be 0 or more, not {request.steps}")
    store = Store(resolve_tracking_uri(request.tracking_uri))
    selection = collect(
        store,
        experiment=request.experiment,
        sweep_id=request.sweep_id,
        run_ids=list(request.run_ids) or None,
    )
    comparison = _comparison(store, selection, request.compare)
    checks: dict[str, ReplayCheck] = {}
    if request.verify_replay:
        checks = verify_replays(selection.runs, store=store, on_result=on_replay)
        selection = replace(
            selection, runs=tuple(r.with_tags(checks[r.run_id].tags) for r in selection.runs)
        )
    content = build_content(
        selection, items=request.items, comparison=comparison, steps=request.steps
    )
    html = write_report(content, request.out, generated_at=request.generated_at)
    logged_to = None
    if selection.kind == "sweep" and selection.parent is not None:
        store.log_report(selection.parent.run_id, request.out, files=REPORT_FILES)
        logged_to = selection.parent.run_id
    return ReportResult(html=html, selection=selection, logged_to=logged_to, checks=checks)


def _comparison(
    store: Store, selection: Selection, refs: tuple[str, str] | None
) -> Comparison | None:
    if refs is None:
        return None
    runs = []
    for ref in refs:
        run = pick(ref, selection.runs)
        if run is None:
            try:
                run = collect_run(store, ref)
            except ReportError:
                raise ReportError(
                    f"--compare: no run {ref!r} in this report or in {store.uri}"
                ) from None
        if run.is_training:
            raise ReportError(
                f"--compare: run {run.run_id} is a training run; --compare diffs the patches "
                "of two skillopt-reflect runs"
            )
        runs.append(run)
    return compare(runs[0], runs[1])
