"""The Hydra callback that owns MLflow run lifecycles.

Single run: the store and experiment are prepared in `on_run_start`, the job's run is opened in
`on_job_start` and closed in `on_job_end`. Multirun: one parent run per sweep is opened in
`on_multirun_start` (in the launching process) and its id is written into the sweep directory,
where every job, in this process or a joblib/submitit worker, finds it and opens its run as a
child. A failed job ends its run FAILED and the sweep goes on; the parent is closed with a
failed-jobs count even when Hydra aborts the sweep afterwards.
"""

from __future__ import annotations

import atexit
import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from skillopt.base.atomic import write_json
from skillopt.tracking.params import redact_saved_configs
from skillopt.tracking.settings import tracking_settings

log = logging.getLogger("skillopt.tracking")

PARENT_FILE = Path(".skillopt") / "parent_run.json"
OPTIMIZER_RESULTS = "optimization_results.yaml"  # written by hydra-optuna-sweeper


class MlflowCallback(Callback):
    """Registered in the primary config under `hydra.callbacks`; does nothing when tracking is off."""

    def __init__(self) -> None:
        self._tracker: Any = None
        self._parent: dict[str, str] | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = tracking_settings(config)
        if settings.enabled:
            from skillopt.tracking.store import client_for, ensure_experiment

            ensure_experiment(client_for(settings.uri), settings.experiment)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = tracking_settings(config)
        if not settings.enabled:
            return
        from skillopt.tracking.params import redact, redacted_yaml
        from skillopt.tracking.provenance import command_line, git_state
        from skillopt.tracking.store import client_for, ensure_experiment

        client = client_for(settings.uri)
        experiment_id = ensure_experiment(client, settings.experiment)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_id = str(
            config.hydra.sweep.dir
        )  # e.g. multirun/reflect/2026-11-26/10-28-11: unique per store
        commit, dirty = git_state()
        overrides = [str(o) for o in redact(list(config.hydra.overrides.task))]
        run = client.create_run(
            experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                "skillopt.sweep_id": sweep_id,
                "skillopt.sweep_dir": str(sweep_dir.resolve()),
                "skillopt.overrides": json.dumps(overrides),
                "skillopt.command": command_line(),
                "skillopt.git_commit": commit,
                "skillopt.git_dirty": dirty,
            },
        )
        run_id = run.info.run_id
        client.log_text(run_id, redacted_yaml(config), "hydra/multirun.yaml")
        self._parent = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "tracking_uri": settings.uri,
        }
        write_json(sweep_dir / PARENT_FILE, {**self._parent, "sweep_id": sweep_id})
        atexit.register(self._close_parent)
        log.info("tracking: sweep %s -> parent MLflow run %s", sweep_id, run_id)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra_cfg = config.hydra
        out_dir = Path(hydra_cfg.runtime.output_dir)
        redact_saved_configs(out_dir / ".hydra")
        settings = tracking_settings(config)
        if not settings.enabled:
            return
        from skillopt.tracking.run import RunTracker

        parent_run_id = sweep_id = job_num = None
        if hydra_cfg.mode == RunMode.MULTIRUN:
            sweep_dir = Path(hydra_cfg.sweep.dir)
            parent = json.loads((sweep_dir / PARENT_FILE).read_text(encoding="utf-8"))
            parent_run_id, sweep_id, job_num = (
                parent["run_id"],
                parent["sweep_id"],
                int(hydra_cfg.job.num),
            )
        self._tracker = RunTracker.start(
            cfg=config,
            settings=settings,
            out_dir=out_dir,
            overrides=list(hydra_cfg.overrides.task),
            parent_run_id=parent_run_id,
            sweep_id=sweep_id,
            job_num=job_num,
        )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        if job_return.status == JobStatus.COMPLETED:
            # A training job returns its objective (a float for sweepers) and hands its summary
            # to the tracker; a reflect job returns its summary.
            value = job_return.return_value
            summary = tracker.summary if tracker.summary is not None else value
            tracker.finish(summary=summary if isinstance(summary, dict) else None, error=None)
        else:
            # `return_value` re-raises a failed job's exception; the exception itself is stored here.
            tracker.finish(summary=None, error=job_return._return_value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        redact_saved_configs(sweep_dir)
        results = sweep_dir / OPTIMIZER_RESULTS
        if self._parent is not None and results.is_file():
            self._log_search_result(results)
        self._close_parent()

    def _log_search_result(self, results: Path) -> None:
        """A search sweeper (Optuna) leaves its best params and value in the sweep dir: the
        parent run keeps them as an artifact, a metric and a tag."""
        import time

        from mlflow.entities import Metric, RunTag
        from omegaconf import OmegaConf

        from skillopt.tracking.store import client_for

        assert self._parent is not None
        client = client_for(self._parent["tracking_uri"])
        run_id = self._parent["run_id"]
        client.log_artifact(run_id, str(results), "sweep")
        found = OmegaConf.to_container(OmegaConf.load(results), resolve=True)
        assert isinstance(found, dict)
        metrics = []
        if isinstance(found.get("best_value"), (int, float)):
            metrics.append(
                Metric("sweep.best_value", float(found["best_value"]), int(time.time() * 1000), 0)
            )
        client.log_batch(
            run_id,
            metrics=metrics,
            tags=[RunTag("skillopt.best_params", json.dumps(found.get("best_params") or {}))],
        )

    def _close_parent(self) -> None:
        """End the parent run with job counts; KILLED if a child was interrupted."""
        parent, self._parent = self._parent, None
        if parent is None:
            return
        atexit.unregister(self._close_parent)
        import time

        from mlflow.entities import Metric, RunTag

        from skillopt.tracking.store import client_for

        client = client_for(parent["tracking_uri"])
        children = client.search_runs(
            [parent["experiment_id"]],
            filter_string=f"tags.mlflow.parentRunId = '{parent['run_id']}'",
            max_results=10000,
        )
        statuses = [c.info.status for c in children]
        failed = sum(s == "FAILED" for s in statuses)
        killed = sum(s in ("KILLED", "RUNNING") for s in statuses)
        now = int(time.time() * 1000)
        client.log_batch(
            parent["run_id"],
            metrics=[
                Metric("sweep.jobs", len(statuses), now, 0),
                Metric("sweep.jobs_failed", failed, now, 0),
                Metric("sweep.jobs_killed", killed, now, 0),
            ],
            tags=[
                RunTag("skillopt.failed_jobs", str(failed)),
                RunTag("skillopt.jobs", str(len(statuses))),
            ],
        )
        client.set_terminated(parent["run_id"], "KILLED" if killed else "FINISHED")
        log.info(
            "tracking: sweep finished: %d jobs, %d failed, %d interrupted",
            len(statuses),
            failed,
            killed,
        )
