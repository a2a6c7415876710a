"""Checks for typed settings: one message shape for every refused value.

Every settings dataclass validates itself in `__post_init__` with these helpers, so a value is
checked in one place whether it comes from a config file, the command line or Python code. The
error names the field, the value given and what is allowed (`workers=0: expected an integer
>= 1`); the command line prefixes the field with the section it lives in (`reflect.workers=0:
...`), which only the composition root knows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from skillopt.base.errors import ConfigError

REDACTED = "***redacted***"
_SECRET_KEY = re.compile(r"(^|[._-])(api[_-]?key|token|secret|password)$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """True for keys such as `api_key`, `model.openai_api_key`, `hf_token`, `db.password`: their
    values are never shown, logged or stored."""
    return bool(_SECRET_KEY.search(str(key)))


def shown(value: Any) -> str:
    """A value as a user would type it on the command line: null, true, 3, abc."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class SettingError(ConfigError):
    """A refused value: `field` (a dotted path, relative to its settings), the value and what is
    allowed. `at(section)` gives the same error with the field's full config key."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        text = REDACTED if is_secret_key(field) else shown(value)
        super().__init__(f"{field}={text}: {allowed}")

    def at(self, section: str) -> SettingError:
        return SettingError(
            f"{section}.{self.field}" if section else self.field, self.value, self.allowed
        )


def _allowed(kind: str, bounds: list[str], *, optional: bool, note: str) -> str:
    """`expected an integer >= 1 and <= 3 (or null); note`."""
    allowed = f"expected {kind}" + (" " + " and ".join(bounds) if bounds else "")
    allowed += " (or null)" if optional else ""
    return allowed + (f"; {note}" if note else "")


def check_int(
    field: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
    note: str = "",
) -> None:
    """An integer (not a bool) within [minimum, maximum]; None too when `optional`."""
    if value is None and optional:
        return
    bounds = [f"{op} {n}" for op, n in ((">=", minimum), ("<=", maximum)) if n is not None]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise SettingError(
            field, value, _allowed("an integer", bounds, optional=optional, note=note)
        )


def check_number(
    field: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    optional: bool = False,
    note: str = "",
) -> None:
    """A finite number (not a bool) within the bounds (`above` is a strict lower bound)."""
    if value is None and optional:
        return
    limits = ((">", above), (">=", minimum), ("<=", maximum))
    bounds = [f"{op} {n:g}" for op, n in limits if n is not None]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (above is not None and value <= above)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise SettingError(field, value, _allowed("a number", bounds, optional=optional, note=note))


def check_bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SettingError(field, value, "expected true or false")


def check_text(field: str, value: Any, *, optional: bool = False) -> None:
    """A non-empty string; None too when `optional`."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise SettingError(
            field, value, "expected a non-empty string" + (" (or null)" if optional else "")
        )


def choice(
    field: str, value: Any, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str:
    """The canonical name for `value` (trimmed, lowercased; an alias maps to its choice)."""
    names = tuple(choices)
    key = str(value).strip().lower() if isinstance(value, str) else None
    if key in names:
        return key
    if aliases and key in aliases:
        return aliases[key]
    allowed = f"expected one of {', '.join(names)}"
    if aliases:
        allowed += f" (aliases: {', '.join(f'{a}->{c}' for a, c in aliases.items())})"
    raise SettingError(field, value, allowed)
