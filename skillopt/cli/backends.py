"""The optimizer backend a job's `model.*` config asks for, including replay of an earlier run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from skillopt.base.errors import ConfigError
from skillopt.cli.config import build_settings
from skillopt.llm.cache import CallCache
from skillopt.llm.client import CallListener, LLMClient
from skillopt.llm.ledger import Ledger, Price
from skillopt.llm.registry import make_backend, register_backend
from skillopt.llm.replay import ReplayBackend
from skillopt.llm.types import ChatBackend

log = logging.getLogger("skillopt.llm")

_SECTION = {"optimizer": "model", "target": "target"}  # where each role's settings live in config


def _offline(_options: Any, role: str) -> ChatBackend:
    """The deterministic stand-ins of the offline simulation: the simulated target for the
    target role, the optimizer stand-in otherwise."""
    from skillopt.sim import OfflineOptimizer, OfflineTarget

    return OfflineTarget() if role == "target" else OfflineOptimizer()


register_backend("offline", _offline)


def build_backend(
    model: dict[str, Any], cfg: DictConfig, *, role: str = "optimizer"
) -> ChatBackend:
    """`offline` and `openai` come from the factory; `replay` fetches the recorded calls of
    `<section>.run_id` through MLflow (so it needs tracking on): a reflect run's `llm_calls/`, or
    the role's folder of a training run's `llm_calls/`."""
    if model["backend"] != "replay":
        return make_backend(model["backend"], model, role=role)
    from skillopt.tracking.replay import fetch_call_records
    from skillopt.tracking.settings import tracking_settings

    section = _SECTION[role]
    tracking = tracking_settings(cfg)
    if not tracking.enabled:
        raise ConfigError(
            f"{section}=replay fetches the recorded calls through MLflow; it needs tracking enabled"
        )
    folder = f"llm_calls/{role}" if OmegaConf.select(cfg, "train") is not None else "llm_calls"
    records, params = fetch_call_records(
        str(model["run_id"]), tracking_uri=tracking.uri, folder=folder, key=f"{section}.run_id"
    )
    backend = ReplayBackend(
        records_dir=records,
        source=f"run {model['run_id']}",
        model_name=params.get(f"{section}.name", ""),
    )
    log.info(
        "replaying %d recorded %s calls of run %s (%s)",
        len(backend),
        role,
        model["run_id"],
        backend.name,
    )
    return backend


def build_client(
    options: dict[str, Any],
    cfg: DictConfig,
    *,
    role: str,
    cache_dir: Path,
    listeners: Sequence[CallListener] = (),
) -> LLMClient:
    """An LLM client for `role` (optimizer or target): backend, ledger with the role's price and
    budget guards, and a content-addressed call cache in `cache_dir`."""
    backend = build_backend(options, cfg, role=role)
    if options["backend"] == "offline":
        log.info(
            "%s=offline is a deterministic stand-in, not an optimizer or a real target (%s): "
            "its replies only exercise the pipeline",
            _SECTION[role],
            backend.name,
        )
    return LLMClient(
        backend=backend,
        ledger=Ledger(
            price=build_settings(Price, options.get("price") or {}, f"{_SECTION[role]}.price"),
            max_calls=options.get("max_calls"),
            max_cost_usd=options.get("max_cost_usd"),
        ),
        cache=CallCache(cache_dir),
        listeners=listeners,
    )
