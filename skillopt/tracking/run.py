"""One MLflow run per job: opened before the task, filled as it goes, closed after it.

Opening the run is the only store work the job waits for; everything else (params and tags,
the dataset input, step metrics, artifacts as they appear, traces) is handed to a background
worker and to the trace exporter, whose store calls overlap with the job's own waiting. At the
end only the last files, the final metrics and the run's status are left to write.

Everything goes through `MlflowClient` with explicit run ids, never the fluent active-run
stack, so sequential jobs in one process cannot leak an active run into each other and
threads can log without one.
"""

from __future__ import annotations

import atexit
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json
from skillopt.tracking.artifacts import ArtifactMirror
from skillopt.tracking.content import (
    artifact_sources,
    dataset_input,
    identity,
    write_tables,
)
from skillopt.tracking.jobs import JobKind, job_kind
from skillopt.tracking.names import RunFolder, Tag
from skillopt.tracking.provenance import command_line
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.store import client_for, ensure_experiment
from skillopt.tracking.worker import TrackingWorker

log = logging.getLogger("skillopt.tracking")

RUN_FILE = RunFolder.RUN
TAG_MAX_CHARS = 5000
MIRROR_INTERVAL_S = 0.5

_active: RunTracker | None = None


def active_tracker() -> RunTracker | None:
    """The tracker of the job running in this process, if tracking is on."""
    return _active


def now_ms() -> int:
    return int(time.time() * 1000)


class RunTracker:
    """The MLflow run of one job. Create with `start`, end with `finish`."""

    def __init__(
        self,
        *,
        client: Any,
        settings: TrackingSettings,
        run_id: str,
        experiment_id: str,
        out_dir: Path,
        kind: JobKind,
        config: Mapping[str, Any],
        tags: dict[str, str],
    ) -> None:
        self.client = client
        self.settings = settings
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.out_dir = out_dir
        self.kind = kind
        self.config = config
        self.tags = tags
        self.result: Any = None  # the job's typed result, handed over by its observer
        self.worker = TrackingWorker()
        self.mirror = ArtifactMirror(client, run_id, artifact_sources(kind, out_dir, config))
        self._exporter: Any = None
        self._mirror_queued = False
        self._mirrored_at = 0.0
        self._done = False

    @classmethod
    def start(
        cls,
        *,
        config: Mapping[str, Any],
        settings: TrackingSettings,
        out_dir: Path,
        overrides: list[str],
        parent_run_id: str | None = None,
        sweep_id: str | None = None,
        job_num: int | None = None,
    ) -> RunTracker:
        """Open (or continue) the job's run; its params, tags and dataset follow on the worker."""
        global _active
        client = client_for(settings.uri)
        experiment_id = ensure_experiment(client, settings.experiment)
        kind = job_kind(config)
        params, _, tags, name = identity(
            config=config,
            overrides=overrides,
            kind=kind,
            out_dir=out_dir,
            command=command_line(),
            sweep_id=sweep_id,
            job_num=job_num,
        )
        run_id, logged = _resumable(
            client, out_dir=out_dir, settings=settings, experiment_id=experiment_id, params=params
        )
        resumed = run_id is not None
        if resumed:
            client.update_run(run_id, status="RUNNING")
            log.info("tracking: resuming MLflow run %s (found in %s)", run_id, out_dir / RUN_FILE)
        else:
            parent = {Tag.PARENT: parent_run_id} if parent_run_id else {}
            run = client.create_run(
                experiment_id, run_name=settings.run_name or name, tags={**parent, **tags}
            )
            run_id = run.info.run_id
            write_json(
                out_dir / RUN_FILE,
                {"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": settings.uri},
            )
        tracker = cls(
            client=client,
            settings=settings,
            run_id=run_id,
            experiment_id=experiment_id,
            out_dir=out_dir,
            kind=kind,
            config=config,
            tags=tags,
        )
        tracker._open(params={k: v for k, v in params.items() if k not in logged}, resumed=resumed)
        _active = tracker
        atexit.register(tracker.abandon)
        log.info(
            "tracking: MLflow run %s in experiment '%s' at %s",
            run_id,
            settings.experiment,
            settings.uri,
        )
        return tracker

    def _open(self, *, params: dict[str, str], resumed: bool) -> None:
        """Queue what a run holds from its start: params and tags, the dataset input, and the
        files that exist already."""
        from mlflow.entities import Param, RunTag

        client, run_id = self.client, self.run_id
        if resumed and Tag.ERROR in client.get_run(run_id).data.tags:
            self.worker.submit("clear the earlier error", client.delete_tag, run_id, Tag.ERROR)
        tags = [RunTag(k, v) for k, v in self.tags.items()] if resumed else []  # else: at creation
        self.worker.submit(
            "params and tags",
            client.log_batch,
            run_id,
            [],
            [Param(k, v) for k, v in params.items()],
            tags,
        )
        self.worker.submit("dataset input", self._log_dataset)
        self.sync_artifacts()

    def _log_dataset(self) -> None:
        found = dataset_input(self.kind, self.config)
        if found is not None:
            self.client.log_inputs(self.run_id, datasets=[found])

    # ----------------------------------------------------------------- during the job
    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Queue one batch of metrics at `step`."""
        from mlflow.entities import Metric

        stamp = now_ms()
        batch = [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
        self.worker.submit(f"metrics at step {step}", self.client.log_batch, self.run_id, batch)

    def sync_artifacts(self) -> None:
        """Queue an upload of the files written since the last one: at most one is waiting,
        and they are `MIRROR_INTERVAL_S` apart (each walks the output folders)."""
        now = time.monotonic()
        if self._mirror_queued or now - self._mirrored_at < MIRROR_INTERVAL_S:
            return
        self._mirror_queued = True

        def sync() -> None:
            self._mirror_queued = False
            self._mirrored_at = time.monotonic()
            self.mirror.sync()

        self.worker.submit("artifacts", sync)

    def trace_sink(self) -> Any:
        """The span sink that uploads the job's traces into this run's experiment, linked to
        the run and tagged with its job and sweep (None when `trace_llm_calls` is off)."""
        if not self.settings.trace_llm_calls:
            return None
        if self._exporter is None:
            from skillopt.tracking.spans import JOB_TAGS, call_lookup
            from skillopt.tracking.traces import MlflowTraceExporter

            self._exporter = MlflowTraceExporter(
                tracking_uri=self.settings.uri,
                experiment_id=self.experiment_id,
                run_id=self.run_id,
                tags={k: v for k, v in self.tags.items() if k in JOB_TAGS},
                lookup=call_lookup(self.out_dir / "llm_calls"),
            )
        return self._exporter

    # -------------------------------------------------------------------- the end
    def finish(self, *, error: BaseException | None) -> None:
        """Log the final metrics, tables and the last files, then end the run FINISHED (or
        FAILED with the error). The metrics come from the job's result, if its observer
        received one."""
        global _active
        if self._done:
            return
        from mlflow.entities import Metric, RunTag

        client, run_id, result = self.client, self.run_id, self.result
        tags: dict[str, str] = {}
        metrics: list[Metric] = []
        if result is not None:
            step, stamp = self.kind.final_step(result), now_ms()
            metrics = [
                Metric(k, float(v), stamp, step) for k, v in self.kind.metrics(result).items()
            ]
            tags[Tag.NOTE] = self.kind.note(result, self.config)
            tags.update(write_tables(self.kind, result, self.out_dir))
        if error is not None:
            tags[Tag.ERROR] = f"{type(error).__name__}: {error}"[:TAG_MAX_CHARS]
        self.worker.submit(
            "final metrics",
            client.log_batch,
            run_id,
            metrics,
            [],
            [RunTag(k, v) for k, v in tags.items()],
        )
        self.worker.submit("artifacts", self.mirror.sync)
        if self._exporter is not None:
            self._exporter.close()
        self.worker.drain()
        client.set_terminated(run_id, "FINISHED" if error is None else "FAILED")
        self.worker.stop()
        self._done = True
        if _active is self:
            _active = None
        atexit.unregister(self.abandon)

    def abandon(self) -> None:
        """At interpreter exit, a run that was never finished was interrupted: end it KILLED."""
        global _active
        if self._done:
            return
        self._done = True
        self.worker.drain(timeout_s=10)
        self.client.set_tag(self.run_id, Tag.ERROR, "interrupted before the job finished")
        self.client.set_terminated(self.run_id, "KILLED")
        if _active is self:
            _active = None


def _resumable(
    client: Any,
    *,
    out_dir: Path,
    settings: TrackingSettings,
    experiment_id: str,
    params: dict[str, str],
) -> tuple[str | None, dict[str, str]]:
    """(run id, its params) of the run recorded in `out_dir`, if it can be continued."""
    from mlflow.exceptions import MlflowException

    path = out_dir / RUN_FILE
    if not path.is_file():
        return None, {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        run = client.get_run(recorded["run_id"])
    except (json.JSONDecodeError, KeyError, MlflowException) as exc:
        log.warning(
            "tracking: cannot continue the run recorded in %s (%s); starting a new run", path, exc
        )
        return None, {}
    if recorded.get("tracking_uri") != settings.uri or run.info.experiment_id != experiment_id:
        log.info(
            "tracking: %s names a run in another store or experiment; starting a new run", path
        )
        return None, {}
    logged = dict(run.data.params)
    changed = sorted(k for k, v in params.items() if k in logged and logged[k] != v)
    if changed:
        log.warning(
            "tracking: the config changed since run %s (%s); starting a new run",
            run.info.run_id,
            ", ".join(changed),
        )
        return None, {}
    return run.info.run_id, logged
