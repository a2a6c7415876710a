"""`skillopt-sync`: create or complete the MLflow runs of finished jobs from their output
directories, the way `wandb sync` uploads an offline run.

    skillopt-sync outputs/train/2026-11-29/10-00-00
    skillopt-sync multirun/train/2026-11-29/10-00-00            # a whole sweep, parent included
    skillopt-sync outputs/reflect/... --tracking-uri http://127.0.0.1:5000

Every job keeps its run journal in its output directory (params, tags, metric histories with
their times, spans, skills for the registry, how it ended), whether or not it was tracked, so a
job run with `tracking=off`, on a machine without a server, or whose server went away can be
uploaded later. Syncing is idempotent: it completes the same run (never a second one), and
running it again changes nothing. It never calls an LLM.

This job is a plain argparse program, not a Hydra app.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from skillopt.base.errors import SkillOptError
from skillopt.tracking.content import absolute_uri
from skillopt.tracking.preflight import check_store
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.sync import default_uri, sync_path

PROG = "skillopt-sync"
EXIT_INCOMPLETE = 1

EPILOG = """\
which store:
  --tracking-uri, else the URI the job was configured with (tracking.uri), else
  MLFLOW_TRACKING_URI. A directory synced to another store gets a new run there.

exit status:
  0 when every run is complete; 1 when the store cannot be reached or a run could not be
  completed (run the same command again later: it picks up where it stopped).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("output_dir", type=Path, help="a job's output directory, or a sweep's")
    parser.add_argument("--tracking-uri", default=None, help="the MLflow store to sync into")
    parser.add_argument(
        "--timeout-s", type=int, default=10, help="bound on one request to a server (default 10)"
    )
    parser.add_argument(
        "--max-retries", type=int, default=2, help="retries of a failed request (default 2)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("skillopt").setLevel(logging.INFO)
    path: Path = args.output_dir
    if not path.is_dir():
        raise SystemExit(f"{PROG}: error: {path}: no such directory")
    uri = args.tracking_uri or default_uri(path) or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SystemExit(
            f"{PROG}: error: {path} was not tracked; give the store with --tracking-uri URI"
        )
    uri = absolute_uri(uri)
    try:
        bounds = TrackingSettings(uri=uri, timeout_s=args.timeout_s, max_retries=args.max_retries)
    except SkillOptError as exc:
        raise SystemExit(f"{PROG}: error: {exc}") from None
    bounds.apply_request_bounds()
    cause = check_store(uri, experiment=bounds.experiment, timeout_s=bounds.timeout_s)
    if cause is not None:
        raise SystemExit(f"{PROG}: error: {uri}: {cause}")
    try:
        results = sync_path(path, uri)
    except (SkillOptError, OSError) as exc:
        raise SystemExit(f"{PROG}: error: {exc}") from None
    for result in results:
        print(result.line(uri))
    failed = [r for r in results if r.error is not None]
    if failed:
        print(
            f"{PROG}: error: {len(failed)} of {len(results)} runs could not be completed",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INCOMPLETE)


if __name__ == "__main__":
    main()
