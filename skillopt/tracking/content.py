"""What a job's MLflow run holds, derived from its config and its output directory: its
identity (params, tags, name, data), the files to upload, its tables. No MLflow here: the job
writes these into its run journal, and the uploader reads them from there.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import skillopt
from skillopt.base.atomic import write_json, write_text
from skillopt.tracking.artifacts import Source
from skillopt.tracking.jobs import JobKind
from skillopt.tracking.journal import RunIdentity, now_ms
from skillopt.tracking.names import Artifact, RunFolder, Tag
from skillopt.tracking.params import job_params, redact, run_name, select
from skillopt.tracking.provenance import git_state
from skillopt.tracking.registry import SKILL_SOURCE
from skillopt.tracking.settings import TrackingSettings

TAG_MAX_CHARS = 5000
LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"  # MLflow's tag listing a run's tables


def absolute_uri(uri: str) -> str:
    """`uri` with a relative SQLite path made absolute (against the working directory), so the
    journal names the same store wherever it is read."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri.removeprefix(prefix)).resolve())
    return uri


@functools.cache
def mlflow_version() -> str:
    """The installed MLflow's version, read from its package metadata (no import)."""
    try:
        return metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def job_identity(
    *,
    config: Mapping[str, Any],
    settings: TrackingSettings,
    overrides: list[str],
    kind: JobKind,
    out_dir: Path,
    command: str,
    sweep_dir: Path | None = None,
    sweep_id: str | None = None,
    job_num: int | None = None,
) -> RunIdentity:
    """What the job's run holds from its start. Long params (lists, values over MLflow's limit)
    are written under the output directory, to be uploaded as `params/` artifacts."""
    overrides = [str(o) for o in redact(list(overrides))]
    params, too_long = job_params(config, overrides, curated=kind.curated_params)
    for key, text in too_long.items():
        write_text(out_dir / RunFolder.LONG_PARAMS / f"{key}.txt", text)
    commit, dirty = git_state()
    tags = {
        Tag.JOB: kind.name,
        Tag.OVERRIDES: json.dumps(overrides),
        Tag.GIT_COMMIT: commit,
        Tag.GIT_DIRTY: dirty,
        Tag.VERSION: skillopt.__version__,
        Tag.MLFLOW_VERSION: mlflow_version(),
        Tag.OUTPUT_DIR: str(out_dir.resolve()),
        Tag.COMMAND: command,
        **kind.seed_tags(config),
    }
    if sweep_id is not None:
        tags[Tag.SWEEP_ID] = sweep_id
    if job_num is not None:
        tags[Tag.JOB_NUM] = str(job_num)
    if select(config, "model.backend") == "replay":
        tags[Tag.REPLAY_OF] = str(select(config, "model.run_id"))
    skill = kind.skill_path(config)
    if skill is not None and str(skill).startswith("prompts:"):
        skill = out_dir / SKILL_SOURCE  # fetched from the registry when the job starts
    found = kind.dataset(config)
    return RunIdentity(
        kind=kind.name,
        experiment=settings.experiment,
        run_name=settings.run_name or run_name(overrides),
        params=params,
        tags={k: v[:TAG_MAX_CHARS] for k, v in tags.items()},
        start_ms=now_ms(),
        uri=absolute_uri(settings.uri) if settings.uri else "",
        trace=settings.trace_llm_calls,
        sweep_dir=str(sweep_dir.resolve()) if sweep_dir is not None else None,
        skill_path=str(skill.resolve()) if skill is not None else None,
        dataset=(
            None
            if found is None
            else {"path": str(found[0].resolve()), "name": found[1], "context": found[2]}
        ),
    )


def artifact_sources(kind: JobKind, out_dir: Path, skill: Path | None) -> list[Source]:
    """The files of a job's run: its output folders and root files, the skill it started from
    (`skill/skill.md`), the composed config (`hydra/`, secrets already redacted), long params,
    its logs and its tables."""
    sources = [
        Source(path=out_dir / folder, artifact_path=folder) for folder in kind.output_folders
    ]
    sources += [Source(path=out_dir / name, artifact_path=None) for name in kind.root_files]
    if skill is not None:
        sources.append(Source(path=skill, artifact_path=Artifact.SKILL, name="skill.md"))
    sources += [
        Source(path=out_dir / ".hydra", artifact_path=Artifact.HYDRA),
        Source(path=out_dir / RunFolder.LONG_PARAMS, artifact_path=Artifact.PARAMS),
        Source(path=out_dir / RunFolder.TABLES, artifact_path=Artifact.TABLES),
    ]
    sources += [Source(path=p, artifact_path=Artifact.LOGS) for p in sorted(out_dir.glob("*.log"))]
    return sources


def write_tables(kind: JobKind, result: Any, out_dir: Path) -> dict[str, str]:
    """Write the result's tables (MLflow's table format: columns, then rows) where the artifact
    sources find them; the tag that lists them as tables in the MLflow UI."""
    entries = []
    for artifact_file, table in kind.tables(result).items():
        name = artifact_file.removeprefix(f"{Artifact.TABLES}/")
        rows = [list(row) for row in zip(*table.values(), strict=True)]
        write_json(out_dir / RunFolder.TABLES / name, {"columns": list(table), "data": rows})
        entries.append({"path": artifact_file, "type": "table"})
    return {LOGGED_ARTIFACTS: json.dumps(entries)} if entries else {}
