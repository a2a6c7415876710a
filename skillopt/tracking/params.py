"""What of a job's config becomes MLflow params, tags and logged config copies (no MLflow here).

Params are a curated set: every knob that shapes a minibatch or a budget, plus every key named
in the job's overrides. Values that are lists, mappings or longer than MLflow's 6000-character
limit are not params; they are written to an artifact instead. Keys that look like secrets are
redacted wherever the config is copied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from skillopt.base.atomic import write_text

PARAM_MAX_CHARS = 6000
REDACTED = "***redacted***"
_SECRET_KEY = re.compile(r"(^|[._-])(api[_-]?key|token|secret|password)$", re.IGNORECASE)
# `model.api_key=...` inside override lists and Hydra's override_dirname
_SECRET_ASSIGNMENT = re.compile(
    r"((?:^|[,\s])[+~]*[\w.-]*(?:api[_-]?key|token|secret|password)=)([^,\s]*)", re.IGNORECASE
)

CURATED_PARAMS = (
    "reflect.minibatch_size",
    "reflect.edit_budget",
    "reflect.update_mode",
    "reflect.seed",
    "reflect.failure_seed",
    "reflect.success_seed",
    "reflect.failure_only",
    "reflect.workers",
    "reflect.max_trajectory_chars",
    "model.backend",
    "model.name",
    "data.rollout_dir",
    "data.skill_path",
)


TRAIN_PARAMS = (
    "train.epochs",
    "train.batch_size",
    "train.seed",
    "train.edit_budget",
    "train.min_edit_budget",
    "train.schedule",
    "train.merge_batch_size",
    "train.use_slow_update",
    "train.use_meta_skill",
    "reflect.minibatch_size",
    "reflect.update_mode",
    "reflect.failure_only",
    "gate.metric",
    "gate.enabled",
    "model.backend",
    "model.name",
    "target.backend",
    "target.name",
    "env.name",
    "env.split_seed",
)
# Keys that steer a run without changing what it computes (fault injection for resume tests).
NOT_PARAMS = ("fault.",)


def is_secret_key(key: str) -> bool:
    """True for keys such as `api_key`, `model.openai_api_key`, `hf_token`, `db.password`."""
    return bool(_SECRET_KEY.search(str(key)))


def redact(value: Any) -> Any:
    """A plain copy of a config value with every secret-looking key's value replaced."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_key(k) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, value)
    return value


def redacted_yaml(node: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(redact(node)))


def override_key(override: str) -> tuple[str, str]:
    """`+reflect.x=1` -> (`reflect.x`, `1`); `~key` -> (`key`, ``)."""
    body = override.lstrip("+~")
    key, _, value = body.partition("=")
    key = key.split("@", 1)[0].strip()
    return key, value.strip()


def run_name(
    overrides: list[str], *, exclude: tuple[str, ...] = ("reflect.seed", "train.seed")
) -> str:
    """A readable name from the job's overrides (seed left out, so seeds of one setting group), or
    `default`."""
    parts = []
    for override in overrides:
        key, value = override_key(override)
        if key in exclude or key.startswith(("hydra.", "tracking", *NOT_PARAMS)):
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}" if "." in key else f"{key}={value}")
    return ",".join(parts) or "default"


def _value(cfg: DictConfig, key: str) -> Any:
    if key == "reflect.update_mode":
        from skillopt.base.modes import normalize_update_mode

        return normalize_update_mode(OmegaConf.select(cfg, key)).value
    if key == "reflect.failure_seed":
        return OmegaConf.select(cfg, "reflect.seed")
    if key == "reflect.success_seed":
        seed = OmegaConf.select(cfg, "reflect.seed")
        return None if seed is None else int(seed) + 1
    return OmegaConf.select(cfg, key, throw_on_missing=False)


def job_params(
    cfg: DictConfig, overrides: list[str], *, curated: tuple[str, ...] = CURATED_PARAMS
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
        value = _value(cfg, key)
        if isinstance(value, DictConfig) or (value is None and key in group_choices):
            # a config group choice such as model=openai, or an overlay (experiment=...) that
            # leaves no node of its own name
            value = group_choices.get(key, "")
        elif isinstance(value, ListConfig):
            too_long[key] = OmegaConf.to_yaml(value)
            continue
        text = REDACTED if is_secret_key(key) else ("None" if value is None else str(value))
        if len(text) > PARAM_MAX_CHARS:
            too_long[key] = text
            continue
        params[key] = text
    return params, too_long


def redact_saved_configs(folder: Path) -> None:
    """Rewrite the YAML files Hydra saved in `folder` (`.hydra/`, `multirun.yaml`) if any holds a
    secret-looking value. Hydra writes them before any callback could filter them."""
    for path in folder.glob("*.yaml"):
        loaded = OmegaConf.load(path)
        original = OmegaConf.to_container(loaded, resolve=False)
        if redact(original) != original:
            write_text(path, redacted_yaml(loaded))
