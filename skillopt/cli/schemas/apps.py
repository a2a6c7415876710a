"""The two apps' configs: their Hydra schemas, registered in the ConfigStore, and the checked,
typed values a job runs with.

Every YAML file under `conf/` names its schema first in its defaults list (the primary configs
`reflect_app`/`train_app`; group files `/schema/<group>/<name>@_here_`), so a value of the wrong
type fails while Hydra composes. `load_reflect`/`load_train` then build every settings object
from the composed config; each checks its own ranges, choices and cross-field rules, and the
first refused value is a one-line SettingError naming its full key.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from skillopt.base.checks import SettingError
from skillopt.base.errors import ConfigError
from skillopt.base.resources import resource_path
from skillopt.cli.schemas.derive import (
    build,
    field_names,
    refuse_unknown,
    schema_of,
    signature_schema,
)
from skillopt.cli.schemas.groups import (
    ContextConfig,
    DataConfig,
    FaultConfig,
    PromptsConfig,
    check_skill_source,
)
from skillopt.cli.schemas.roles import RequestsSchema, RoleConfig, load_role, role_schema
from skillopt.engine.environment import Environment
from skillopt.engine.settings import ReflectSettings
from skillopt.engine.train.settings import GateSettings, TrainSettings
from skillopt.llm.registry import backend_names
from skillopt.tracking.registry import RegistrySettings
from skillopt.tracking.settings import TrackingSettings

# What a training job's `reflect.*` may not set: each step brings its own budget and seed.
PER_STEP = ("edit_budget", "seed", "dry_run")
# Environments whose config files extend a schema derived from their constructor.
ENV_CLASSES = {
    "qa": "skillopt.envs.qa.QAEnvironment",
    "arithmetic": "skillopt.examples.custom_env.ArithmeticEnvironment",
}
ENV_OWN_KEYS = ("_target_", "skill_path")  # env keys the loop reads; the rest go to the class


ReflectSchema = schema_of(ReflectSettings)
AnalystSchema = schema_of(ReflectSettings, exclude=PER_STEP, name="AnalystSchema")
ContextSchema = schema_of(ContextConfig)
PromptsSchema = schema_of(PromptsConfig)
TrainSchema = schema_of(TrainSettings)
GateSchema = schema_of(GateSettings)
FaultSchema = schema_of(FaultConfig)
RegistrySchema = schema_of(RegistrySettings)


@dataclass
class ReflectAppSchema:
    """`skillopt-reflect`'s primary config; `data`, `model` and `tracking` come from groups."""

    reflect: ReflectSchema = field(default_factory=ReflectSchema)  # type: ignore[valid-type]
    context: ContextSchema = field(default_factory=ContextSchema)  # type: ignore[valid-type]
    prompts: PromptsSchema = field(default_factory=PromptsSchema)  # type: ignore[valid-type]
    data: Any = MISSING
    model: Any = MISSING
    tracking: Any = MISSING


@dataclass
class TrainAppSchema:
    """`skillopt-train`'s primary config; `env`, `model`, `target` and `tracking` come from
    groups."""

    train: TrainSchema = field(default_factory=TrainSchema)  # type: ignore[valid-type]
    gate: GateSchema = field(default_factory=GateSchema)  # type: ignore[valid-type]
    reflect: AnalystSchema = field(default_factory=AnalystSchema)  # type: ignore[valid-type]
    prompts: PromptsSchema = field(default_factory=PromptsSchema)  # type: ignore[valid-type]
    fault: FaultSchema = field(default_factory=FaultSchema)  # type: ignore[valid-type]
    registry: RegistrySchema = field(default_factory=RegistrySchema)  # type: ignore[valid-type]
    env: Any = MISSING
    model: Any = MISSING
    target: Any = MISSING
    tracking: Any = MISSING


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


RESOURCE_RESOLVER = "skillopt.resource"


def register_schemas() -> None:
    """Put every schema in Hydra's ConfigStore, and register the `${skillopt.resource:...}`
    resolver (a file shipped inside the package). Idempotent; call before Hydra composes."""
    if not OmegaConf.has_resolver(RESOURCE_RESOLVER):
        OmegaConf.register_new_resolver(RESOURCE_RESOLVER, resource_path)
    store = ConfigStore.instance()
    store.store(name="reflect_app", node=ReflectAppSchema)
    store.store(name="train_app", node=TrainAppSchema)
    store.store(group="schema/requests", name="default", node=RequestsSchema)
    store.store(group="schema/data", name="default", node=schema_of(DataConfig))
    store.store(group="schema/tracking", name="default", node=schema_of(TrackingSettings))
    for backend in backend_names():
        store.store(group="schema/model", name=backend, node=role_schema("optimizer", backend))
        store.store(group="schema/target", name=backend, node=role_schema("target", backend))
    for name, path in ENV_CLASSES.items():
        node = signature_schema(
            _import(path),
            name=f"{name.title()}EnvSchema",
            extra=[("skill_path", str, "???")],
        )
        store.store(group="schema/env", name=name, node=node)


# ------------------------------------------------------------------------ typed configs


@dataclass(frozen=True, kw_only=True)
class EnvConfig:
    """The environment: its class (`_target_`), its constructor arguments, and the initial skill
    the loop reads itself (`skill_path`)."""

    target: str
    skill_path: str
    kwargs: dict[str, Any]

    def instantiate(self) -> Environment:
        """The environment object; a refused argument is a SettingError under `env.`."""
        try:
            cls = _import(self.target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise SettingError(
                "env._target_", self.target, f"expected an importable class ({exc})"
            ) from None
        try:
            env = cls(**self.kwargs)
        except SettingError as exc:
            raise exc.at("env") from None
        except TypeError as exc:
            raise SettingError("env._target_", self.target, f"cannot build it: {exc}") from None
        for member in ("name", "splits", "rollout"):
            if not hasattr(env, member):
                raise SettingError(
                    "env._target_", self.target, f"has no '{member}': not an Environment"
                )
        return env

    @property
    def name(self) -> str:
        return str(self.kwargs.get("name") or self.target.rpartition(".")[2])


@dataclass(frozen=True, kw_only=True)
class ReflectConfig:
    """What `skillopt-reflect` runs with, every part checked."""

    reflect: ReflectSettings
    model: RoleConfig
    data: DataConfig
    context: ContextConfig
    prompts: PromptsConfig
    tracking: TrackingSettings


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What `skillopt-train` runs with, every part checked."""

    train: TrainSettings
    gate: GateSettings
    reflect: ReflectSettings
    model: RoleConfig
    target: RoleConfig
    env: EnvConfig
    prompts: PromptsConfig
    fault: FaultConfig
    registry: RegistrySettings
    tracking: TrackingSettings


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The composed config without `hydra`, resolved; a missing mandatory value (`???`) is a
    ConfigError naming its key."""
    try:
        node = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        values = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = exc.full_key
        raise ConfigError(
            f"{key} is required but not set (give it on the command line: {key}=...)"
        ) from None
    assert isinstance(values, dict)
    return values


def _tracking(values: Mapping[str, Any], default_experiment: str) -> TrackingSettings:
    section = values.get("tracking") or {"enabled": False, "experiment": default_experiment}
    return build(TrackingSettings, section, section="tracking")


def load_tracking(cfg: DictConfig) -> TrackingSettings:
    """The checked tracking settings alone (a sweep's own config may leave other values to its
    jobs, such as a swept `data.rollout_dir`)."""
    node = OmegaConf.select(cfg, "tracking")
    values = {} if node is None else OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    return _tracking({"tracking": values} if values else {}, "skillopt-reflect")


def load_reflect(cfg: DictConfig) -> ReflectConfig:
    """The checked config of a `skillopt-reflect` job."""
    values = plain(cfg)
    reflect = build(ReflectSettings, values["reflect"], section="reflect")
    return ReflectConfig(
        reflect=reflect,
        model=load_role("optimizer", values["model"], calls=not reflect.dry_run),
        data=build(DataConfig, values["data"], section="data"),
        context=build(ContextConfig, values.get("context") or {}, section="context"),
        prompts=build(PromptsConfig, values.get("prompts") or {}, section="prompts"),
        tracking=_tracking(values, "skillopt-reflect"),
    )


def load_train(cfg: DictConfig) -> TrainConfig:
    """The checked config of a `skillopt-train` job (the environment is built once to check
    its arguments; it reads its data only when asked for splits)."""
    values = plain(cfg)
    env_values = dict(values["env"])
    if "_target_" not in env_values:
        raise SettingError("env._target_", None, "expected the environment class to build")
    env = EnvConfig(
        target=str(env_values["_target_"]),
        skill_path=str(env_values.get("skill_path") or ""),
        kwargs={k: v for k, v in env_values.items() if k not in ENV_OWN_KEYS},
    )
    check_skill_source("env.skill_path", env.skill_path)
    env.instantiate()
    reflect = values["reflect"]
    refuse_unknown(reflect, field_names(ReflectSettings) - set(PER_STEP), section="reflect")
    return TrainConfig(
        train=build(TrainSettings, values["train"], section="train"),
        gate=build(GateSettings, values["gate"], section="gate"),
        reflect=build(ReflectSettings, reflect, section="reflect", strict=False),
        model=load_role("optimizer", values["model"]),
        target=load_role("target", values["target"]),
        env=env,
        prompts=build(PromptsConfig, values.get("prompts") or {}, section="prompts"),
        fault=build(FaultConfig, values.get("fault") or {}, section="fault"),
        registry=build(RegistrySettings, values.get("registry") or {}, section="registry"),
        tracking=_tracking(values, "skillopt-train"),
    )


def load(cfg: DictConfig) -> ReflectConfig | TrainConfig:
    """The checked config of whichever app composed `cfg` (a training config has `train`)."""
    return load_train(cfg) if "train" in cfg else load_reflect(cfg)
