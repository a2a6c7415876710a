"""Build the wheel, install it into a fresh venv, and run `skillopt-reflect` from elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("skillopt-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True)
    # The dependencies come from the test environment through a .pth file (appended after the new
    # venv's own site-packages, so nothing is downloaded again); skillopt comes only from the wheel.
    inner = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(inner, "outer_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [
            python,
            "-c",
            "import skillopt, skillopt.base.resources as r; print(skillopt.__file__); print(r.conf_dir())",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert str(env_dir) in where[0] and str(env_dir) in where[1], where
    run = subprocess.run(
        [env_dir / "bin" / "skillopt-reflect", "hydra.run.dir=out"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["trajectories"]["total"] == 28
    assert summary["minibatches"]["ok"] == 4
    assert str(env_dir) in summary["data"]["rollout_dir"]
    train = subprocess.run(
        [env_dir / "bin" / "skillopt-train", "hydra.run.dir=train", "tracking=off"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stdout + train.stderr
    trained = json.loads((work / "train" / "summary.json").read_text())
    assert str(env_dir) in trained["env"]["data_path"]  # the bundled simulation, from the wheel
    assert trained["best_selection_score"] > trained["baseline_selection_score"]
