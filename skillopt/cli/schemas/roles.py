"""The two LLM roles in config: `model.*` (the optimizer) and `target.*` (the model being taught).

A role's keys come from several settings classes: which backend (by name, with that backend's
options class, see `skillopt.llm.registry`), the model name, the request settings (optimizer) or
the target's answering settings, the budget guards and the price. The schema of each
`<role>/<backend>.yaml` is derived from those classes; `load_role` builds and checks them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, replace
from typing import Any, Optional

from skillopt.base.checks import SettingError
from skillopt.cli.schemas.derive import (
    build,
    field_names,
    open_schema,
    refuse_unknown,
    schema_of,
)
from skillopt.engine.environment import TargetModel
from skillopt.engine.settings import RequestSettings
from skillopt.llm.ledger import Budget, Price
from skillopt.llm.registry import backend_names, backend_spec

SECTIONS = {"optimizer": "model", "target": "target"}
REPLAY = "replay"
"""The backend whose model name may stay null: it is read from the replayed run."""

_PriceSchema = schema_of(Price)
_Priced = dataclasses.make_dataclass(
    "PricedSchema", [("price", _PriceSchema, dataclasses.field(default_factory=_PriceSchema))]
)
RequestsSchema = dataclasses.make_dataclass(
    "RequestsSchema",
    [],
    bases=(_Priced, schema_of(Budget), schema_of(RequestSettings, exclude=("name",))),
)
"""`requests/default.yaml`: how optimizer requests are made, whatever the backend."""
_OpenRequests = open_schema(RequestsSchema, name="OpenRequestsSchema")
_Target = schema_of(TargetModel, exclude=("client", "name"), name="TargetAnswerSchema")
_TargetBase = dataclasses.make_dataclass(
    "TargetBaseSchema", [], bases=(_Priced, schema_of(Budget), _Target)
)


def role_schema(role: str, backend: str) -> type:
    """The schema of `<role>/<backend>.yaml`: backend, name, the backend's own options, and the
    request settings (optimizer: left to `requests/default.yaml` unless the file sets them) or
    the answering settings, budget guards and price (target)."""
    options = backend_spec(backend).options
    bases = [_OpenRequests if role == "optimizer" else _TargetBase]
    if options is not None:
        bases.insert(0, schema_of(options))
    own = [
        ("backend", str, dataclasses.field(default=backend)),
        ("name", Optional[str], dataclasses.field(default=None)),  # noqa: UP045 - OmegaConf
    ]
    title = f"{SECTIONS[role].title()}{backend.title().replace('_', '')}Schema"
    return dataclasses.make_dataclass(title, own, bases=tuple(bases))


@dataclass(frozen=True, kw_only=True)
class RoleConfig:
    """One role's checked config. `requests` is the optimizer's request settings; `answering` the
    target's (its client is attached when the job builds it). `name` is None only for replay,
    which takes the name the replayed run used."""

    role: str
    backend: str
    name: str | None
    budget: Budget
    price: Price
    options: Any
    requests: RequestSettings | None = None
    answering: TargetModel | None = None

    @property
    def section(self) -> str:
        return SECTIONS[self.role]


def load_role(role: str, values: dict[str, Any], *, calls: bool = True) -> RoleConfig:
    """Build and check the settings of `role` from its composed config section. With `calls`
    (the job will make calls), the variable its API key is read from must be set."""
    section = SECTIONS[role]
    backend = values.get("backend")
    if backend not in backend_names():
        raise SettingError(
            f"{section}.backend", backend, f"expected one of {', '.join(backend_names())}"
        )
    name = values.get("name")
    if name is None and backend != REPLAY:
        raise SettingError(f"{section}.name", name, "expected the model's name")
    shown_name = name or "(the replayed run's)"
    options_cls = backend_spec(backend).options
    parts = [Budget, RequestSettings if role == "optimizer" else TargetModel]
    known = {"backend", "name", "price"}.union(*(field_names(c) for c in parts))
    if options_cls is not None:
        known |= field_names(options_cls)
    refuse_unknown(values, known - {"client"}, section=section)
    requests = answering = None
    if role == "optimizer":
        requests = build(RequestSettings, values, section=section, strict=False, name=shown_name)
    else:
        answering = build(
            TargetModel, values, section=section, strict=False, name=shown_name, client=None
        )
    options = None
    if options_cls is not None:
        options = build(options_cls, values, section=section, strict=False)
    key_env = getattr(options, "key_env", None)
    if calls and key_env and not os.environ.get(key_env):
        raise SettingError(
            f"{section}.api_key_env",
            key_env,
            "names an environment variable that is not set; export the API key there",
        )
    return RoleConfig(
        role=role,
        backend=backend,
        name=name,
        budget=build(Budget, values, section=section, strict=False),
        price=build(Price, values.get("price") or {}, section=f"{section}.price"),
        options=options,
        requests=requests,
        answering=answering,
    )


def with_name(config: RoleConfig, name: str) -> RoleConfig:
    """`config` with its model name settled (a replay learns it from the replayed run)."""
    return replace(
        config,
        name=name,
        requests=None if config.requests is None else replace(config.requests, name=name),
        answering=None if config.answering is None else replace(config.answering, name=name),
    )
