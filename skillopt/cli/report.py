"""`skillopt-report`: compare the runs of a sweep (or an experiment, or chosen runs; by default
the most recent sweep or run) and show how to reproduce each one; training runs also get score
curves and their steps. Runs that differ only in their seeds are grouped into settings, with
means, intervals and paired comparisons.

    skillopt-report
    skillopt-report --sweep multirun/reflect/2026-11-26/10-28-11
    skillopt-report --sweep multirun/train/2026-11-27/09-00-00 --baseline train.edit_budget=4
    skillopt-report --sweep sweep --metric tokens --level 0.9
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

settings across seeds (when some setting ran more than one seed, or with --baseline):
  runs that differ only in seed keys (train.seed, reflect.seed and the failure/success seeds
  derived from it, env.split_seed, and any --seed-keys) form one setting, named by the params
  that differ between settings and a stable key (s + 8 hex digits). Only FINISHED runs count
  (the others are listed). Per setting and metric (training: best selection score, test delta,
  final test score, accepted steps, tokens, cost; reflect: payload items, failed minibatches,
  tokens, cost): n, mean, standard deviation and a bootstrap interval of the mean (--level,
  default 0.95; percentile, expanded for small samples, fixed random state), as a table and a
  plot. Then every setting against the baseline (--baseline, default the best setting) on the
  chosen metric (--metric), paired by seed: the difference per seed, its mean and interval, the
  exact Wilcoxon signed-rank p, and a verdict: better or worse when the whole interval is on one
  side of 0, no evidence when it holds 0, too few pairs under 4 shared seeds. At the top, one
  sentence: the best setting with its interval and whether it is distinguishable from the
  runner-up. For a sweep, the same numbers are logged on its parent run (metrics
  settings.<key>.<metric>.<statistic>, tables tables/settings.json and tables/comparisons.json,
  tag skillopt.verdict).

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
  sweep, a --metric, --baseline or --level that does not fit); 3 report written but
  --verify-replay found a run whose replay differs.
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
        "looks in both and needs it only when both hold a sweep with that id",
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
        "--metric",
        metavar="KEY",
        help="the metric settings are ranked and compared by: best.selection_score (default), "
        "test.delta_hard, test.final_hard, steps.accepted, tokens or llm.cost_usd for "
        "training runs; payload.items (default), minibatches.failed, tokens or llm.cost_usd "
        "for reflect runs",
    )
    p.add_argument(
        "--baseline",
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="the setting every other setting is compared with, by the values of params that "
        "tell settings apart (e.g. train.edit_budget=4); default: the best setting",
    )
    p.add_argument(
        "--level",
        type=float,
        default=0.95,
        metavar="P",
        help="confidence level of every interval and verdict (default: 0.95)",
    )
    p.add_argument(
        "--seed-keys",
        nargs="+",
        default=[],
        metavar="KEY",
        help="params to count as seeds besides train.seed, reflect.seed (and its derived "
        "failure and success seeds) and env.split_seed",
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

    try:
        baseline = _baseline(args.baseline) if args.baseline is not None else None
    except ValueError as exc:
        return _fail(f"--baseline: {exc}")
    request = ReportRequest(
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        sweep_id=args.sweep,
        run_ids=tuple(args.runs or ()),
        compare=tuple(args.compare) if args.compare else None,  # type: ignore[arg-type]
        items=args.items,
        steps=args.steps,
        metric=args.metric,
        baseline=baseline,
        level=args.level,
        seed_keys=tuple(args.seed_keys),
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


def _baseline(text: str) -> dict[str, str]:
    """`train.edit_budget=4,reflect.minibatch_size=8` as {key: value}; a ValueError if it is
    not KEY=VALUE pairs."""
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE[,KEY=VALUE], got {text!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _fail(message: str) -> int:
    print(f"skillopt-report: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
