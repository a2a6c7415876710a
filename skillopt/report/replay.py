"""`skillopt-report --verify-replay`: replay each run from its recorded calls and check that the
replay writes the same patches, byte for byte.

Each run is replayed with exactly the replay command the report prints (plus an output
directory), as a subprocess of this Python, started in the run's original working directory
when it still exists (so relative paths in its overrides mean what they meant) and in a
temporary directory otherwise. The verdict is recorded on the original run as tags
`skillopt.replay_verified` (`true`/`false`) and `skillopt.replay_detail` (which files differ).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skillopt.report.reproduce import replay_args, replay_blocker
from skillopt.report.text import one_line
from skillopt.tracking.names import Artifact, Tag
from skillopt.tracking.reader import Store
from skillopt.tracking.records import PatchFile, RunRecord

REPLAY_TIMEOUT_S = 900


@dataclass(frozen=True, kw_only=True)
class ReplayCheck:
    """verified: True/False, or None when the run was skipped (detail says why)."""

    run_id: str
    verified: bool | None
    detail: str

    @property
    def tags(self) -> dict[str, str]:
        if self.verified is None:
            return {}
        return {
            Tag.REPLAY_VERIFIED: "true" if self.verified else "false",
            Tag.REPLAY_DETAIL: self.detail,
        }


def skip_reason(run: RunRecord) -> str | None:
    """Why `run` cannot be replayed, or None if it can."""
    if run.is_sweep_parent:
        return "a sweep parent run has no calls of its own"
    if run.replay_of:
        return f"it is itself a replay of run {run.replay_of}"
    if run.is_training:
        return "--verify-replay compares skillopt-reflect patches; replay a training run with its Reproduce command"
    return replay_blocker(run)


def compare_patches(original: tuple[PatchFile, ...], replay_dir: Path) -> tuple[bool, str]:
    """(identical?, detail) for the original's patch files against `replay_dir/*.json`."""
    mine = {p.name: p.text.encode("utf-8") for p in original}
    theirs = {p.name: p.read_bytes() for p in sorted(replay_dir.glob("*.json"))}
    differ = sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n])
    only_original = sorted(set(mine) - set(theirs))
    only_replay = sorted(set(theirs) - set(mine))
    if not (differ or only_original or only_replay):
        if not mine:
            return True, "no patches on either side"
        return True, f"{len(mine)} patch{'es' if len(mine) != 1 else ''} identical"
    parts = []
    if differ:
        parts.append(f"differ: {', '.join(differ)}")
    if only_original:
        parts.append(f"only in the original: {', '.join(only_original)}")
    if only_replay:
        parts.append(f"only in the replay: {', '.join(only_replay)}")
    return False, "; ".join(parts)


def _env() -> dict[str, str]:
    """This process's environment, with the skillopt being used importable in the child."""
    import skillopt

    root = str(Path(skillopt.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def verify_run(run: RunRecord, *, tracking_uri: str, workdir: Path) -> ReplayCheck:
    """Replay `run` into `workdir/out` and compare its patches with the original's."""
    reason = skip_reason(run)
    if reason is not None:
        return ReplayCheck(run_id=run.run_id, verified=None, detail=f"skipped: {reason}")
    out = workdir / "out"
    command = [
        sys.executable,
        "-m",
        "skillopt.cli.reflect",
        f"hydra.run.dir={out}",
        *replay_args(run, tracking_uri=tracking_uri),
    ]
    cwd = Path(run.cwd) if run.cwd and Path(run.cwd).is_dir() else workdir
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=REPLAY_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return ReplayCheck(
            run_id=run.run_id,
            verified=False,
            detail=f"replay did not finish within {REPLAY_TIMEOUT_S} s",
        )
    if proc.returncode != 0:
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        last = one_line(lines[-1], 300) if lines else "no output"
        return ReplayCheck(
            run_id=run.run_id,
            verified=False,
            detail=f"replay failed (exit {proc.returncode}): {last}",
        )
    # The replay's patches/ folder, which a run uploads as its artifact folder of that name.
    ok, detail = compare_patches(run.patches, out / Artifact.PATCHES)
    return ReplayCheck(run_id=run.run_id, verified=ok, detail=detail)


def verify_replays(
    runs: tuple[RunRecord, ...],
    *,
    store: Store,
    on_result: Callable[[RunRecord, ReplayCheck], None] | None = None,
) -> dict[str, ReplayCheck]:
    """Verify every replayable run in order; tag each verified run; results by run id."""
    results: dict[str, ReplayCheck] = {}
    with tempfile.TemporaryDirectory(prefix="skillopt-verify-") as tmp:
        for index, run in enumerate(runs):
            workdir = Path(tmp) / str(index)
            workdir.mkdir()
            check = verify_run(run, tracking_uri=store.uri, workdir=workdir)
            if check.tags:
                store.set_tags(run.run_id, tags=check.tags)
            results[run.run_id] = check
            if on_result is not None:
                on_result(run, check)
    return results
