"""One MLflow run per job: opened before the task, filled and closed after it.

Everything goes through `MlflowClient` with explicit run ids, never the fluent active-run
stack, so sequential jobs in one process cannot leak an active run into each other and worker
threads can log without one.
"""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

import skillopt
from skillopt.base.atomic import write_json, write_text
from skillopt.tracking.jobs import JobKind, job_kind
from skillopt.tracking.names import Artifact, RunFolder, Tag
from skillopt.tracking.params import job_params, redact, redacted_yaml, run_name, select
from skillopt.tracking.provenance import command_line, git_state
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.store import client_for, ensure_experiment

log = logging.getLogger("skillopt.tracking")

RUN_FILE = RunFolder.RUN
LONG_PARAMS_DIR = RunFolder.LONG_PARAMS
TAG_MAX_CHARS = 5000

_active: RunTracker | None = None


def active_tracker() -> RunTracker | None:
    """The tracker of the job running in this process, if tracking is on."""
    return _active


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
        resumed: bool = False,
    ):
        self.kind = kind
        self.config = config
        self.result: Any = None  # the job's typed result, handed over by its observer
        self.client = client
        self.settings = settings
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.out_dir = out_dir
        self.resumed = resumed
        self._listeners: list[Any] = []
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
        from mlflow.entities import Param, RunTag

        global _active
        client = client_for(settings.uri)
        experiment_id = ensure_experiment(client, settings.experiment)
        overrides = [str(o) for o in redact(list(overrides))]
        kind = job_kind(config)
        params, too_long = job_params(config, overrides, curated=kind.curated_params)
        run_id, logged = _resumable(
            client, out_dir=out_dir, settings=settings, experiment_id=experiment_id, params=params
        )
        resumed = run_id is not None
        if resumed:
            client.update_run(run_id, status="RUNNING")
            if Tag.ERROR in client.get_run(run_id).data.tags:
                client.delete_tag(run_id, Tag.ERROR)  # the earlier attempt's error
            log.info("tracking: resuming MLflow run %s (found in %s)", run_id, out_dir / RUN_FILE)
        else:
            tags = {Tag.PARENT: parent_run_id} if parent_run_id else {}
            run = client.create_run(
                experiment_id, run_name=settings.run_name or run_name(overrides), tags=tags
            )
            run_id = run.info.run_id
            write_json(
                out_dir / RUN_FILE,
                {"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": settings.uri},
            )
        from mlflow.version import VERSION as mlflow_version

        commit, dirty = git_state()
        tags = {
            Tag.JOB: kind.name,
            Tag.OVERRIDES: json.dumps(overrides),
            Tag.GIT_COMMIT: commit,
            Tag.GIT_DIRTY: dirty,
            Tag.VERSION: skillopt.__version__,
            Tag.MLFLOW_VERSION: mlflow_version,
            Tag.OUTPUT_DIR: str(out_dir.resolve()),
            Tag.COMMAND: command_line(),
            **kind.seed_tags(config),
        }
        if sweep_id is not None:
            tags[Tag.SWEEP_ID] = sweep_id
        if job_num is not None:
            tags[Tag.JOB_NUM] = str(job_num)
        if select(config, "model.backend") == "replay":
            tags[Tag.REPLAY_OF] = str(select(config, "model.run_id"))
        new_params = [Param(k, v) for k, v in params.items() if k not in logged]
        client.log_batch(
            run_id, params=new_params, tags=[RunTag(k, v[:TAG_MAX_CHARS]) for k, v in tags.items()]
        )
        for key, text in too_long.items():
            write_text(out_dir / LONG_PARAMS_DIR / f"{key}.txt", text)
        tracker = cls(
            client=client,
            settings=settings,
            run_id=run_id,
            experiment_id=experiment_id,
            out_dir=out_dir,
            kind=kind,
            config=config,
            resumed=resumed,
        )
        _active = tracker
        atexit.register(tracker.abandon)
        log.info(
            "tracking: MLflow run %s in experiment '%s' at %s",
            run_id,
            settings.experiment,
            settings.uri,
        )
        return tracker

    def call_listeners(self) -> list[Any]:
        """Listeners for the LLM client: one trace per call when `trace_llm_calls` is on."""
        if self.settings.trace_llm_calls and not self._listeners:
            from skillopt.tracking.traces import MlflowTraceListener

            self._listeners.append(
                MlflowTraceListener(run_id=self.run_id, experiment_id=self.experiment_id)
            )
        return list(self._listeners)

    def finish(self, *, error: BaseException | None) -> None:
        """Log metrics, tables, inputs and artifacts, then end the run FINISHED (or FAILED with
        the error). The metrics come from the job's result, if its observer received one."""
        from mlflow.entities import Metric, RunTag

        global _active
        if self._done:
            return
        client, run_id = self.client, self.run_id
        # Artifacts upload on a few threads (one request per file on a server) while this thread
        # waits for the last traces and logs metrics, the table and the dataset.
        with (
            tempfile.TemporaryDirectory(prefix="skillopt-artifacts-") as staging,
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="skillopt-artifacts") as pool,
        ):
            summary = self.result
            pairs = self._staged(Path(staging))
            uploads = [
                pool.submit(client.log_artifacts, run_id, str(local), path) for local, path in pairs
            ]
            for listener in self._listeners:
                listener.close()
            if summary is not None:
                step = self.kind.final_step(summary)
                metrics = [
                    Metric(k, float(v), _now_ms(), step)
                    for k, v in self.kind.metrics(summary).items()
                ]
                client.log_batch(
                    run_id,
                    metrics=metrics,
                    tags=[RunTag(Tag.NOTE, self.kind.note(summary, self.config))],
                )
                for artifact_file, table in self.kind.tables(summary).items():
                    self._log_table(artifact_file, table)
                self._log_dataset()
            if error is not None:
                client.set_tag(
                    run_id, Tag.ERROR, f"{type(error).__name__}: {error}"[:TAG_MAX_CHARS]
                )
            for upload in uploads:
                upload.result()
        client.set_terminated(run_id, "FINISHED" if error is None else "FAILED")
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
        self.client.set_tag(self.run_id, Tag.ERROR, "interrupted before the job finished")
        self.client.set_terminated(self.run_id, "KILLED")
        if _active is self:
            _active = None

    def _log_table(self, artifact_file: str, table: dict[str, list[Any]]) -> None:
        existing = set()
        if self.resumed:  # only a continued run can already hold the table
            folder = artifact_file.rsplit("/", 1)[0] if "/" in artifact_file else None
            existing = {a.path for a in self.client.list_artifacts(self.run_id, folder)}
        if artifact_file in existing:
            # log_table appends to an existing table; a resumed run replaces it instead.
            self.client.log_dict(
                self.run_id,
                {
                    "columns": list(table),
                    "data": [list(r) for r in zip(*table.values(), strict=True)],
                },
                artifact_file,
            )
        else:
            self.client.log_table(self.run_id, data=table, artifact_file=artifact_file)

    def _log_dataset(self) -> None:
        from mlflow.data.dataset_source_registry import get_registered_sources
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        found = self.kind.dataset(self.config)
        if found is None:
            return
        path, name, digest, context = found
        source_cls = next(
            s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource"
        )
        dataset = MetaDataset(source=source_cls(str(path)), name=name, digest=digest)
        tag = InputTag(key="mlflow.data.context", value=context)
        self.client.log_inputs(
            self.run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=[tag])]
        )

    def _staged(self, staging: Path) -> list[tuple[Path, str | None]]:
        """(local folder, artifact path) pairs to upload: the output folders as they are, plus
        the skill, redacted Hydra configs, long params and logs copied into a staging folder."""
        out = self.out_dir
        pairs = [
            (out / folder, folder) for folder in self.kind.output_folders if (out / folder).is_dir()
        ]
        root = staging / "root"
        root.mkdir()
        for name in self.kind.root_files:
            if (out / name).is_file():
                shutil.copyfile(out / name, root / name)
        skill_path = self.kind.skill_path(self.config)
        if skill_path is not None and skill_path.is_file():
            (staging / Artifact.SKILL).mkdir()
            shutil.copyfile(skill_path, staging / Artifact.SKILL / "skill.md")
            pairs.append((staging / Artifact.SKILL, Artifact.SKILL))
        if (out / ".hydra").is_dir():
            (staging / Artifact.HYDRA).mkdir()
            for path in sorted((out / ".hydra").glob("*.yaml")):
                saved = yaml.safe_load(path.read_text(encoding="utf-8"))
                (staging / Artifact.HYDRA / path.name).write_text(redacted_yaml(saved))
            pairs.append((staging / Artifact.HYDRA, Artifact.HYDRA))
        if (out / LONG_PARAMS_DIR).is_dir():
            pairs.append((out / LONG_PARAMS_DIR, Artifact.PARAMS))
        logs = sorted(out.glob("*.log"))
        if logs:
            (staging / Artifact.LOGS).mkdir()
            for path in logs:
                shutil.copyfile(path, staging / Artifact.LOGS / path.name)
            pairs.append((staging / Artifact.LOGS, Artifact.LOGS))
        if any(root.iterdir()):
            pairs.append((root, None))
        return pairs


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


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
