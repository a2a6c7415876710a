"""The `tracking.*` config as a typed, checked value."""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.base.checks import check_bool, check_text


@dataclass(frozen=True, kw_only=True)
class TrackingSettings:
    """Where and how a job is tracked (`tracking.*`).

    enabled: log to MLflow at all (false: mlflow is never imported). uri: the tracking URI
    (`sqlite:///mlflow.db` = MLflow's local default, relative to the working directory).
    experiment: the experiment's name. run_name: None builds one from the job's overrides.
    trace_llm_calls: record the LLM calls as MLflow traces.
    """

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "skillopt-reflect"
    run_name: str | None = None
    trace_llm_calls: bool = True

    def __post_init__(self) -> None:
        check_bool("enabled", self.enabled)
        if self.enabled:
            check_text("uri", self.uri)
        check_text("experiment", self.experiment)
        check_text("run_name", self.run_name, optional=True)
        check_bool("trace_llm_calls", self.trace_llm_calls)
