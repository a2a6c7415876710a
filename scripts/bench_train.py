#!/usr/bin/env python
"""Time the offline training loop: `skillopt-train` on the bundled simulation, as a user runs it.

    python scripts/bench_train.py                  # 2 epochs, tracking off and on, 3 repeats each
    python scripts/bench_train.py --epochs 3 --repeats 5

Each repeat is a fresh process in a fresh directory (no call cache, a new MLflow store for the
tracked runs), so the figures include interpreter start-up, Hydra composition and, when tracked,
`import mlflow`, creating the store, one trace per LLM call and the artifact upload. The issue's
target for the 2-epoch offline loop is under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one_run(*, epochs: int, tracking: bool) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="skillopt-bench-train-") as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "skillopt.cli.train",
                "hydra.run.dir=run",
                f"train.epochs={epochs}",
                "tracking=local" if tracking else "tracking=off",
            ],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"skillopt-train failed:\n{proc.stdout}{proc.stderr}")
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    return wall, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for tracking in (False, True):
        walls = []
        for _ in range(args.repeats):
            wall, summary = one_run(epochs=args.epochs, tracking=tracking)
            walls.append(wall)
        calls = summary["llm"]["optimizer"]["calls"] + summary["llm"]["target"]["calls"]
        print(
            f"tracking={'on ' if tracking else 'off'}: wall median {statistics.median(walls):.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}) over {args.repeats} runs; "
            f"{summary['total_steps']} steps, {calls} LLM calls, selection "
            f"{summary['baseline_selection_score']:.3f} -> {summary['best_selection_score']:.3f}, "
            f"{summary['accepts']} accepted / {summary['rejects']} rejected"
        )


if __name__ == "__main__":
    main()
