"""Config schemas at the boundary: derived from the settings classes, registered with Hydra,
and turned back into checked settings for a job (`load_reflect`, `load_train`)."""

from skillopt.cli.schemas.apps import (
    EnvConfig,
    ReflectConfig,
    TrainConfig,
    load,
    load_reflect,
    load_train,
    register_schemas,
)
from skillopt.cli.schemas.roles import RoleConfig, with_name

__all__ = [
    "EnvConfig",
    "ReflectConfig",
    "RoleConfig",
    "TrainConfig",
    "load",
    "load_reflect",
    "load_train",
    "register_schemas",
    "with_name",
]
