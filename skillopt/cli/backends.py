"""The LLM clients a job's roles ask for: backends registered by name (the offline stand-ins and
replay are registered here, at the composition root), each wrapped with a ledger and a call
cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt.base.checks import check_text
from skillopt.base.errors import ConfigError
from skillopt.cli.schemas import RoleConfig, with_name
from skillopt.llm.cache import CallCache
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Ledger
from skillopt.llm.registry import make_backend, register_backend
from skillopt.llm.types import ChatBackend
from skillopt.tracking.settings import TrackingSettings

log = logging.getLogger("skillopt.llm")


def _offline(_options: Any, role: str) -> ChatBackend:
    """The deterministic stand-ins of the offline simulation: the simulated target for the
    target role, the optimizer stand-in otherwise."""
    from skillopt.sim import OfflineOptimizer, OfflineTarget

    return OfflineTarget() if role == "target" else OfflineOptimizer()


@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """`backend: replay`: answer from the recorded calls of run `run_id` (fetched through the
    job's MLflow tracking store)."""

    run_id: str = "???"

    def __post_init__(self) -> None:
        check_text("run_id", self.run_id)


def _replay(_options: Any, _role: str) -> ChatBackend:
    raise ConfigError("replay backends are built by skillopt.cli.backends.build_client")


register_backend("offline", _offline)
register_backend("replay", _replay, options=ReplayOptions)


def _replay_backend(
    config: RoleConfig, tracking: TrackingSettings, *, training: bool
) -> tuple[ChatBackend, str]:
    """A replay backend over the role's recorded calls in run `run_id`, and the model name that
    run used: a reflect run's `llm_calls/`, or the role's folder of a training run's."""
    from skillopt.llm.replay import ReplayBackend
    from skillopt.tracking.replay import fetch_call_records

    if not tracking.enabled:
        raise ConfigError(
            f"{config.section}=replay fetches the recorded calls through MLflow; "
            "it needs tracking enabled"
        )
    run_id = config.options.run_id
    folder = f"llm_calls/{config.role}" if training else "llm_calls"
    records, params = fetch_call_records(
        run_id, tracking_uri=tracking.uri, folder=folder, key=f"{config.section}.run_id"
    )
    backend = ReplayBackend(
        records_dir=records,
        source=f"run {run_id}",
        model_name=params.get(f"{config.section}.name", ""),
    )
    log.info("replaying %d recorded %s calls of run %s", len(backend), config.role, run_id)
    return backend, backend.model_name


def build_client(
    config: RoleConfig,
    *,
    tracking: TrackingSettings,
    cache_dir: Path,
    training: bool = False,
) -> tuple[LLMClient, RoleConfig]:
    """The LLM client of a role (backend, ledger with its price and budget, call cache in
    `cache_dir`), and the role's config with its model name settled."""
    if config.backend == "replay":
        backend, recorded_name = _replay_backend(config, tracking, training=training)
        config = with_name(config, config.name or recorded_name)
    else:
        backend = make_backend(config.backend, config.options, role=config.role)
    if config.backend == "offline":
        log.info(
            "%s=offline is a deterministic stand-in, not an optimizer or a real target (%s): "
            "its replies only exercise the pipeline",
            config.section,
            backend.name,
        )
    client = LLMClient(
        backend=backend,
        ledger=Ledger(price=config.price, budget=config.budget),
        cache=CallCache(cache_dir),
    )
    return client, config
