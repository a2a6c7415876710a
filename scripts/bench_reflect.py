#!/usr/bin/env python
"""Benchmark the reflect job against a local OpenAI-compatible server with a fixed latency.

    python scripts/bench_reflect.py                 # 256 trajectories, M=8 -> 32 calls, 16 workers, 0.5 s
    python scripts/bench_reflect.py --tracking      # also: the overhead of MLflow tracking
    python scripts/bench_reflect.py --latency 1.0 --workers 8 --repeats 5

The server runs in its own process (so it does not share this interpreter's GIL) and answers
every call after `--latency` seconds. The job is the real one (`skillopt.cli.reflect.reflect_job`
on a config composed by Hydra): load the rollout, build requests, call, validate, write outputs,
with a fresh output directory (no call cache) each time.

- floor: ceil(calls / workers) * latency; ratio = wall / floor (target <= 1.10).
- --tracking: each repeat also runs the job with MLflow tracking as the Hydra callback does it
  (open the run, trace every call, log params/metrics/artifacts/table/dataset, close the run)
  into a SQLite store; overhead = (wall with tracking - wall without) / wall without
  (target <= 10%). Process start-up, `import mlflow` and creating the store are one-time costs
  paid in a warm-up run and reported separately, not in the per-job overhead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_dir  # noqa: E402

from skillopt.base.resources import conf_dir  # noqa: E402
from skillopt.cli.reflect import reflect_job  # noqa: E402
from skillopt.cli.schemas import load_reflect  # noqa: E402
from skillopt.cli.schemas.apps import plain  # noqa: E402
from skillopt.testing import spawn  # noqa: E402

KEY_ENV = "SKILLOPT_BENCH_KEY"


def synthetic_rollout(root: Path, n: int) -> Path:
    """n trajectories, half failures, each a short multi-turn conversation."""
    (root / "predictions").mkdir(parents=True)
    lines = []
    for i in range(n):
        failed = i % 2 == 0
        tid = f"t{i:05d}"
        lines.append(
            json.dumps(
                {
                    "id": tid,
                    "hard": 0 if failed else 1,
                    "soft": 0.3 if failed else 1.0,
                    "task_type": ["numeric", "date", "factoid"][i % 3],
                    "task_description": f"Question {i}: how far is place {i} from the coast?",
                    "fail_reason": f"{['missing_unit', 'date_format', 'wrong_span'][i % 3]}: answer {i}"
                    if failed
                    else None,
                    "n_turns": 3,
                }
            )
        )
        conversation = [
            {"role": "user", "content": f"Context about place {i}. " * 20},
            {"role": "assistant", "content": f"The answer is {i}."},
            {"role": "system", "content": f"[EVALUATION RESULT] EM={0 if failed else 1}"},
        ]
        (root / "predictions" / tid).mkdir()
        (root / "predictions" / tid / "conversation.json").write_text(json.dumps(conversation))
    (root / "results.jsonl").write_text("\n".join(lines) + "\n")
    return root


def compose_job(
    tmp: Path, rollout_dir: Path, base_url: str, args: argparse.Namespace, *, tracking: bool
):
    skill = tmp / "skill.md"
    skill.write_text("# Skill\n\n## Answer format\n- Answer briefly.\n")
    local_store = f"sqlite:///{tmp / 'mlflow.db'}"
    overrides = [
        "data=custom",
        f"data.rollout_dir={rollout_dir}",
        f"data.skill_path={skill}",
        "model=openai",
        f"model.base_url={base_url}",
        f"model.api_key_env={KEY_ENV}",
        "model.max_retries=0",
        f"reflect.minibatch_size={args.minibatch_size}",
        f"reflect.workers={args.workers}",
        "tracking=local" if tracking else "tracking=off",
        f"tracking.trace_llm_calls={str(tracking and not args.no_traces).lower()}",
        f"tracking.uri={args.tracking_uri or local_store}",
    ]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("reflect", overrides=overrides), overrides


def run_once(cfg, overrides: list[str], out_dir: Path, *, tracking: bool) -> dict:
    """One job, timed from before the run is opened to after it is closed."""
    started = time.perf_counter()
    config = load_reflect(cfg)
    tracker = None
    if tracking:
        from skillopt.tracking.run import RunTracker

        tracker = RunTracker.start(
            config=plain(cfg), settings=config.tracking, out_dir=out_dir, overrides=overrides
        )
    summary = reflect_job(config, out_dir)
    if tracker is not None:
        tracker.finish(error=None)
    return {
        "wall_s": time.perf_counter() - started,
        "calls": summary.llm.calls,
        "failed": summary.minibatches.failed,
    }


def tracking_report(
    timings: dict[str, list[dict]],
    floor: float,
    one_time: dict[str, float],
    store: str,
    no_traces: bool,
) -> dict:
    off = statistics.median(r["wall_s"] for r in timings["off"])
    on = statistics.median(r["wall_s"] for r in timings["on"])
    return {
        "tracking": {
            "wall_s_without": round(off, 4),
            "wall_s_with": round(on, 4),
            "wall_s_with_runs": [round(r["wall_s"], 4) for r in timings["on"]],
            "ratio_with_tracking_to_floor": round(on / floor, 4),
            "overhead": round((on - off) / off, 4),
            "target_overhead": 0.10,
            "one_time": one_time,
            "store": store,
            "traces": not no_traces,
        }
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trajectories", type=int, default=256)
    parser.add_argument("--minibatch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--latency", type=float, default=0.5, help="seconds the server waits per call"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--reply-from",
        choices=("offline", "stub"),
        default="offline",
        help="server replies: the offline stand-in's (validated items) or a fixed empty patch",
    )
    parser.add_argument(
        "--tracking", action="store_true", help="also measure MLflow tracking overhead"
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="store to track into (default: a fresh SQLite file)"
    )
    parser.add_argument(
        "--no-traces", action="store_true", help="track without one trace per LLM call"
    )
    args = parser.parse_args()

    os.environ[KEY_ENV] = "bench-not-a-secret"
    proc, base_url = spawn(latency_s=args.latency, reply_from=args.reply_from)
    timings: dict[str, list[dict]] = {"off": [], "on": []}
    one_time: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="skillopt-bench-") as tmp_name:
            tmp = Path(tmp_name)
            rollout_dir = synthetic_rollout(tmp / "rollout", args.trajectories)
            modes = ["off", "on"] if args.tracking else ["off"]
            jobs = {
                m: compose_job(tmp, rollout_dir, base_url, args, tracking=m == "on") for m in modes
            }
            for mode in modes:  # warm-up: imports, connections, the store's creation
                began = time.perf_counter()
                run_once(*jobs[mode], tmp / f"warmup-{mode}", tracking=mode == "on")
                one_time[f"first_job_{mode}_s"] = round(time.perf_counter() - began, 3)
            for i in range(args.repeats):
                for mode in modes:  # interleaved, so drift hits both alike
                    timings[mode].append(
                        run_once(*jobs[mode], tmp / f"run{i}-{mode}", tracking=mode == "on")
                    )
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    runs = timings["off"]
    calls = runs[0]["calls"]
    floor = math.ceil(calls / args.workers) * args.latency
    walls = [r["wall_s"] for r in runs]
    wall = statistics.median(walls)
    print(
        json.dumps(
            {
                "trajectories": args.trajectories,
                "minibatch_size": args.minibatch_size,
                "calls": calls,
                "workers": args.workers,
                "latency_s": args.latency,
                "floor_s": floor,
                "wall_s": round(wall, 4),
                "wall_s_runs": [round(w, 4) for w in walls],
                "ratio": round(wall / floor, 4),
                "target_ratio": 1.10,
                "failed_minibatches": max(r["failed"] for r in runs),
                **(
                    tracking_report(
                        timings,
                        floor,
                        one_time,
                        args.tracking_uri or "sqlite (a fresh local file)",
                        args.no_traces,
                    )
                    if args.tracking
                    else {}
                ),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
