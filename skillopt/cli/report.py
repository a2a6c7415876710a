"""`skillopt-report`: compare the runs of a sweep (or an experiment, or chosen runs; by default
the most recent sweep or run) and show how to reproduce each one; training runs also get score
curves and their steps.

    skillopt-report
    skillopt-report --sweep multirun/reflect/2026-11-26/10-28-11
    skillopt-report --experiment skillopt-train --sweep multirun/train/2026-11-27/09-00-00
    skillopt-report --sweep sweep --compare 0a9c7551 40c52677
    skillopt-report --runs 0a9c7551e6444a94af41589657bb1473 b978bed74bcd421ab70103014f18be3e
    skillopt-report --verify-replay --sweep sweep

This job is a plain argparse program, not a Hydra app: it composes no config and runs no
sweep; it only reads an MLflow store (and, with --verify-replay, starts skillopt-reflect).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from skillopt.base.errors import SkillOptError
from skillopt.report.build import DEFAULT_STEPS
from skillopt.report.replay import ReplayCheck
from skillopt.tracking.records import RunRecord

EXIT_BAD_INPUT = 1
EXIT_REPLAY_DIFFERS = 3

EPILOG = """\
which runs:
  with no --sweep, --runs or --experiment, the most recent sweep or run in the store, of
  skillopt-reflect or skillopt-train (whichever ran last; replays are left out): a sweep is
  reported whole, any other run alone. A line says which it chose.

what the report holds:
  a runs table (the params that vary between the runs, status, payload items, failed
  minibatches, tokens, cost, wall time, run id; sortable in the HTML), plots of every metric
  that varies against every swept param (one line per update mode) and of tokens and cost per
  run, per run the first N proposed items and the failure types its analysts reported, and a
  "Reproduce" section (recorded command, overrides, git commit and dirty flag, skillopt and
  MLflow versions, the command that re-runs the job and the one that replays it).

training runs (tag skillopt.job=train, experiment skillopt-train) get a table of their own
  (the params that vary, status, baseline and best selection score, test delta (hard),
  accepted/rejected/skipped steps, tokens, cost, wall time, run id), a score curve per run
  (selection hard, gate current and gate best against step; accepts and rejects marked), an
  overlay of the best gate score of every run, and per run its first N steps (--steps).
  A report may mix reflect and training runs; each part shows what applies to its runs.

output (--out, default ./report):
  report.md, report.html (self-contained), report.json (the same data), plots/*.png.
  A sweep's report is also logged to the sweep's parent run under report/.

exit status:
  0 report written; 1 bad input (unknown experiment, sweep or run, missing store, empty
  sweep); 3 report written but --verify-replay found a run whose replay differs.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="skillopt-report",
        description=(
            "Write a report comparing skillopt-reflect and skillopt-train runs recorded in\n"
            "MLflow: with no arguments the most recent sweep or run in the store (whichever\n"
            "job made it), else a whole experiment (--experiment), one sweep (--sweep) or\n"
            "chosen runs (--runs)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--tracking-uri",
        default="sqlite:///mlflow.db",
        metavar="URI",
        help="MLflow tracking URI (default: sqlite:///mlflow.db, i.e. ./mlflow.db, "
        "the jobs' default store); a relative SQLite path is taken from the current "
        "directory and must exist",
    )
    p.add_argument(
        "--experiment",
        metavar="NAME",
        help="experiment to read (skillopt-reflect or skillopt-train); without --sweep or "
        "--runs the report covers all its runs except sweep parents. --sweep without it "
        "looks in skillopt-reflect",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--sweep",
        metavar="SWEEP_ID",
        help="report on one sweep: its id is the sweep directory as given to the sweep "
        "(tag skillopt.sweep_id, e.g. multirun/reflect/2026-11-26/10-28-11)",
    )
    which.add_argument(
        "--runs", nargs="+", metavar="ID", help="report on these run ids (any experiment)"
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="add a side-by-side diff of two runs' patches, minibatch by minibatch (run ids, "
        "or unique prefixes of runs in the report)",
    )
    p.add_argument(
        "--items",
        type=int,
        default=5,
        metavar="N",
        help="proposed items (edits, suggestions or candidate titles) shown per reflect run "
        "(default: 5)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        metavar="N",
        help=f"steps listed per training run (default: {DEFAULT_STEPS}; report.json holds all)",
    )
    p.add_argument(
        "--verify-replay",
        action="store_true",
        help="first replay every reflect run from its recorded calls (model=replay) and mark "
        "in the report, and with the tag skillopt.replay_verified on the run, whether its "
        "patches came out byte for byte (training runs are not replayed)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        metavar="DIR",
        help="report folder (default: ./report)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point of `skillopt-report`; returns the exit status."""
    args = parser().parse_args(argv)
    # One progress bar per downloaded artifact folder would drown the output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from skillopt.report import ReportRequest, make_report
    from skillopt.report.text import mark

    def on_replay(run: RunRecord, check: ReplayCheck) -> None:
        print(f"verify-replay {run.label}: {mark(check.verified)} {check.detail}", file=sys.stderr)

    request = ReportRequest(
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        sweep_id=args.sweep,
        run_ids=tuple(args.runs or ()),
        compare=tuple(args.compare) if args.compare else None,  # type: ignore[arg-type]
        items=args.items,
        steps=args.steps,
        verify_replay=args.verify_replay,
        out=args.out,
    )
    try:
        result = make_report(request, on_replay=on_replay)
    except SkillOptError as exc:  # bad options, or a store, experiment, sweep or run not found
        return _fail(str(exc))
    except OSError as exc:
        return _fail(str(exc))
    if result.chose:
        print(f"report: {result.chose}")
    runs = len(result.selection.runs)
    print(
        f"report: {result.html} (+ report.md, report.json, plots/) for {runs} "
        f"run{'s' if runs != 1 else ''} of {result.title}"
    )
    if result.logged_to:
        print(f"logged to the sweep's parent run {result.logged_to} under report/")
    if any(check.verified is False for check in result.checks.values()):
        failed = sum(check.verified is False for check in result.checks.values())
        print(
            f"skillopt-report: {failed} replay(s) did not reproduce their patches", file=sys.stderr
        )
        return EXIT_REPLAY_DIFFERS
    return 0


def _fail(message: str) -> int:
    print(f"skillopt-report: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
