"""Create or complete the MLflow runs of finished output directories from their run journals.

A job's directory holds everything its run would have held (`journal.py`); syncing uploads
what the store does not have yet, with the same uploader the live agent uses, into the run the
directory names for that store (or a new one). A sweep directory gets its parent run first and
every job is attached to it. Nothing here calls an LLM; syncing a complete run makes no call.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from skillopt.base.errors import SkillOptError
from skillopt.tracking.journal import read_end, read_identity
from skillopt.tracking.names import RunFolder
from skillopt.tracking.sweep import (
    ParentRef,
    SweepIdentity,
    close_parent,
    job_dirs,
    open_parent,
)
from skillopt.tracking.upload import RunUploader

log = logging.getLogger("skillopt.tracking")


@dataclass(frozen=True, kw_only=True)
class Synced:
    """What syncing one job's directory did."""

    out_dir: Path
    run_id: str | None
    complete: bool
    ended: bool  # the journal records the job's end
    changed: bool  # anything was uploaded
    error: str | None = None
    uploaded: dict[str, int] = field(default_factory=dict)

    def line(self, uri: str) -> str:
        if self.error is not None:
            return f"{self.out_dir}: not synced to {uri}: {self.error}"
        what = ", ".join(f"{n} {k}" for k, n in self.uploaded.items() if n)
        state = "complete" if self.complete else "uploaded; the job has not ended, run left RUNNING"
        if not self.changed:
            return f"{self.out_dir}: run {self.run_id} at {uri} already {state}"
        return f"{self.out_dir}: run {self.run_id} at {uri} {state} ({what})"


def sync_job(out_dir: Path, uri: str) -> Synced:
    """Upload what `out_dir`'s run at `uri` lacks; end it as the journal says."""
    identity = read_identity(out_dir)
    if identity is not None and identity.sweep_dir is not None:
        sweep_dir = Path(identity.sweep_dir)
        if SweepIdentity.read(sweep_dir) is not None:
            open_parent(sweep_dir, uri)
    uploader = RunUploader(out_dir, uri)
    ended = read_end(out_dir) is not None
    if not uploader.pending():
        return Synced(
            out_dir=out_dir, run_id=uploader.run_id, complete=True, ended=ended, changed=False
        )
    complete = uploader.catch_up(final=True)
    return Synced(
        out_dir=out_dir,
        run_id=uploader.run_id,
        complete=complete,
        ended=ended,
        changed=True,
        error=uploader.progress.error,
        uploaded=dict(uploader.uploaded),
    )


def sync_path(path: Path, uri: str) -> list[Synced]:
    """Sync a job's output directory, or every job of a sweep directory (and its parent)."""
    if (path / RunFolder.IDENTITY).is_file():
        return [sync_job(path, uri)]
    jobs = job_dirs(path)
    if not jobs:
        raise SkillOptError(
            f"{path}: neither a job's output directory nor a sweep directory "
            f"(no {RunFolder.IDENTITY} in it or in its subdirectories)"
        )
    parent = open_parent(path, uri) if SweepIdentity.read(path) is not None else None
    results = [sync_job(job, uri) for job in jobs]
    if parent is not None and any(r.changed for r in results):
        close_parent(parent, path)
    return results


def default_uri(path: Path) -> str | None:
    """The store the job (or the sweep) was last uploaded to, else the one it was configured
    with, if any."""
    if (path / RunFolder.IDENTITY).is_file():
        progress = path / RunFolder.RUN
        if progress.is_file():
            return str(json.loads(progress.read_text(encoding="utf-8"))["tracking_uri"])
        identity = read_identity(path)
        return identity.uri if identity is not None and identity.uri else None
    parent = ParentRef.read(path)
    if parent is not None:
        return parent.tracking_uri
    sweep = SweepIdentity.read(path)
    if sweep is not None and sweep.uri:
        return sweep.uri
    return next(filter(None, (default_uri(job) for job in job_dirs(path))), None)
