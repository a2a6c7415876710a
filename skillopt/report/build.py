"""The report job end to end: open the store, collect the runs, verify replays, lay out, write,
and log a sweep's report (and its statistics across seeds) to its parent run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from skillopt.report.across_seeds import SeedOptions
from skillopt.report.compare import Comparison, compare, pick
from skillopt.report.content import DEFAULT_STEPS, build_content
from skillopt.report.describe import choice_sentence, selection_title
from skillopt.report.errors import ReportError
from skillopt.report.layout import build_document
from skillopt.report.parent_record import parent_record
from skillopt.report.replay import ReplayCheck, verify_replays
from skillopt.report.report_json import report_data
from skillopt.report.stats import DEFAULT_LEVEL, check_level
from skillopt.report.write import REPORT_FILES, write_report
from skillopt.tracking.reader import Store, collect, collect_latest, collect_run, open_store
from skillopt.tracking.records import RunRecord, Selection, StoreError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

__all__ = ["DEFAULT_STEPS", "ReportRequest", "ReportResult", "make_report"]


@dataclass(frozen=True, kw_only=True)
class ReportRequest:
    """What to report on and where to write it.

    tracking_uri: the MLflow store (default `sqlite:///mlflow.db`, relative to the current
    directory, like the jobs'). Which runs: `run_ids` (any experiment), else `sweep_id` (one
    sweep of `experiment`, default whichever of skillopt-reflect and skillopt-train holds it),
    else `experiment` (all its runs but sweep parents), else, with none of them given, the most
    recent sweep or run of the store (skillopt-reflect or skillopt-train, whichever ran last).
    compare: two run ids (or unique prefixes) to diff patch by patch. items: proposed items
    shown per reflect run (default 5). steps: steps listed per training run (default 30;
    report.json holds them all). Statistics across seeds: metric (the key settings are ranked
    and compared by; default best.selection_score for training, payload.items for reflect),
    baseline (KEY=VALUE pairs naming the setting the others are compared with; default the
    best one), level (of every interval, default 0.95), seed_keys (params counted as seeds
    besides train.seed, reflect.seed and its derived seeds, env.split_seed). verify_replay:
    replay every reflect run first and record whether its patches came out byte for byte.
    out: the report folder (default `report`). generated_at: the timestamp line (default now,
    UTC)."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    experiment: str | None = None
    sweep_id: str | None = None
    run_ids: tuple[str, ...] = ()
    compare: tuple[str, str] | None = None
    items: int = 5
    steps: int = DEFAULT_STEPS
    metric: str | None = None
    baseline: dict[str, str] | None = None
    level: float = DEFAULT_LEVEL
    seed_keys: tuple[str, ...] = ()
    verify_replay: bool = False
    out: Path = Path("report")
    generated_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReportResult:
    """html: path of report.html; title: what the report is about (`sweep <id>`, ...);
    chose: the sentence saying which sweep or run was chosen when none was asked for (else
    None); logged_to: the sweep parent run the report was logged to; checks: replay verdicts
    by run id (empty without verify_replay)."""

    html: Path
    selection: Selection
    title: str
    chose: str | None
    logged_to: str | None
    checks: dict[str, ReplayCheck]


def make_report(
    request: ReportRequest,
    *,
    on_replay: Callable[[RunRecord, ReplayCheck], None] | None = None,
) -> ReportResult:
    """Write the report `request` asks for. Bad input raises a one-line ReportError (options)
    or StoreError (store, experiment, sweep or run); nothing is written then."""
    if request.items < 0:
        raise ReportError(f"--items must be 0 or more, not {request.items}")
    if request.steps < 0:
        raise ReportError(f"--steps must be 0 or more, not {request.steps}")
    try:
        check_level(request.level)
    except ValueError as exc:
        raise ReportError(f"--level: {exc}") from None
    store = open_store(request.tracking_uri)
    selection = _select(store, request)
    comparison = _comparison(store, selection, request.compare)
    checks: dict[str, ReplayCheck] = {}
    if request.verify_replay:
        checks = verify_replays(selection.runs, store=store, on_result=on_replay)
        selection = replace(
            selection, runs=tuple(r.with_tags(checks[r.run_id].tags) for r in selection.runs)
        )
    seeds = SeedOptions(
        metric=request.metric,
        baseline=request.baseline,
        level=request.level,
        seed_keys=request.seed_keys,
    )
    content = build_content(
        selection, items=request.items, comparison=comparison, steps=request.steps, seeds=seeds
    )
    document = build_document(content)
    html = write_report(
        document, report_data(content), request.out, generated_at=request.generated_at
    )
    logged_to = None
    if selection.kind == "sweep" and selection.parent is not None:
        store.log_report(selection.parent.run_id, folder=request.out, files=REPORT_FILES)
        if content.seeds:
            record = parent_record(content.seeds)
            store.log_summary(
                selection.parent.run_id,
                metrics=record.metrics,
                tables=record.tables,
                tags=record.tags,
            )
        logged_to = selection.parent.run_id
    return ReportResult(
        html=html,
        selection=selection,
        title=selection_title(selection),
        chose=choice_sentence(selection),
        logged_to=logged_to,
        checks=checks,
    )


def _select(store: Store, request: ReportRequest) -> Selection:
    if not (request.run_ids or request.sweep_id is not None or request.experiment):
        return collect_latest(store)
    return collect(
        store, experiment=request.experiment, sweep_id=request.sweep_id, run_ids=request.run_ids
    )


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
                run = collect_run(store, run_id=ref)
            except StoreError:
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
