"""Run the console apps as a user would: a subprocess in its own working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The params every tracked reflect run must carry, spelled out here (not imported from skillopt)
# so that a key dropped from the code fails the tests.
CURATED_PARAMS = (
    "reflect.minibatch_size",
    "reflect.edit_budget",
    "reflect.update_mode",
    "reflect.seed",
    "reflect.failure_seed",
    "reflect.success_seed",
    "reflect.failure_only",
    "reflect.workers",
    "reflect.max_trajectory_chars",
    "model.backend",
    "model.name",
    "data.rollout_dir",
    "data.skill_path",
)


@dataclass
class Run:
    returncode: int
    output: str
    out_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "summary.json").read_text())


def run_reflect(
    cwd: Path,
    *overrides: str,
    out: str = "out",
    env: dict[str, str] | None = None,
    app: str = "reflect",
) -> Run:
    """`skillopt-<app> hydra.run.dir=<out> <overrides>` in `cwd`; stdout and stderr combined.

    Tracking is off unless an override chooses it, so tests of other things skip MLflow's start-up.
    """
    if not any(o.startswith(("tracking=", "tracking.")) for o in overrides):
        overrides = ("tracking=off", *overrides)
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", f"skillopt.cli.{app}", f"hydra.run.dir={out}", *overrides],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(returncode=proc.returncode, output=proc.stdout + proc.stderr, out_dir=cwd / out)


def run_sweep(
    cwd: Path,
    *overrides: str,
    sweep_dir: str = "sweep",
    env: dict[str, str] | None = None,
    app: str = "reflect",
) -> Run:
    """`skillopt-<app> -m hydra.sweep.dir=<sweep_dir> <overrides>` in `cwd` (tracking as configured)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            f"skillopt.cli.{app}",
            "-m",
            f"hydra.sweep.dir={sweep_dir}",
            *overrides,
        ],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Run(
        returncode=proc.returncode, output=proc.stdout + proc.stderr, out_dir=cwd / sweep_dir
    )


def runs_by_name(tracking_uri: str, experiment: str = "skillopt-reflect") -> dict[str, Any]:
    """All runs of `experiment`, keyed by run name."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} in {tracking_uri}"
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], max_results=1000)}


def all_runs(tracking_uri: str, experiment: str = "skillopt-reflect") -> list[Any]:
    """All runs of `experiment` (run names repeat across seeds, so this is a list)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} in {tracking_uri}"
    return client.search_runs([exp.experiment_id], max_results=1000)


def split_runs(runs: list[Any]) -> tuple[list[Any], list[Any]]:
    """(parents, children) of a sweep's runs: children carry `mlflow.parentRunId`."""
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def sweep_parent(
    tracking_uri: str, sweep_id: str = "sweep", experiment: str = "skillopt-reflect"
) -> Any:
    """The one parent run of sweep `sweep_id`."""
    runs = [
        r
        for r in all_runs(tracking_uri, experiment)
        if r.data.tags.get("skillopt.sweep_id") == sweep_id
    ]
    (parent,) = split_runs(runs)[0]
    return parent
