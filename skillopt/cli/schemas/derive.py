"""Hydra schemas derived from the settings classes they configure (hydra-zen's `builds` idea).

A settings dataclass (frozen, keyword-only, checked in `__post_init__`) is the one source of truth
for its fields, types and defaults. `schema_of` makes the structured config OmegaConf needs from
it: the same fields with types OmegaConf understands, mutable (Hydra merges YAML into it), and
no checks. Composition then refuses a wrong type (`reflect.minibatch_size=abc`); building the
settings from the composed values (`build`) refuses a wrong range or choice.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_PLAIN = (int, float, bool, str, Path)


def _omegaconf_type(hint: Any) -> Any:
    """The closest type OmegaConf 2.3 accepts: plain types, Optional, List, Dict, structured
    configs; Literal and other unions become Any (their choices are checked when building)."""
    if hint in _PLAIN or hint is Any:
        return hint
    if dataclasses.is_dataclass(hint):
        return schema_of(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = _omegaconf_type(rest[0])
            return Any if inner is Any else typing.Optional[inner]  # noqa: UP045 - OmegaConf
        return Any
    if origin in (list, tuple, Sequence) and args:
        return typing.List[_omegaconf_type(args[0])]  # noqa: UP006 - OmegaConf needs typing.List
    if origin in (dict, Mapping) and len(args) == 2:
        return typing.Dict[str, _omegaconf_type(args[1])]  # noqa: UP006
    return Any


_SCHEMAS: dict[tuple[type, tuple[str, ...], str | None], type] = {}


def schema_of(cls: type, *, exclude: Sequence[str] = (), name: str | None = None) -> type:
    """The structured-config schema of settings class `cls`, without the `exclude`d fields (they
    keep their defaults when the settings are built). Fields that are not init parameters
    (derived values) are left out."""
    key = (cls, tuple(sorted(exclude)), name)
    if key in _SCHEMAS:
        return _SCHEMAS[key]
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude:
            continue
        kind = _omegaconf_type(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = dataclasses.field(default=f.default)
        elif f.default_factory is not dataclasses.MISSING:
            factory = kind if dataclasses.is_dataclass(kind) else f.default_factory
            default = dataclasses.field(default_factory=factory)
        else:
            default = dataclasses.field(default="???")  # mandatory: Hydra's MISSING
        specs.append((f.name, kind, default))
    schema = dataclasses.make_dataclass(name or f"{cls.__name__}Schema", specs)
    schema.__doc__ = f"Config schema of `{cls.__module__}.{cls.__qualname__}`."
    _SCHEMAS[key] = schema
    return schema


def signature_schema(target: Any, *, name: str, extra: Sequence[tuple[str, Any, Any]] = ()) -> type:
    """A schema from the keyword parameters of `target` (a class or a function), as Hydra's
    `_target_` instantiation will call it, plus `extra` (name, type, default) fields that the
    caller reads itself. Parameters without a default are mandatory (`???`)."""
    hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    specs: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default="???"))]
    for param in inspect.signature(target).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name == "self":
            continue
        kind = _omegaconf_type(hints.get(param.name, Any))
        default = "???" if param.default is param.empty else param.default
        specs.append((param.name, kind, dataclasses.field(default=default)))
    specs.extend((n, t, dataclasses.field(default=d)) for n, t, d in extra)
    return dataclasses.make_dataclass(name, specs)


def field_names(cls: type) -> set[str]:
    """The init fields of a settings class: the keys its config section may hold."""
    return {f.name for f in dataclasses.fields(cls) if f.init}


def refuse_unknown(values: Mapping[str, Any], known: set[str], *, section: str) -> None:
    """A key that no settings class reads is an error (Hydra lets `+key=...` add one)."""
    from skillopt.base.checks import SettingError

    for key in sorted(set(values) - known):
        raise SettingError(
            f"{section}.{key}", values[key], f"no such key; known: {', '.join(sorted(known))}"
        )


def build(
    cls: type, values: Mapping[str, Any], *, section: str, strict: bool = True, **fixed: Any
) -> Any:
    """Settings `cls` from the composed `values` of `section` (nested settings are built too)
    plus `fixed` values. With `strict`, a key that is not a field of `cls` is refused; a section
    read by several classes passes `strict=False` and checks its keys itself. A refused value
    raises the settings' SettingError with its full config key."""
    from skillopt.base.checks import SettingError

    if strict:
        refuse_unknown(values, field_names(cls) - set(fixed), section=section)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in values or f.name in fixed:
            continue
        value = values[f.name]
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = build(hint, value, section=f"{section}.{f.name}")
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs, **fixed)
    except SettingError as exc:
        raise exc.at(section) from None


def open_schema(schema: type, *, name: str) -> type:
    """A subclass of `schema` whose fields all default to MISSING (`???`). Merged over a node
    that already holds values, a MISSING field keeps them: so a config file extending it sets
    only what it names, on top of an earlier group (`requests@model` before `model`)."""
    specs = [(f.name, f.type, dataclasses.field(default="???")) for f in dataclasses.fields(schema)]
    return dataclasses.make_dataclass(name, specs, bases=(schema,))
