"""The `tracking.*` config as a typed value."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf


@dataclass(frozen=True, kw_only=True)
class TrackingSettings:
    """enabled: log to MLflow at all. uri: tracking URI (`sqlite:///mlflow.db` = MLflow's local
    default). experiment: experiment name. run_name: None builds one from the overrides.
    trace_llm_calls: record every LLM call as a trace."""

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "skillopt-reflect"
    run_name: str | None = None
    trace_llm_calls: bool = True


def tracking_settings(cfg: DictConfig) -> TrackingSettings:
    node = OmegaConf.select(cfg, "tracking")
    if node is None:
        return TrackingSettings(enabled=False)
    return TrackingSettings(**OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]
