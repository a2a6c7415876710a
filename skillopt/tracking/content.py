"""What a job's MLflow run holds, derived from its config and its output directory.

The live tracker and `skillopt-sync` log the same things: these functions say what they are
(params and tags, the files to upload, the final metrics and tables, the dataset input), so a
run completed later has the same content as one tracked while it ran.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import skillopt
from skillopt.base.atomic import write_json, write_text
from skillopt.tracking.artifacts import Source
from skillopt.tracking.jobs import JobKind, data_digest
from skillopt.tracking.names import Artifact, RunFolder, Tag
from skillopt.tracking.params import job_params, redact, run_name, select
from skillopt.tracking.provenance import git_state

TAG_MAX_CHARS = 5000
LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"  # MLflow's tag listing a run's tables


def identity(
    *,
    config: Mapping[str, Any],
    overrides: list[str],
    kind: JobKind,
    out_dir: Path,
    command: str,
    sweep_id: str | None = None,
    job_num: int | None = None,
) -> tuple[dict[str, str], dict[str, str], dict[str, str], str]:
    """(params, long params, tags, run name) of a job. Long params (lists, values over MLflow's
    limit) are written under the output directory, to be uploaded as `params/` artifacts."""
    from mlflow.version import VERSION as mlflow_version

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
        Tag.MLFLOW_VERSION: mlflow_version,
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
    tags = {k: v[:TAG_MAX_CHARS] for k, v in tags.items()}
    return params, too_long, tags, run_name(overrides)


def artifact_sources(kind: JobKind, out_dir: Path, config: Mapping[str, Any]) -> list[Source]:
    """The files of a job's run: its output folders and root files, the skill it started from
    (`skill/skill.md`), the composed config (`hydra/`, secrets already redacted), long params,
    its logs and its tables."""
    sources = [
        Source(path=out_dir / folder, artifact_path=folder) for folder in kind.output_folders
    ]
    sources += [Source(path=out_dir / name, artifact_path=None) for name in kind.root_files]
    skill = kind.skill_path(config)
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


def dataset_input(kind: JobKind, config: Mapping[str, Any]) -> Any:
    """The job's data as an MLflow dataset input (name, a digest of its files, the job as its
    context), or None when it read no data file."""
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    found = kind.dataset(config)
    if found is None:
        return None
    path, name, context = found
    digest = data_digest(path)
    source_cls = next(
        s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource"
    )
    dataset = MetaDataset(source=source_cls(str(path)), name=name, digest=digest)
    tag = InputTag(key="mlflow.data.context", value=context)
    return DatasetInput(dataset._to_mlflow_entity(), tags=[tag])
