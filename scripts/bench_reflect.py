#!/usr/bin/env python
"""Benchmark the reflect step against a local OpenAI-compatible server with a fixed latency.

    python scripts/bench_reflect.py                 # 256 trajectories, M=8 -> 32 calls, 16 workers, 0.5 s
    python scripts/bench_reflect.py --latency 1.0 --workers 8 --repeats 3

The server runs in its own process (so it does not share this interpreter's GIL) and answers
every call after `--latency` seconds. The floor for C calls on W workers is
ceil(C / W) * latency; the script prints the measured wall time of the reflect job (load the
rollout, build requests, call, validate, write outputs; no call cache) and its ratio to the
floor. Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from skillopt.engine.output import summarize, write_outputs  # noqa: E402
from skillopt.engine.prompts import PromptLibrary  # noqa: E402
from skillopt.engine.reflect import ReflectSettings, RequestSettings, run_reflect  # noqa: E402
from skillopt.engine.rollout import load_rollout  # noqa: E402
from skillopt.llm import CallCache, Ledger, LLMClient, Price  # noqa: E402
from skillopt.llm.openai_backend import OpenAIBackend  # noqa: E402
from skillopt.resources import prompts_dir  # noqa: E402

KEY_ENV = "SKILLOPT_BENCH_KEY"
REPLY_FROM = os.environ.get("BENCH_REPLY_FROM", "offline")


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


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skillopt.testing.openai_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--reply-from",
            REPLY_FROM,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)["base_url"]


def run_once(rollout_dir: Path, out_dir: Path, base_url: str, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    rollout = load_rollout(rollout_dir)
    client = LLMClient(
        backend=OpenAIBackend(base_url=base_url, api_key_env=KEY_ENV, timeout_s=60, max_retries=0),
        ledger=Ledger(),
        cache=CallCache(out_dir / "llm_calls"),
    )
    outcome = run_reflect(
        rollout=rollout,
        skill="# Skill\n\n## Answer format\n- Answer briefly.\n",
        settings=ReflectSettings(
            minibatch_size=args.minibatch_size, workers=args.workers, edit_budget=4
        ),
        requests=RequestSettings(model="bench-model"),
        prompts=PromptLibrary(builtin_dir=prompts_dir()),
        client=client,
    )
    write_outputs(outcome, out_dir, summary=summarize(outcome, price=Price()))
    wall = time.perf_counter() - started
    failed = len(outcome.by_status("failed"))
    return {"wall_s": wall, "calls": outcome.llm["calls"], "failed_minibatches": failed}


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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ[KEY_ENV] = "bench-not-a-secret"
    proc, base_url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="skillopt-bench-") as tmp:
            rollout_dir = synthetic_rollout(Path(tmp) / "rollout", args.trajectories)
            run_once(rollout_dir, Path(tmp) / "warmup", base_url, args)  # imports, connections
            runs = [
                run_once(rollout_dir, Path(tmp) / f"run{i}", base_url, args)
                for i in range(args.repeats)
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

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
                "failed_minibatches": max(r["failed_minibatches"] for r in runs),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
