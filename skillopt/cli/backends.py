"""The optimizer backend a job's `model.*` config asks for, including replay of an earlier run."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig

from skillopt.errors import ConfigError
from skillopt.llm.factory import make_backend
from skillopt.llm.replay import ReplayBackend
from skillopt.llm.types import ChatBackend

log = logging.getLogger("skillopt.reflect")


def build_backend(model: dict[str, Any], cfg: DictConfig) -> ChatBackend:
    """`offline` and `openai` come from the factory; `replay` fetches the recorded calls of
    `model.run_id` through MLflow (so it needs tracking on)."""
    if model["backend"] != "replay":
        return make_backend(model["backend"], model)
    from skillopt.tracking.replay import fetch_call_records
    from skillopt.tracking.settings import tracking_settings

    tracking = tracking_settings(cfg)
    if not tracking.enabled:
        raise ConfigError(
            "model=replay fetches the recorded calls through MLflow; it needs tracking enabled"
        )
    records, params = fetch_call_records(str(model["run_id"]), tracking_uri=tracking.uri)
    backend = ReplayBackend(
        records_dir=records,
        source=f"run {model['run_id']}",
        model_name=params.get("model.name", ""),
    )
    log.info(
        "replaying %d recorded calls of run %s (%s)", len(backend), model["run_id"], backend.name
    )
    return backend
