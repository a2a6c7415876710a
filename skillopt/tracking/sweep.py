"""A sweep's parent run: opened once before the jobs start, closed with the jobs' counts.

Its id is written into the sweep directory (`RunFolder.PARENT`), where every job, in the
launching process or in a joblib/submitit worker, finds it and opens its own run as a child.
A search sweeper's result (Optuna's `optimization_results.yaml`) is kept on the parent too.
"""

from __future__ import annotations

import atexit
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from skillopt.base.atomic import write_json
from skillopt.tracking.names import Artifact, Metric, RunFolder, Tag
from skillopt.tracking.params import redact
from skillopt.tracking.provenance import command_line, git_state
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.store import client_for, ensure_experiment

log = logging.getLogger("skillopt.tracking")


@dataclass(frozen=True, kw_only=True)
class ParentRef:
    """Where a sweep's parent run is: what a job needs to open its run as a child."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    sweep_id: str

    @classmethod
    def read(cls, sweep_dir: Path) -> ParentRef:
        data = json.loads((sweep_dir / RunFolder.PARENT).read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in ("run_id", "experiment_id", "tracking_uri", "sweep_id")})


class SweepRun:
    """The parent run of one sweep. Open with `open`, end with `close` (also at exit)."""

    def __init__(self, ref: ParentRef) -> None:
        self.ref = ref
        self._closed = False
        atexit.register(self.close)

    @classmethod
    def open(
        cls,
        settings: TrackingSettings,
        *,
        sweep_dir: Path,
        overrides: list[str],
        config_yaml: str,
    ) -> SweepRun:
        """Create the parent run of the sweep in `sweep_dir` (its id is the directory as given)
        and record it there for the jobs; `config_yaml` is the sweep's config (redacted)."""
        client = client_for(settings.uri)
        experiment_id = ensure_experiment(client, settings.experiment)
        sweep_id = str(sweep_dir)
        commit, dirty = git_state()
        run = client.create_run(
            experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                Tag.SWEEP_ID: sweep_id,
                Tag.SWEEP_DIR: str(sweep_dir.resolve()),
                Tag.OVERRIDES: json.dumps([str(o) for o in redact(overrides)]),
                Tag.COMMAND: command_line(),
                Tag.GIT_COMMIT: commit,
                Tag.GIT_DIRTY: dirty,
            },
        )
        ref = ParentRef(
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            tracking_uri=settings.uri,
            sweep_id=sweep_id,
        )
        client.log_text(ref.run_id, config_yaml, Artifact.MULTIRUN_CONFIG)
        write_json(sweep_dir / RunFolder.PARENT, vars(ref))
        log.info("tracking: sweep %s -> parent MLflow run %s", sweep_id, ref.run_id)
        return cls(ref)

    def log_search_result(self, results: Path) -> None:
        """Keep a search sweeper's best params and value on the parent: an artifact, the metric
        `sweep.best_value` and the tag `skillopt.best_params`."""
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import RunTag

        client = client_for(self.ref.tracking_uri)
        client.log_artifact(self.ref.run_id, str(results), Artifact.SWEEP)
        found = yaml.safe_load(results.read_text(encoding="utf-8")) or {}
        metrics = []
        if isinstance(found.get("best_value"), int | float):
            now = int(time.time() * 1000)
            metrics.append(
                MlflowMetric(Metric.SWEEP_BEST_VALUE, float(found["best_value"]), now, 0)
            )
        client.log_batch(
            self.ref.run_id,
            metrics=metrics,
            tags=[RunTag(Tag.BEST_PARAMS, json.dumps(found.get("best_params") or {}))],
        )

    def close(self) -> None:
        """End the parent run with job counts; KILLED if a child was interrupted."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import RunTag

        ref = self.ref
        client = client_for(ref.tracking_uri)
        children = client.search_runs(
            [ref.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{ref.run_id}'",
            max_results=10000,
        )
        statuses = [c.info.status for c in children]
        failed = sum(s == "FAILED" for s in statuses)
        killed = sum(s in ("KILLED", "RUNNING") for s in statuses)
        now = int(time.time() * 1000)
        client.log_batch(
            ref.run_id,
            metrics=[
                MlflowMetric(Metric.SWEEP_JOBS, len(statuses), now, 0),
                MlflowMetric(Metric.SWEEP_JOBS_FAILED, failed, now, 0),
                MlflowMetric(Metric.SWEEP_JOBS_KILLED, killed, now, 0),
            ],
            tags=[RunTag(Tag.FAILED_JOBS, str(failed)), RunTag(Tag.JOBS, str(len(statuses)))],
        )
        client.set_terminated(ref.run_id, "KILLED" if killed else "FINISHED")
        log.info(
            "tracking: sweep finished: %d jobs, %d failed, %d interrupted",
            len(statuses),
            failed,
            killed,
        )
