"""Build a backend by name from plain options (the `model.*` config minus request settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skillopt.errors import ConfigError
from skillopt.llm.offline import OfflineBackend
from skillopt.llm.types import ChatBackend

BACKENDS = ("offline", "openai")
_OPENAI_OPTIONS = ("base_url", "api_key_env", "timeout_s", "max_retries", "token_param")


def make_backend(name: str, options: Mapping[str, Any], *, role: str = "optimizer") -> ChatBackend:
    """`offline` takes no options (the optimizer stand-in, or for `role="target"` the simulated
    target); `openai` takes base_url, api_key_env, timeout_s, max_retries, token_param."""
    if name == "offline":
        if role == "target":
            from skillopt.sim.target import OfflineTarget

            return OfflineTarget()
        return OfflineBackend()
    if name == "openai":
        from skillopt.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(**{k: options[k] for k in _OPENAI_OPTIONS if k in options})
    raise ConfigError(f"unknown model.backend {name!r}; valid backends: {', '.join(BACKENDS)}")
