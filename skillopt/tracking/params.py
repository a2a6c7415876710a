"""What of a job's config becomes MLflow params, tags and logged config copies (no MLflow here).

Params are a curated set: every knob that shapes a minibatch or a budget, plus every key named
in the job's overrides. Values that are lists, mappings or longer than MLflow's 6000-character
limit are not params; they are written to an artifact instead. Keys that look like secrets are
redacted wherever the config is copied. The config arrives as a plain mapping (the composed
config, resolved); nothing here knows Hydra.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from skillopt.base.atomic import write_text
from skillopt.base.checks import REDACTED, is_secret_key
from skillopt.base.modes import normalize_update_mode
from skillopt.tracking.names import Param

# `model.api_key=...` inside override lists and Hydra's override_dirname
_SECRET_ASSIGNMENT = re.compile(
    r"((?:^|[,\s])[+~]*[\w.-]*(?:api[_-]?key|token|secret|password)=)([^,\s]*)", re.IGNORECASE
)
# Keys that steer a run without changing what it computes (fault injection for resume tests).
NOT_PARAMS = ("fault.",)
_UNSET = object()


def redact(value: Any) -> Any:
    """A plain copy of a config value with every secret-looking key's value replaced."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_key(k) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, value)
    return value


def redacted_yaml(value: Any) -> str:
    return yaml.safe_dump(redact(value), sort_keys=False, allow_unicode=True)


def override_key(override: str) -> tuple[str, str]:
    """`+reflect.x=1` -> (`reflect.x`, `1`); `~key` -> (`key`, ``)."""
    body = override.lstrip("+~")
    key, _, value = body.partition("=")
    key = key.split("@", 1)[0].strip()
    return key, value.strip()


def run_name(overrides: list[str], *, exclude: tuple[str, ...] = Param.SEEDS) -> str:
    """A readable name from the job's overrides (seeds left out, so the seeds of one setting
    share a name), or `default`."""
    parts = []
    for override in overrides:
        key, value = override_key(override)
        if key in exclude or key.startswith(("hydra.", "tracking", *NOT_PARAMS)):
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}" if "." in key else f"{key}={value}")
    return ",".join(parts) or "default"


def select(config: Mapping[str, Any], key: str) -> Any:
    """The value at dotted `key` in a nested mapping (`_UNSET` when there is none)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _UNSET
        node = node[part]
    return node


def _value(config: Mapping[str, Any], key: str) -> Any:
    if key == "reflect.update_mode":
        mode = select(config, key)
        return _UNSET if mode is _UNSET else normalize_update_mode(mode).value
    if key in ("reflect.failure_seed", "reflect.success_seed"):
        seed = select(config, "reflect.seed")
        if seed is _UNSET or seed is None:
            return seed
        return int(seed) + (1 if key == "reflect.success_seed" else 0)
    return select(config, key)


def job_params(
    config: Mapping[str, Any], overrides: list[str], *, curated: tuple[str, ...] = Param.REFLECT
) -> tuple[dict[str, str], dict[str, str]]:
    """(params, too_long): curated keys plus overridden keys as strings; values that cannot be
    params come back in `too_long` (key -> text) for an artifact."""
    keys = list(curated)
    group_choices: dict[str, str] = {}
    for override in overrides:
        key, value = override_key(override)
        if not key or key.startswith("hydra.") or key.startswith(NOT_PARAMS) or key in keys:
            continue
        keys.append(key)
        group_choices[key] = value
    params: dict[str, str] = {}
    too_long: dict[str, str] = {}
    for key in keys:
        value = _value(config, key)
        if isinstance(value, Mapping) or (value is _UNSET and key in group_choices):
            # a config group choice such as model=openai, or an overlay (experiment=...) that
            # leaves no node of its own name
            value = group_choices.get(key, "")
        elif value is _UNSET:
            continue
        elif isinstance(value, list | tuple):
            too_long[key] = yaml.safe_dump(list(value), sort_keys=False)
            continue
        text = REDACTED if is_secret_key(key) else ("None" if value is None else str(value))
        if len(text) > Param.MAX_CHARS:
            too_long[key] = text
            continue
        params[key] = text
    return params, too_long


def redact_saved_configs(folder: Path) -> None:
    """Rewrite the YAML files Hydra saved in `folder` (`.hydra/`, `multirun.yaml`) if any holds a
    secret-looking value. Hydra writes them before any callback could filter them."""
    for path in folder.glob("*.yaml"):
        original = yaml.safe_load(path.read_text(encoding="utf-8"))
        if redact(original) != original:
            write_text(path, redacted_yaml(original))
