"""A sweep's parent run: its identity written into the sweep directory when the sweep starts,
the run opened once before the jobs start, and closed with the jobs' counts.

The parent's id is written into the sweep directory (`RunFolder.PARENT`), where every job, in
the launching process or in a joblib/submitit worker, finds it and opens its own run as a
child. The identity (`RunFolder.SWEEP`) is written whether or not the sweep is tracked, so
`skillopt-sync` can create the parent later. A search sweeper's result (Optuna's
`optimization_results.yaml`) is kept on the parent too.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from skillopt.base.atomic import write_json, write_text
from skillopt.tracking.content import absolute_uri
from skillopt.tracking.journal import Progress, now_ms, read_end
from skillopt.tracking.names import Artifact, Metric, RunFolder, Tag
from skillopt.tracking.params import redact
from skillopt.tracking.provenance import command_line, git_state
from skillopt.tracking.settings import TrackingSettings

log = logging.getLogger("skillopt.tracking")

SWEEP_CONFIG = Path(".skillopt") / "multirun.yaml"  # the sweep's config, secrets redacted
TERMINAL = ("FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True, kw_only=True)
class ParentRef:
    """Where a sweep's parent run is: what a job needs to open its run as a child."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    sweep_id: str

    @classmethod
    def read(cls, sweep_dir: Path) -> ParentRef | None:
        path = sweep_dir / RunFolder.PARENT
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in ("run_id", "experiment_id", "tracking_uri", "sweep_id")})


@dataclass(frozen=True, kw_only=True)
class SweepIdentity:
    """What the parent run holds from its start."""

    sweep_id: str
    experiment: str
    uri: str
    run_name: str
    tags: dict[str, str]
    start_ms: int

    @classmethod
    def read(cls, sweep_dir: Path) -> SweepIdentity | None:
        path = sweep_dir / RunFolder.SWEEP
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def start_sweep(
    settings: TrackingSettings, *, sweep_dir: Path, overrides: list[str], config_yaml: str
) -> SweepIdentity:
    """Write the sweep's identity and config (redacted) into `sweep_dir`."""
    sweep_id = str(sweep_dir)
    commit, dirty = git_state()
    identity = SweepIdentity(
        sweep_id=sweep_id,
        experiment=settings.experiment,
        uri=absolute_uri(settings.uri) if settings.uri else "",
        run_name=f"sweep {sweep_id}",
        tags={
            Tag.SWEEP_ID: sweep_id,
            Tag.SWEEP_DIR: str(sweep_dir.resolve()),
            Tag.OVERRIDES: json.dumps([str(o) for o in redact(overrides)]),
            Tag.COMMAND: command_line(),
            Tag.GIT_COMMIT: commit,
            Tag.GIT_DIRTY: dirty,
        },
        start_ms=now_ms(),
    )
    write_json(sweep_dir / RunFolder.SWEEP, asdict(identity))
    write_text(sweep_dir / SWEEP_CONFIG, config_yaml)
    return identity


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The output directories of a sweep's jobs (those with a run journal)."""
    return sorted(p.parent.parent for p in sweep_dir.glob(f"*/{RunFolder.IDENTITY}"))


def incomplete_jobs(sweep_dir: Path, uri: str) -> list[Path]:
    """The jobs of the sweep whose runs at `uri` are not complete."""
    return [d for d in job_dirs(sweep_dir) if not Progress.load(d, uri).complete]


def open_parent(sweep_dir: Path, uri: str) -> ParentRef:
    """The parent run of the sweep in `sweep_dir` at `uri`: the one recorded there, or a new
    one created from the sweep's identity (its id is then written there for the jobs)."""
    from skillopt.tracking.store import client_for, ensure_experiment

    found = ParentRef.read(sweep_dir)
    if found is not None and found.tracking_uri == uri:
        return found
    identity = SweepIdentity.read(sweep_dir)
    if identity is None:
        raise FileNotFoundError(f"{sweep_dir / RunFolder.SWEEP}: not a sweep directory")
    client = client_for(uri)
    experiment_id = ensure_experiment(client, identity.experiment)
    run = client.create_run(
        experiment_id,
        run_name=identity.run_name,
        start_time=identity.start_ms,
        tags=identity.tags,
    )
    ref = ParentRef(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        tracking_uri=uri,
        sweep_id=identity.sweep_id,
    )
    config = sweep_dir / SWEEP_CONFIG
    if config.is_file():
        client.log_artifact(ref.run_id, str(config), Artifact.HYDRA)
    write_json(sweep_dir / RunFolder.PARENT, asdict(ref))
    log.info("tracking: sweep %s -> parent MLflow run %s", identity.sweep_id, ref.run_id)
    return ref


def log_search_result(ref: ParentRef, results: Path) -> None:
    """Keep a search sweeper's best params and value on the parent: an artifact, the metric
    `sweep.best_value` and the tag `skillopt.best_params`."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import RunTag

    from skillopt.tracking.store import client_for

    client = client_for(ref.tracking_uri)
    client.log_artifact(ref.run_id, str(results), Artifact.SWEEP)
    found = yaml.safe_load(results.read_text(encoding="utf-8")) or {}
    metrics = []
    if isinstance(found.get("best_value"), int | float):
        stamp = int(time.time() * 1000)
        metrics.append(MlflowMetric(Metric.SWEEP_BEST_VALUE, float(found["best_value"]), stamp, 0))
    client.log_batch(
        ref.run_id,
        metrics=metrics,
        tags=[RunTag(Tag.BEST_PARAMS, json.dumps(found.get("best_params") or {}))],
    )


def close_parent(ref: ParentRef, sweep_dir: Path) -> None:
    """End the parent run with its children's counts (KILLED if a child was interrupted or is
    still running), stamped with the last job's end, so closing it again changes nothing."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import RunTag

    from skillopt.tracking.store import client_for

    client = client_for(ref.tracking_uri)
    children = client.search_runs(
        [ref.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{ref.run_id}'",
        max_results=10000,
    )
    statuses = [c.info.status for c in children]
    failed = sum(s == "FAILED" for s in statuses)
    killed = sum(s in ("KILLED", "RUNNING") for s in statuses)
    ends = [end.end_ms for d in job_dirs(sweep_dir) if (end := read_end(d)) is not None]
    stamp = max(ends, default=now_ms())
    client.log_batch(
        ref.run_id,
        metrics=[
            MlflowMetric(Metric.SWEEP_JOBS, len(statuses), stamp, 0),
            MlflowMetric(Metric.SWEEP_JOBS_FAILED, failed, stamp, 0),
            MlflowMetric(Metric.SWEEP_JOBS_KILLED, killed, stamp, 0),
        ],
        tags=[RunTag(Tag.FAILED_JOBS, str(failed)), RunTag(Tag.JOBS, str(len(statuses)))],
    )
    client.set_terminated(ref.run_id, "KILLED" if killed else "FINISHED", end_time=stamp)
    log.info(
        "tracking: sweep finished: %d jobs, %d failed, %d interrupted",
        len(statuses),
        failed,
        killed,
    )
