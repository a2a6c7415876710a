"""Read runs from MLflow into plain records; write back the few things a report records.

This is the only module of `skillopt.report` that imports MLflow. Everything is read through an
`MlflowClient` bound to one tracking URI; nothing here creates a store, an experiment or a run.
Training runs (tag `skillopt.job=train`) also get the history of each step metric they logged:
one `get_metric_history` call per metric and run, none for reflect runs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from skillopt.report.records import (
    JOB_TRAIN,
    STEP_METRICS,
    TAG_JOB,
    TAG_PARENT,
    TAG_SWEEP_ID,
    PatchFile,
    ReportError,
    RunRecord,
    Selection,
)

SQLITE_PREFIX = "sqlite:///"
_PAGE = 1000


def resolve_tracking_uri(uri: str, *, cwd: Path | None = None) -> str:
    """`uri` with a relative SQLite path made absolute (against `cwd`, default the current
    directory), so the same store is found from any working directory.

    A SQLite file that does not exist is an error: MLflow would silently create a new, empty
    store at a mistyped path."""
    if not uri.startswith(SQLITE_PREFIX):
        return uri
    raw = uri[len(SQLITE_PREFIX) :]
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise ReportError(
            f"no MLflow store at {path} (tracking URI {uri}); run where your mlflow.db is "
            "or pass --tracking-uri"
        )
    return f"{SQLITE_PREFIX}{path}"


class Store:
    """The tracking store at `uri` (already resolved): runs, artifacts and tags, by id."""

    def __init__(self, uri: str) -> None:
        import mlflow

        self.uri = uri
        self.client = mlflow.MlflowClient(uri)

    # -- reading ---------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The id of the active experiment `name`; a ReportError naming the known ones if none."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage == "deleted":
            known = sorted(e.name for e in self.client.search_experiments())
            raise ReportError(
                f"no experiment named {name!r} in {self.uri} (known: {_known(known)})"
            )
        return str(experiment.experiment_id)

    def experiment_name(self, experiment_id: str) -> str:
        return str(self.client.get_experiment(experiment_id).name)

    def search(self, experiment_id: str) -> list[Any]:
        """Every active run of the experiment (all pages)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id], max_results=_PAGE, page_token=token, order_by=["attributes.run_id"]
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def get_run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise ReportError(f"no run {run_id!r} in {self.uri} ({exc.error_code})") from None

    def history(self, run_id: str, names: list[str]) -> dict[str, tuple[tuple[int, float], ...]]:
        """Every logged value of each metric in `names`, as (step, value) pairs sorted by step;
        where a step was logged more than once (a resumed run), the last value logged wins."""
        out: dict[str, tuple[tuple[int, float], ...]] = {}
        for name in names:
            points = sorted(
                self.client.get_metric_history(run_id, name),
                key=lambda m: (int(m.step), int(m.timestamp)),
            )
            by_step = {int(m.step): float(m.value) for m in points}
            out[name] = tuple(sorted(by_step.items()))
        return out

    def record(self, run: Any, *, scratch: Path) -> RunRecord:
        """A RunRecord of `run`, with its patches and working directory read from its artifacts
        (downloaded into `scratch`) and, for a training run, its step-metric histories."""
        run_id = run.info.run_id
        dirs = tuple(sorted(a.path for a in self.client.list_artifacts(run_id) if a.is_dir))
        patches: tuple[PatchFile, ...] = ()
        if "patches" in dirs:
            local = Path(self.client.download_artifacts(run_id, "patches", str(scratch)))
            patches = tuple(_patch(p) for p in sorted(local.glob("*.json")))
        cwd = None
        if "hydra" in dirs:
            names = {a.path for a in self.client.list_artifacts(run_id, "hydra")}
            if "hydra/hydra.yaml" in names:
                local = Path(
                    self.client.download_artifacts(run_id, "hydra/hydra.yaml", str(scratch))
                )
                cwd = _runtime_cwd(local)
        history = {}
        if run.data.tags.get(TAG_JOB) == JOB_TRAIN:
            history = self.history(run_id, [m for m in STEP_METRICS if m in run.data.metrics])
        return RunRecord(
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
            history=history,
        )

    # -- writing ---------------------------------------------------------------------------

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for key, value in sorted(tags.items()):
            self.client.set_tag(run_id, key, value)

    def log_report(self, run_id: str, out: Path, *, files: tuple[str, ...]) -> None:
        """Log `files` of the report folder `out` and its `plots/` under `report/` of the run."""
        for name in files:
            self.client.log_artifact(run_id, str(out / name), "report")
        if (out / "plots").is_dir():
            self.client.log_artifacts(run_id, str(out / "plots"), "report/plots")


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


def collect_run(store: Store, run_id: str) -> RunRecord:
    """One run by its exact id, as a record."""
    run = store.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="skillopt-report-") as tmp:
        return store.record(run, scratch=Path(tmp))


def collect(
    store: Store,
    *,
    experiment: str,
    sweep_id: str | None = None,
    run_ids: list[str] | None = None,
) -> Selection:
    """The runs a report covers, sorted by job number, start time and id.

    `run_ids` picks runs by id (in any experiment); else `sweep_id` picks the jobs of one sweep
    of `experiment`; else every run of `experiment` except sweep parents. Unknown names and empty
    selections are ReportErrors with a one-line message."""
    with tempfile.TemporaryDirectory(prefix="skillopt-report-") as tmp:
        scratch = Path(tmp)

        def records(runs: list[Any]) -> tuple[RunRecord, ...]:
            out = []
            for i, run in enumerate(runs):
                folder = scratch / str(i)
                folder.mkdir()
                out.append(store.record(run, scratch=folder))
            return tuple(sorted(out, key=RunRecord.sort_key))

        if run_ids:
            runs = []
            for run_id in dict.fromkeys(run_ids):
                run = store.get_run(run_id)
                if TAG_SWEEP_ID in run.data.tags and TAG_PARENT not in run.data.tags:
                    raise ReportError(
                        f"run {run_id} is the parent of sweep {run.data.tags[TAG_SWEEP_ID]!r}; "
                        f"use --sweep {run.data.tags[TAG_SWEEP_ID]}"
                    )
                runs.append(run)
            names = sorted({store.experiment_name(r.info.experiment_id) for r in runs})
            return Selection(
                kind="runs",
                tracking_uri=store.uri,
                experiment=", ".join(names),
                runs=records(runs),
            )

        experiment_id = store.experiment_id(experiment)
        everything = store.search(experiment_id)
        parents = [
            r for r in everything if TAG_SWEEP_ID in r.data.tags and TAG_PARENT not in r.data.tags
        ]
        if sweep_id is None:
            parent_ids = {r.info.run_id for r in parents}
            jobs = [r for r in everything if r.info.run_id not in parent_ids]
            if not jobs:
                raise ReportError(f"experiment {experiment!r} in {store.uri} has no runs")
            return Selection(
                kind="experiment",
                tracking_uri=store.uri,
                experiment=experiment,
                runs=records(jobs),
            )

        mine = [r for r in parents if r.data.tags[TAG_SWEEP_ID] == sweep_id]
        if not mine:
            known = sorted({r.data.tags[TAG_SWEEP_ID] for r in parents})
            raise ReportError(
                f"no sweep with id {sweep_id!r} in experiment {experiment!r} (known: {_known(known)})"
            )
        # Re-running a sweep into the same directory gives a second parent with the same id;
        # the latest one is the sweep.
        parent = max(mine, key=lambda r: (r.info.start_time or 0, r.info.run_id))
        jobs = [r for r in everything if r.data.tags.get(TAG_PARENT) == parent.info.run_id]
        if not jobs:
            raise ReportError(
                f"sweep {sweep_id!r} in experiment {experiment!r} has no job runs "
                f"(its parent run {parent.info.run_id} recorded none; did every job fail to start?)"
            )
        parent_folder = scratch / "parent"
        parent_folder.mkdir()
        return Selection(
            kind="sweep",
            tracking_uri=store.uri,
            experiment=experiment,
            sweep_id=sweep_id,
            parent=store.record(parent, scratch=parent_folder),
            runs=records(jobs),
        )
