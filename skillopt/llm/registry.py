"""Backends by name. `openai` is built in; the composition root registers the others.

The offline stand-ins live with the simulation they answer for (`skillopt.sim`), and `llm` must
not import it, so `skillopt.cli` registers them here by name at start-up, as a plugin would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from skillopt.base.errors import ConfigError
from skillopt.llm.types import ChatBackend

BackendFactory = Callable[[Mapping[str, Any], str], ChatBackend]
"""`(options, role) -> backend`; `options` is the role's config section, `role` is `optimizer`
or `target`."""

_OPENAI_OPTIONS = ("base_url", "api_key_env", "timeout_s", "max_retries", "token_param")


def _openai(options: Mapping[str, Any], _role: str) -> ChatBackend:
    from skillopt.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(**{k: options[k] for k in _OPENAI_OPTIONS if k in options})


_FACTORIES: dict[str, BackendFactory] = {"openai": _openai}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make `name` a valid `backend` value; registering a name again replaces its factory."""
    _FACTORIES[name] = factory


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def make_backend(name: str, options: Mapping[str, Any], *, role: str = "optimizer") -> ChatBackend:
    """The backend registered as `name`, built from `options` for `role`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(
            f"unknown backend {name!r}; registered backends: {', '.join(backend_names())}"
        )
    return factory(options, role)
