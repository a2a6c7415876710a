"""Uploading a job's run journal into MLflow: the tracking agent does it while the job runs,
`skillopt-sync` afterwards, both through `RunUploader`.

Each `catch_up` sends what the journal holds beyond the upload's progress (kept in the output
directory, `RunFolder.RUN`): the run (created, or continued), its params, tags and dataset, new
metric batches, new spans (each trace linked to the run), skills for the Prompt Registry, new or
changed files; with `final`, the job's end. Every step is idempotent (metrics keep their journal
timestamps, spans their ids, files their paths), so a step cut short by a lost server is simply
sent again on the next pass, and syncing a complete run changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from skillopt.base.errors import SkillOptError
from skillopt.llm.tracing import SpanRecord, TraceRecord
from skillopt.tracking.artifacts import ArtifactMirror
from skillopt.tracking.content import artifact_sources
from skillopt.tracking.jobs import data_digest, job_kind_named
from skillopt.tracking.journal import (
    Progress,
    RunEnd,
    now_ms,
    read_end,
    read_identity,
    read_lines,
)
from skillopt.tracking.names import RunFolder, Tag
from skillopt.tracking.registry import SkillRegistrar
from skillopt.tracking.spans import JOB_TAGS, call_lookup, to_mlflow_span, trace_tags
from skillopt.tracking.store import client_for, ensure_experiment
from skillopt.tracking.sweep import ParentRef

log = logging.getLogger("skillopt.tracking")

T = TypeVar("T")

ARTIFACT_INTERVAL_S = 1.0  # between passes over the output folders while the job runs
RETRY_AFTER_S = 5.0  # after a failed pass, the next one waits this long (a final one does not)
MAX_METRICS = 1000  # per log_batch (MLflow's limit)
MAX_PARAMS = 100  # params or tags per log_batch (MLflow's limit)
MAX_SPANS = 200  # per log_spans
MAX_LINKS = 100  # traces per link_traces_to_run (MLflow's limit)
UPLOADS_AT_ONCE = 8  # concurrent file uploads to a tracking server
INTERRUPTED = "interrupted before the job finished"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RunUploader:
    """Uploads one output directory's run journal to the store at `uri` (default: the URI the
    job was configured with)."""

    def __init__(self, out_dir: Path, uri: str | None = None) -> None:
        identity = read_identity(out_dir)
        if identity is None:
            raise SkillOptError(
                f"{out_dir}: no run journal ({RunFolder.IDENTITY}); not a skillopt job's "
                "output directory, or written by a version without one"
            )
        self.out_dir = out_dir
        self.identity = identity
        self.uri = uri or identity.uri
        if not self.uri:
            raise SkillOptError(f"{out_dir}: the job was not tracked; give a tracking URI")
        self.progress = Progress.load(out_dir, self.uri)
        # Connected at the first pass (`_connect`), where a store that cannot be reached is
        # one more failed pass: logged, kept in the progress, tried again.
        self.client: Any = None
        self.traces: Any = None
        self.registrar: Any = None
        kind = job_kind_named(identity.kind)
        skill = Path(identity.skill_path) if identity.skill_path else None
        remote = self.uri.startswith(("http://", "https://"))
        self.mirror = ArtifactMirror(
            artifact_sources(kind, out_dir, skill),
            self.progress.artifacts,
            parallel=UPLOADS_AT_ONCE if remote else 1,
        )
        self._opened = False
        self._created = False  # this uploader created the run (nothing to continue)
        self._stale_error = False  # the run carries an earlier attempt's error tag
        self._artifacts_at = 0.0
        self._failed_at = -RETRY_AFTER_S
        self.uploaded = {"metrics": 0, "spans": 0, "traces": 0, "files": 0, "skills": 0}

    @property
    def run_id(self) -> str | None:
        return self.progress.run_id

    def pending(self) -> bool:
        """Whether the journal or the output folders hold anything not uploaded yet."""
        p, out = self.progress, self.out_dir
        return (
            not p.complete
            or _size(out / RunFolder.METRICS) > p.metrics_offset
            or (self.identity.trace and _size(out / RunFolder.SPANS) > p.spans_offset)
            or _size(out / RunFolder.SKILL_VERSIONS) > p.skills_offset
            or bool(self.mirror.pending())
        )

    def catch_up(self, *, final: bool = False, interrupted: bool = False) -> bool:
        """Upload what is new; with `final`, end the run as the journal says (or, when
        `interrupted` and the job never ended, KILLED). True once the run is complete.

        A failure stops the pass: it is logged and kept in the progress (`error`), and the next
        pass starts again from what was not acknowledged. The job is never told to stop."""
        progress = self.progress
        if not final and time.monotonic() - self._failed_at < RETRY_AFTER_S:
            return progress.complete
        try:
            self._connect()
            self._ensure_run()
            if not self._opened:
                self._open()
            self._metrics()
            self._spans()
            self._skills()
            if final or time.monotonic() - self._artifacts_at >= ARTIFACT_INTERVAL_S:
                self._artifacts()
            if final:
                self._end(interrupted=interrupted)
            progress.error = None
        except Exception as exc:  # noqa: BLE001 - kept in the progress file and logged; the job goes on
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
            if error != progress.error:
                log.warning("tracking: upload to %s failed: %s", self.uri, error)
            progress.error = error
            self._failed_at = time.monotonic()
        finally:
            progress.save(self.out_dir)
        return progress.complete

    # ---------------------------------------------------------------- the run itself
    def _connect(self) -> None:
        if self.client is not None:
            return
        from mlflow.tracing.client import TracingClient

        client, traces = client_for(self.uri), TracingClient(self.uri)
        self.client, self.traces, self.registrar = client, traces, SkillRegistrar(client)

    def _ensure_run(self) -> None:
        progress, identity = self.progress, self.identity
        if progress.run_id is not None:
            return
        experiment_id = ensure_experiment(self.client, identity.experiment)
        tags = dict(identity.tags)
        parent = self._parent_run_id()
        if parent is not None:
            tags[Tag.PARENT] = parent
        run = self.client.create_run(
            experiment_id, start_time=identity.start_ms, tags=tags, run_name=identity.run_name
        )
        progress.run_id, progress.experiment_id = run.info.run_id, experiment_id
        progress.save(self.out_dir)
        self._created = True
        log.info(
            "tracking: MLflow run %s in experiment '%s' at %s",
            run.info.run_id,
            identity.experiment,
            self.uri,
        )

    def _parent_run_id(self) -> str | None:
        if self.identity.sweep_dir is None:
            return None
        parent = ParentRef.read(Path(self.identity.sweep_dir))
        return parent.run_id if parent is not None and parent.tracking_uri == self.uri else None

    def _open(self) -> None:
        """Params, tags and the dataset input; a job running again clears its run's end."""
        from mlflow.entities import Param, RunTag

        client, run_id, identity = self.client, self.progress.run_id, self.identity
        assert run_id is not None
        if not self._created:  # a run from an earlier attempt: its end may be stale
            run = client.get_run(run_id)
            self._stale_error = Tag.ERROR in run.data.tags
            if read_end(self.out_dir) is None:  # the job is running again
                if run.info.status != "RUNNING":
                    log.info("tracking: continuing MLflow run %s (%s)", run_id, run.info.status)
                    client.update_run(run_id, status="RUNNING")
                if self._stale_error:
                    client.delete_tag(run_id, Tag.ERROR)
                    self._stale_error = False
        params = [Param(k, v) for k, v in identity.params.items()]
        tags = []
        if not self._created:  # a new run got its tags when it was created
            tags = [RunTag(k, v) for k, v in identity.tags.items()]
            parent = self._parent_run_id()
            if parent is not None:
                tags.append(RunTag(Tag.PARENT, parent))
        for start in range(0, max(len(params), len(tags)), MAX_PARAMS):
            part = slice(start, start + MAX_PARAMS)
            client.log_batch(run_id, params=params[part], tags=tags[part])
        dataset = self._dataset()
        if dataset is not None:
            _log_dataset(client, run_id, dataset)
        self._opened = True

    def _dataset(self) -> Any:
        """The job's data as an MLflow dataset input (name, digest of its files, the job as its
        context), or None when it read no data file."""
        from mlflow.data.dataset_source_registry import get_registered_sources
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        found = self.identity.dataset
        if found is None or not Path(found["path"]).exists():
            return None
        source_cls = next(
            s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource"
        )
        dataset = MetaDataset(
            source=source_cls(found["path"]),
            name=found["name"],
            digest=data_digest(Path(found["path"])),
        )
        tag = InputTag(key="mlflow.data.context", value=found["context"])
        return DatasetInput(dataset._to_mlflow_entity(), tags=[tag])

    # ------------------------------------------------------------- what the job wrote
    def _metrics(self) -> None:
        from mlflow.entities import Metric

        lines = read_lines(self.out_dir / RunFolder.METRICS, self.progress.metrics_offset)
        batch = [
            Metric(key, float(value), int(record["timestamp"]), int(record["step"]))
            for record, _ in lines
            if record is not None
            for key, value in record["metrics"].items()
        ]
        for part in chunks(batch, MAX_METRICS):
            self.client.log_batch(self.progress.run_id, metrics=list(part))
        if lines:
            self.progress.metrics_offset = lines[-1][1]
        self.uploaded["metrics"] += len(batch)

    def _spans(self) -> None:
        """New spans, in batches; a root span waits for its trace's record (its tags)."""
        if not self.identity.trace:
            return
        progress = self.progress
        lines = read_lines(self.out_dir / RunFolder.SPANS, progress.spans_offset)
        records = [_span_record(raw) for raw, _ in lines]
        finished = {r.trace_id: r for r in records if isinstance(r, TraceRecord)}
        job_tags = {k: v for k, v in self.identity.tags.items() if k in JOB_TAGS}
        lookup = call_lookup(self.out_dir / "llm_calls")
        spans, new_traces, offset = [], [], progress.spans_offset
        for record, (_, end) in zip(records, lines, strict=True):
            if isinstance(record, SpanRecord):
                tags = None
                if record.parent_id is None:
                    trace = finished.get(record.trace_id)
                    if trace is None:
                        break  # its trace record is still being written
                    tags = trace_tags(trace, job_tags)
                spans.append(to_mlflow_span(record, lookup, trace_tags=tags))
                if record.trace_id not in progress.linked and record.trace_id not in new_traces:
                    new_traces.append(record.trace_id)
            offset = end
        for part in chunks(spans, MAX_SPANS):
            self.traces.log_spans(progress.experiment_id, list(part))
        ids = [f"tr-{t}" for t in new_traces]
        for part in chunks(ids, MAX_LINKS):
            self.client.link_traces_to_run(list(part), progress.run_id)
        progress.linked.extend(new_traces)
        progress.spans_offset = offset
        self.uploaded["spans"] += len(spans)
        self.uploaded["traces"] += len(new_traces)

    def _skills(self) -> None:
        path = self.out_dir / RunFolder.SKILL_VERSIONS
        for record, end in read_lines(path, self.progress.skills_offset):
            if record is not None:
                self.registrar.register(record, run_id=self.progress.run_id)
                self.uploaded["skills"] += 1
            self.progress.skills_offset = end

    def _artifacts(self) -> None:
        self.uploaded["files"] += self.mirror.sync(self.client, self.progress.run_id)
        self.progress.artifacts = self.mirror.uploaded
        self._artifacts_at = time.monotonic()

    def _end(self, *, interrupted: bool) -> None:
        from mlflow.entities import RunTag

        end = read_end(self.out_dir)
        if end is None:
            if not interrupted:
                return  # the job is still running
            end = RunEnd(status="KILLED", end_ms=now_ms(), tags={Tag.ERROR: INTERRUPTED})
        if end.tags:
            tags = [RunTag(k, v) for k, v in end.tags.items()]
            self.client.log_batch(self.progress.run_id, tags=tags)
        if self._stale_error and Tag.ERROR not in end.tags:  # an earlier attempt's error
            self.client.delete_tag(self.progress.run_id, Tag.ERROR)
            self._stale_error = False
        self.client.set_terminated(self.progress.run_id, end.status, end_time=end.end_ms)
        self.progress.complete = True


def _log_dataset(client: Any, run_id: str, dataset: Any) -> None:
    """Log the dataset input, once more after a unique-constraint error: the store's
    get-or-create of a dataset is not atomic, so of two jobs of a sweep that log the same data
    at the same moment one gets that error; its second try finds the other's dataset."""
    from mlflow.exceptions import MlflowException

    try:
        client.log_inputs(run_id, datasets=[dataset])
    except MlflowException as exc:
        if "unique" not in str(exc).lower():
            raise
        log.info("tracking: logging the dataset input again after: %s", str(exc)[:200])
        client.log_inputs(run_id, datasets=[dataset])


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _span_record(raw: dict[str, Any] | None) -> SpanRecord | TraceRecord | None:
    if raw is None:
        return None
    if raw.get("type") == "span":
        return SpanRecord.from_json(raw)
    if raw.get("type") == "trace":
        return TraceRecord.from_json(raw)
    return None
