"""Read runs back from the tracking store into plain records; write back the little a report
records (replay verdict tags, the report's files, and on a sweep's parent run the statistics
across seeds as metrics, tables and a tag).

Everything goes through one `MlflowClient` bound to one tracking URI; nothing here creates a
store, an experiment or a run. MLflow is imported inside functions (it costs 2-3 s), and its
errors leave this module as one-line `StoreError`s. Training runs (tag `skillopt.job=train`)
also get the history of each step metric they logged: one `get_metric_history` call per metric
and run, none for reflect runs.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from skillopt.tracking.names import (
    REFLECT_EXPERIMENT,
    TRAIN_EXPERIMENT,
    Artifact,
    Metric,
    Tag,
)
from skillopt.tracking.records import PatchFile, RunRecord, Selection, StoreError

SQLITE_PREFIX = "sqlite:///"
BATCH_METRICS = 1000  # MLflow's limit of metrics per log_batch call
# The experiments a selection without a name looks in: one per job.
JOB_EXPERIMENTS = (REFLECT_EXPERIMENT, TRAIN_EXPERIMENT)
_PAGE = 1000


def resolve_tracking_uri(uri: str, *, cwd: Path | None = None) -> str:
    """`uri` with a relative SQLite path made absolute (against `cwd`, default the current
    directory), so the same store is found from any working directory.

    A SQLite file that does not exist is a StoreError: MLflow would silently create a new, empty
    store at a mistyped path."""
    if not uri.startswith(SQLITE_PREFIX):
        return uri
    path = Path(uri[len(SQLITE_PREFIX) :]).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise StoreError(
            f"no MLflow store at {path} (tracking URI {uri}); run where your mlflow.db is "
            "or pass --tracking-uri"
        )
    return f"{SQLITE_PREFIX}{path}"


@contextmanager
def _mlflow_errors() -> Iterator[None]:
    """MLflow's own errors (a server that refuses, a broken store) as one-line StoreErrors."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        first = exc.message.splitlines()[0] if exc.message else str(exc)
        raise StoreError(f"MLflow: {first}") from exc


class Store:
    """The tracking store at `uri` (resolved with `resolve_tracking_uri`): runs, artifacts and
    tags, by id. Use `open_store` to resolve and open in one step."""

    def __init__(self, uri: str) -> None:
        import mlflow

        self.uri = uri
        self._client = mlflow.MlflowClient(uri)

    def set_tags(self, run_id: str, *, tags: Mapping[str, str]) -> None:
        """Set `tags` on the run (in sorted order, so the store's history reads the same)."""
        with _mlflow_errors():
            for key, value in sorted(tags.items()):
                self._client.set_tag(run_id, key, value)

    def log_report(self, run_id: str, *, folder: Path, files: Sequence[str]) -> None:
        """Log `files` of the report folder and its `plots/` under `report/` of the run."""
        with _mlflow_errors():
            for name in files:
                self._client.log_artifact(run_id, str(folder / name), Artifact.REPORT)
            if (folder / "plots").is_dir():
                self._client.log_artifacts(
                    run_id, str(folder / "plots"), f"{Artifact.REPORT}/plots"
                )

    def log_summary(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float],
        tables: Mapping[str, Mapping[str, Sequence[Any]]],
        tags: Mapping[str, str],
    ) -> None:
        """Log `metrics` (at step 0, in batches, sorted by name), each table (artifact file ->
        columns) with `log_table`, and `tags` on the run. A table the run already holds is
        replaced, not appended to (what `log_table` would do), so a second report of the same
        sweep leaves the same tables."""
        from mlflow.entities import Metric as MlflowMetric

        now = int(time.time() * 1000)
        entries = [MlflowMetric(k, float(v), now, 0) for k, v in sorted(metrics.items())]
        with _mlflow_errors():
            for start in range(0, len(entries), BATCH_METRICS):
                self._client.log_batch(run_id, metrics=entries[start : start + BATCH_METRICS])
            for artifact_file, columns in sorted(tables.items()):
                folder = artifact_file.rsplit("/", 1)[0] if "/" in artifact_file else None
                existing = {a.path for a in self._client.list_artifacts(run_id, folder)}
                if artifact_file in existing:
                    rows = [list(row) for row in zip(*columns.values(), strict=True)]
                    document = {"columns": list(columns), "data": rows}
                    self._client.log_dict(run_id, document, artifact_file)
                else:
                    self._client.log_table(run_id, data=dict(columns), artifact_file=artifact_file)
            self.set_tags(run_id, tags=tags)

    # -- reading (the module's functions below are the front door) ----------------------------

    def _experiment_id(self, name: str) -> str:
        experiment = self._client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage == "deleted":
            known = sorted(e.name for e in self._client.search_experiments())
            raise StoreError(f"no experiment named {name!r} in {self.uri} (known: {_known(known)})")
        return str(experiment.experiment_id)

    def _experiment_ids(self, names: Sequence[str]) -> dict[str, str]:
        """Experiment id -> name, for those of `names` that exist and are active."""
        found = {}
        for name in names:
            experiment = self._client.get_experiment_by_name(name)
            if experiment is not None and experiment.lifecycle_stage != "deleted":
                found[str(experiment.experiment_id)] = name
        return found

    def _experiment_name(self, experiment_id: str) -> str:
        return str(self._client.get_experiment(experiment_id).name)

    def _search(self, experiment_ids: Sequence[str]) -> list[Any]:
        """Every active run of the experiments (all pages)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self._client.search_runs(
                list(experiment_ids),
                max_results=_PAGE,
                page_token=token,
                order_by=["attributes.run_id"],
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_run(run_id)
        except MlflowException as exc:
            raise StoreError(f"no run {run_id!r} in {self.uri} ({exc.error_code})") from None

    def _history(self, run_id: str, names: list[str]) -> dict[str, tuple[tuple[int, float], ...]]:
        """Every logged value of each metric in `names`, as (step, value) pairs sorted by step;
        where a step was logged more than once (a resumed run), the last value logged wins."""
        out: dict[str, tuple[tuple[int, float], ...]] = {}
        for name in names:
            points = sorted(
                self._client.get_metric_history(run_id, name),
                key=lambda m: (int(m.step), int(m.timestamp)),
            )
            by_step = {int(m.step): float(m.value) for m in points}
            out[name] = tuple(sorted(by_step.items()))
        return out

    def _record(self, run: Any, *, scratch: Path) -> RunRecord:
        """A RunRecord of `run`, with its patches and working directory read from its artifacts
        (downloaded into `scratch`) and, for a training run, its step-metric histories."""
        run_id = run.info.run_id
        dirs = tuple(sorted(a.path for a in self._client.list_artifacts(run_id) if a.is_dir))
        patches: tuple[PatchFile, ...] = ()
        if Artifact.PATCHES in dirs:
            local = self._client.download_artifacts(run_id, Artifact.PATCHES, str(scratch))
            patches = tuple(_patch(p) for p in sorted(Path(local).glob("*.json")))
        cwd = None
        if Artifact.HYDRA in dirs:
            names = {a.path for a in self._client.list_artifacts(run_id, Artifact.HYDRA)}
            if Artifact.HYDRA_SETTINGS in names:
                local = self._client.download_artifacts(
                    run_id, Artifact.HYDRA_SETTINGS, str(scratch)
                )
                cwd = _runtime_cwd(Path(local))
        record = RunRecord(
            run_id=run_id,
            run_name=run.info.run_name or "",
            experiment_id=str(run.info.experiment_id),
            status=run.info.status,
            start_time=int(run.info.start_time or 0),
            end_time=run.info.end_time,
            params=dict(run.data.params),
            metrics={k: float(v) for k, v in run.data.metrics.items()},
            tags=dict(run.data.tags),
            patches=patches,
            artifact_dirs=dirs,
            cwd=cwd,
        )
        if not record.is_training:
            return record
        logged = [m for m in Metric.STEP_HISTORY if m in record.metrics]
        return replace(record, history=self._history(run_id, logged))

    def _records(self, runs: list[Any]) -> tuple[RunRecord, ...]:
        """Records of `runs`, sorted by job number, start time and id."""
        with tempfile.TemporaryDirectory(prefix="skillopt-report-") as tmp:
            out = []
            for i, run in enumerate(runs):
                folder = Path(tmp) / str(i)
                folder.mkdir()
                out.append(self._record(run, scratch=folder))
        return tuple(sorted(out, key=RunRecord.sort_key))


def open_store(uri: str, *, cwd: Path | None = None) -> Store:
    """The store at `uri` (a relative SQLite path taken from `cwd`, default the current
    directory); a StoreError if a SQLite store does not exist or MLflow cannot open it."""
    resolved = resolve_tracking_uri(uri, cwd=cwd)
    with _mlflow_errors():
        return Store(resolved)


def collect_run(store: Store, *, run_id: str) -> RunRecord:
    """One run by its exact id, as a record (any experiment)."""
    with _mlflow_errors():
        return store._records([store._run(run_id)])[0]


def collect(
    store: Store,
    *,
    experiment: str | None,
    sweep_id: str | None = None,
    run_ids: Sequence[str] = (),
) -> Selection:
    """The runs asked for, sorted by job number, start time and id.

    `run_ids` picks runs by id (in any experiment); else `sweep_id` picks the jobs of one sweep
    of `experiment` (None: of whichever job experiment, skillopt-reflect or skillopt-train,
    holds a sweep with that id); else every run of `experiment` except sweep parents. Unknown
    names, a sweep id found in both experiments and empty selections are StoreErrors with a
    one-line message."""
    with _mlflow_errors():
        if run_ids:
            return _by_ids(store, run_ids)
        if sweep_id is not None:
            if experiment is None:
                return _sweep_anywhere(store, sweep_id=sweep_id)
            return _sweep(store, experiment=experiment, sweep_id=sweep_id)
        if experiment is None:
            raise StoreError("no runs asked for: give an experiment, a sweep or run ids")
        everything = store._search([store._experiment_id(experiment)])
        jobs = [r for r in everything if not _is_parent(r)]
        if not jobs:
            raise StoreError(f"experiment {experiment!r} in {store.uri} has no runs")
        return Selection(
            kind="experiment",
            tracking_uri=store.uri,
            experiment=experiment,
            runs=store._records(jobs),
        )


def collect_latest(store: Store, *, experiments: Sequence[str] = JOB_EXPERIMENTS) -> Selection:
    """The most recent sweep or run of `experiments` (default: skillopt-reflect and
    skillopt-train, so whichever job ran last), with `latest` set.

    Only top-level runs compete, by start time: a sweep parent stands for its sweep (all its
    jobs are read), any other run for itself. Replays (tag `skillopt.replay_of`, such as the
    ones `--verify-replay` starts) re-create an earlier run and are left out."""
    with _mlflow_errors():
        ids = store._experiment_ids(experiments)
        if not ids:
            raise StoreError(
                f"no skillopt runs in {store.uri} (no experiment named "
                f"{' or '.join(repr(e) for e in experiments)}); run a job first"
            )
        candidates = [
            r
            for r in store._search(list(ids))
            if Tag.PARENT not in r.data.tags and Tag.REPLAY_OF not in r.data.tags
        ]
        if not candidates:
            raise StoreError(f"no runs in {store.uri} (experiments {', '.join(ids.values())})")
        latest = max(candidates, key=lambda r: (r.info.start_time or 0, r.info.run_id))
        experiment = ids[str(latest.info.experiment_id)]
        if not _is_parent(latest):
            return Selection(
                kind="runs",
                tracking_uri=store.uri,
                experiment=experiment,
                runs=store._records([latest]),
                latest=True,
            )
        sweep_id = latest.data.tags[Tag.SWEEP_ID]
        try:
            selection = _sweep(store, experiment=experiment, sweep_id=sweep_id)
        except StoreError as exc:
            raise StoreError(f"the most recent sweep of the store cannot be read: {exc}") from None
        return replace(selection, latest=True)


# -- helpers -----------------------------------------------------------------------------------


def _is_parent(run: Any) -> bool:
    """Whether `run` is a sweep's parent run (it has a sweep id and no parent of its own)."""
    return Tag.SWEEP_ID in run.data.tags and Tag.PARENT not in run.data.tags


def _by_ids(store: Store, run_ids: Sequence[str]) -> Selection:
    runs = []
    for run_id in dict.fromkeys(run_ids):
        run = store._run(run_id)
        if _is_parent(run):
            sweep_id = run.data.tags[Tag.SWEEP_ID]
            raise StoreError(
                f"run {run_id} is the parent of sweep {sweep_id!r}; use --sweep {sweep_id}"
            )
        runs.append(run)
    names = sorted({store._experiment_name(r.info.experiment_id) for r in runs})
    return Selection(
        kind="runs", tracking_uri=store.uri, experiment=", ".join(names), runs=store._records(runs)
    )


def _sweep_anywhere(store: Store, *, sweep_id: str) -> Selection:
    """The sweep `sweep_id` of whichever job experiment holds it (exactly one must)."""
    ids = store._experiment_ids(JOB_EXPERIMENTS)
    if not ids:
        names = " or ".join(repr(e) for e in JOB_EXPERIMENTS)
        raise StoreError(f"no experiment named {names} in {store.uri}; run a job first")
    runs = {name: store._search([eid]) for eid, name in ids.items()}
    holding = [name for name, found in runs.items() if _parents(found, sweep_id)]
    if len(holding) > 1:
        raise StoreError(
            f"sweep {sweep_id!r} is in experiments {' and '.join(map(repr, holding))}; "
            "choose one with --experiment"
        )
    if not holding:
        known = sorted({r.data.tags[Tag.SWEEP_ID] for f in runs.values() for r in _parents(f)})
        where = " or ".join(f"{name!r}" for name in runs)
        noun = "experiment" if len(runs) == 1 else "experiments"
        raise StoreError(
            f"no sweep with id {sweep_id!r} in {noun} {where} (known: {_known(known)})"
        )
    (experiment,) = holding
    return _sweep(store, experiment=experiment, sweep_id=sweep_id, everything=runs[experiment])


def _parents(runs: list[Any], sweep_id: str | None = None) -> list[Any]:
    """The sweep parents among `runs` (of sweep `sweep_id` only, if given)."""
    parents = [r for r in runs if _is_parent(r)]
    if sweep_id is None:
        return parents
    return [r for r in parents if r.data.tags[Tag.SWEEP_ID] == sweep_id]


def _sweep(
    store: Store, *, experiment: str, sweep_id: str, everything: list[Any] | None = None
) -> Selection:
    """The sweep `sweep_id` of `experiment` (`everything`: its runs, if already read)."""
    if everything is None:
        everything = store._search([store._experiment_id(experiment)])
    mine = _parents(everything, sweep_id)
    if not mine:
        known = sorted({r.data.tags[Tag.SWEEP_ID] for r in _parents(everything)})
        raise StoreError(
            f"no sweep with id {sweep_id!r} in experiment {experiment!r} (known: {_known(known)})"
        )
    # Re-running a sweep into the same directory gives a second parent with the same id;
    # the latest one is the sweep.
    parent = max(mine, key=lambda r: (r.info.start_time or 0, r.info.run_id))
    jobs = [r for r in everything if r.data.tags.get(Tag.PARENT) == parent.info.run_id]
    if not jobs:
        raise StoreError(
            f"sweep {sweep_id!r} in experiment {experiment!r} has no job runs "
            f"(its parent run {parent.info.run_id} recorded none; did every job fail to start?)"
        )
    return Selection(
        kind="sweep",
        tracking_uri=store.uri,
        experiment=experiment,
        sweep_id=sweep_id,
        parent=store._records([parent])[0],
        runs=store._records(jobs),
    )


def _known(names: list[str], limit: int = 12) -> str:
    """`a, b, c` (the first `limit` names, then how many more), or `none`."""
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _patch(path: Path) -> PatchFile:
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    return PatchFile(
        name=path.name, text=text, document=document if isinstance(document, dict) else None
    )


def _runtime_cwd(path: Path) -> str | None:
    """`hydra.runtime.cwd` from a saved hydra.yaml: where the job was started."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None
    runtime = ((loaded or {}).get("hydra") or {}).get("runtime") or {}
    cwd = runtime.get("cwd") if isinstance(runtime, dict) else None
    return str(cwd) if cwd else None
