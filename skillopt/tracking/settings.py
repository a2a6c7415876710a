"""The `tracking.*` config as a typed, checked value."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from skillopt.base.checks import SettingError, check_bool, check_int, check_number, check_text

PASSWORD_IN_URI = (
    "expected no password in the URI (it would be logged with every run); give it in "
    "MLFLOW_TRACKING_PASSWORD for a server, or PGPASSWORD or ~/.pgpass for PostgreSQL"
)


@dataclass(frozen=True, kw_only=True)
class TrackingSettings:
    """Where and how a job is tracked (`tracking.*`).

    enabled: log to MLflow at all (false: the job still keeps its run journal, so
    `skillopt-sync` can upload it later; mlflow is never imported). uri: the tracking URI
    (`sqlite:///mlflow.db` = MLflow's local default, relative to the working directory).
    experiment: the experiment's name. run_name: None builds one from the job's overrides.
    trace_llm_calls: upload the job's trace trees (the span journal is kept regardless).
    timeout_s, max_retries: the bound on one request to a tracking server (MLflow's
    `MLFLOW_HTTP_REQUEST_TIMEOUT` and `MLFLOW_HTTP_REQUEST_MAX_RETRIES`, with a backoff factor
    of 1 s): at the defaults one call gives up after about 30 s. flush_timeout_s: how long a
    finished job waits for its last uploads before it reports the run incomplete.
    """

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "skillopt-reflect"
    run_name: str | None = None
    trace_llm_calls: bool = True
    timeout_s: int = 10
    max_retries: int = 2
    flush_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_bool("enabled", self.enabled)
        if self.enabled:
            check_text("uri", self.uri)
            parts = urllib.parse.urlsplit(self.uri)
            if parts.password:
                masked = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
                raise SettingError("uri", masked.geturl(), PASSWORD_IN_URI)
        check_text("experiment", self.experiment)
        check_text("run_name", self.run_name, optional=True)
        check_bool("trace_llm_calls", self.trace_llm_calls)
        check_int("timeout_s", self.timeout_s, minimum=1, maximum=600)
        check_int("max_retries", self.max_retries, minimum=0, maximum=10)
        check_number("flush_timeout_s", self.flush_timeout_s, minimum=1, maximum=3600)

    def request_bounds(self) -> dict[str, str]:
        """MLflow's environment variables for this bound on one server request."""
        return {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout_s),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        }

    def apply_request_bounds(self) -> None:
        """Set the bounds process-wide (MLflow reads them per request; a tracking agent
        started later inherits them)."""
        os.environ.update(self.request_bounds())
