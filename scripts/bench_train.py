#!/usr/bin/env python
"""Time the offline training loop: `skillopt-train` on the bundled simulation.

    python scripts/bench_train.py                  # 2 epochs, tracking off and on, 3 repeats each
    python scripts/bench_train.py --epochs 3 --repeats 5

Two figures:

- cold: each repeat is a fresh `skillopt-train` process in a fresh directory (no call cache, a
  new MLflow store for the tracked runs), as a user runs it once: interpreter start-up, Hydra
  composition and, when tracked, the tracking agent's `import mlflow` and the store's creation.
- warm: one process runs the job repeatedly, untracked and tracked interleaved (as the Hydra
  callback does it: run journal, the agent uploading while the job runs, and the wait until the
  run is complete in the store, trace trees, metrics, files and all). The first tracked job pays
  the one-time costs (starting the agent, `import mlflow`, creating the store), reported apart;
  ratio = median tracked / median untracked (target <= 2).
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


def warm_runs(*, epochs: int, repeats: int) -> dict:
    """Untracked and tracked jobs interleaved in this process; the first of each is a warm-up."""
    sys.path.insert(0, str(REPO))
    from hydra import compose, initialize_config_dir

    from skillopt.base.resources import conf_dir
    from skillopt.cli.schemas import load_train, register_schemas
    from skillopt.cli.schemas.apps import plain
    from skillopt.cli.train import train_job
    from skillopt.tracking.run import RunTracker, incomplete_runs, settle_runs

    register_schemas()
    timings: dict[str, list[float]] = {"off": [], "on": []}
    one_time: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="skillopt-bench-train-") as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        configs = {}
        for mode in ("off", "on"):
            overrides = [
                f"train.epochs={epochs}",
                "tracking=local" if mode == "on" else "tracking=off",
                f"tracking.uri={store}",
            ]
            with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
                configs[mode] = (compose("train", overrides=overrides), overrides)
        for i in range(repeats + 1):
            for mode in ("off", "on"):
                cfg, overrides = configs[mode]
                out_dir = Path(tmp) / f"{mode}{i}"
                started = time.perf_counter()
                config = load_train(cfg)
                tracker = None
                if mode == "on":
                    tracker = RunTracker.start(
                        config=plain(cfg),
                        settings=config.tracking,
                        out_dir=out_dir,
                        overrides=overrides,
                    )
                outcome = train_job(config, out_dir)
                if tracker is not None:
                    tracker.result = outcome
                    tracker.finish(error=None)  # waits until the run is complete
                    settle_runs()
                    if incomplete_runs():
                        raise SystemExit(incomplete_runs()[-1].line())
                wall = time.perf_counter() - started
                if i == 0:
                    one_time[f"first_job_{mode}_s"] = round(wall, 3)
                else:
                    timings[mode].append(wall)
    off, on = statistics.median(timings["off"]), statistics.median(timings["on"])
    return {
        "warm_untracked_s": round(off, 3),
        "warm_tracked_s": round(on, 3),
        "warm_tracked_runs_s": [round(w, 3) for w in timings["on"]],
        "warm_untracked_runs_s": [round(w, 3) for w in timings["off"]],
        "ratio": round(on / off, 3),
        "ratio_min_max": [round(min(timings["on"]) / off, 3), round(max(timings["on"]) / off, 3)],
        "target_ratio": 2.0,
        "one_time": one_time,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm-only", action="store_true", help="skip the cold runs")
    args = parser.parse_args()
    print(json.dumps(warm_runs(epochs=args.epochs, repeats=args.repeats), indent=2))
    if args.warm_only:
        return
    for tracking in (False, True):
        walls = []
        for _ in range(args.repeats):
            wall, summary = one_run(epochs=args.epochs, tracking=tracking)
            walls.append(wall)
        calls = summary["llm"]["optimizer"]["calls"] + summary["llm"]["target"]["calls"]
        print(
            f"cold, tracking={'on ' if tracking else 'off'}: wall median {statistics.median(walls):.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}) over {args.repeats} runs; "
            f"{summary['total_steps']} steps, {calls} LLM calls, selection "
            f"{summary['baseline_selection_score']:.3f} -> {summary['best_selection_score']:.3f}, "
            f"{summary['accepts']} accepted / {summary['rejects']} rejected"
        )


if __name__ == "__main__":
    main()
