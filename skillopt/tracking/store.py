"""The tracking store and experiment, created once before any job of a run or sweep starts.

Parallel workers that each create a fresh SQLite store race on schema creation, so the Hydra
callback calls `ensure_experiment` in the launching process first; workers then only read.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("skillopt.tracking")


def client_for(uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(uri)  # traces and log_table follow the process-wide URI
    return mlflow.MlflowClient(uri)


def ensure_experiment(client: Any, name: str) -> str:
    """The experiment's id, creating it (and the store) if needed; safe against a concurrent creator."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id
