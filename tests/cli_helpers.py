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


@dataclass
class Run:
    returncode: int
    output: str
    out_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "summary.json").read_text())


def run_reflect(
    cwd: Path, *overrides: str, out: str = "out", env: dict[str, str] | None = None
) -> Run:
    """`skillopt-reflect hydra.run.dir=<out> <overrides>` in `cwd`; stdout and stderr combined.

    Tracking is off unless an override chooses it, so tests of other things skip MLflow's start-up.
    """
    if not any(o.startswith(("tracking=", "tracking.")) for o in overrides):
        overrides = ("tracking=off", *overrides)
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "skillopt.cli.reflect", f"hydra.run.dir={out}", *overrides],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(returncode=proc.returncode, output=proc.stdout + proc.stderr, out_dir=cwd / out)
