"""Turn the composed Hydra config into the engine's typed, keyword-only settings."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from skillopt.base.errors import ConfigError
from skillopt.base.resources import resource_path
from skillopt.engine.formatting import ClipLimits, FormatSettings
from skillopt.engine.reflect import ReflectSettings, RequestSettings
from skillopt.llm.ledger import Price

T = TypeVar("T")

_RESOLVER = "skillopt.resource"
_REFLECT_ONLY = {"max_trajectory_chars", "include_codex_trace", "clip"}


def register_resolvers() -> None:
    """`${skillopt.resource:examples/qa/skill.md}` = a file shipped inside the package."""
    if not OmegaConf.has_resolver(_RESOLVER):
        OmegaConf.register_new_resolver(_RESOLVER, resource_path)


def plain(node: Any, where: str) -> dict[str, Any]:
    """A config node as a resolved dict; a missing mandatory value (`???`) becomes a ConfigError."""
    try:
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as exc:
        key = exc.full_key or where
        raise ConfigError(
            f"{key} is required but not set (give it on the command line: {key}=...)"
        ) from None


def build_settings(cls: type[T], values: dict[str, Any], where: str) -> T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) under {where}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return cls(**values)


def reflect_settings(cfg: DictConfig) -> ReflectSettings:
    values = plain(cfg.reflect, "reflect")
    formatting = FormatSettings(
        max_trajectory_chars=values.get("max_trajectory_chars", 12000),
        include_codex_trace=values.get("include_codex_trace", False),
        clip=build_settings(ClipLimits, values.get("clip") or {}, "reflect.clip"),
    )
    rest = {k: v for k, v in values.items() if k not in _REFLECT_ONLY}
    return build_settings(ReflectSettings, {**rest, "formatting": formatting}, "reflect")


def request_settings(model: dict[str, Any]) -> RequestSettings:
    names = {f.name for f in fields(RequestSettings)} - {"model"}
    return RequestSettings(model=model["name"], **{k: model[k] for k in names if k in model})


def price(model: dict[str, Any]) -> Price:
    return build_settings(Price, model.get("price") or {}, "model.price")


def text_or_file(section: dict[str, Any], key: str) -> str:
    """`context.<key>` text, or the content of `context.<key>_file` (not both)."""
    text = section.get(key) or ""
    path = section.get(f"{key}_file")
    if path and text:
        raise ConfigError(f"give context.{key} or context.{key}_file, not both")
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"context.{key}_file: file not found: {file}")
        return file.read_text(encoding="utf-8")
    return text
