"""Fetch an earlier run's call records through MLflow, for the replay backend."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from skillopt.base.errors import ConfigError


def fetch_call_records(
    run_id: str, *, tracking_uri: str, folder: str = "llm_calls", key: str = "model.run_id"
) -> tuple[Path, dict[str, Any]]:
    """Download the call records in `folder` of `run_id` (`llm_calls/` for a reflect run,
    `llm_calls/optimizer/` or `llm_calls/target/` for a training run); return the local folder
    and the run's params. `key` names the config key in errors."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise ConfigError(
            f"{key}: no run {run_id!r} in {tracking_uri} ({exc.error_code})"
        ) from None
    target = Path(tempfile.mkdtemp(prefix=f"skillopt-replay-{run_id[:8]}-"))
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=folder,
            dst_path=str(target),
            tracking_uri=tracking_uri,
        )
    except (MlflowException, OSError) as exc:
        raise ConfigError(
            f"{key}: run {run_id} has no {folder}/ artifacts to replay ({exc})"
        ) from None
    return Path(local), dict(run.data.params)
