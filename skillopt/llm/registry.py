"""Backends by name. `openai` and `azure_openai` are built in; the composition root registers
the others.

The offline stand-ins live with the simulation they answer for (`skillopt.sim`), and `llm` must
not import it, so `skillopt.cli` registers them here by name at start-up, as a plugin would.
A backend may declare its options as a settings dataclass: the config schema of a role whose
`backend` names it is derived from those fields, and the options are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from skillopt.base.errors import ConfigError
from skillopt.llm.azure_backend import AzureOpenAIOptions
from skillopt.llm.openai_backend import OpenAIOptions
from skillopt.llm.types import ChatBackend

BackendFactory = Callable[[Any, str], ChatBackend]
"""`(options, role) -> backend`: `options` is an instance of the backend's options class (None
when it declares none), `role` is `optimizer` or `target`."""


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    """How to build a backend, and the settings class of its options (None: it takes none)."""

    factory: BackendFactory
    options: type | None = None


def _openai(options: OpenAIOptions, _role: str) -> ChatBackend:
    from skillopt.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(**asdict(options))


def _azure_openai(options: AzureOpenAIOptions, _role: str) -> ChatBackend:
    from skillopt.llm.azure_backend import AzureOpenAIBackend

    return AzureOpenAIBackend(**asdict(options))


_BACKENDS: dict[str, BackendSpec] = {
    "openai": BackendSpec(factory=_openai, options=OpenAIOptions),
    "azure_openai": BackendSpec(factory=_azure_openai, options=AzureOpenAIOptions),
}


def register_backend(name: str, factory: BackendFactory, *, options: type | None = None) -> None:
    """Make `name` a valid `backend` value; registering a name again replaces it."""
    _BACKENDS[name] = BackendSpec(factory=factory, options=options)


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(_BACKENDS))


def backend_spec(name: str) -> BackendSpec:
    spec = _BACKENDS.get(name)
    if spec is None:
        raise ConfigError(
            f"unknown backend {name!r}; registered backends: {', '.join(backend_names())}"
        )
    return spec


def make_backend(name: str, options: Any = None, *, role: str = "optimizer") -> ChatBackend:
    """The backend registered as `name`, built from `options` (its options instance) for `role`."""
    return backend_spec(name).factory(options, role)
