"""How the apps fail: a bad value or a failed job is one line on stderr and exit status 1.

Hydra prints composition errors over several lines with a hint about `HYDRA_FULL_ERROR`. The
apps run Hydra with that variable set, so its errors reach `run_app` as exceptions, and print
each as one line naming the key, the value given and what is allowed. A user who sets
`HYDRA_FULL_ERROR=1` themselves still gets Hydra's full traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from skillopt.base.errors import SkillOptError
from skillopt.tracking.run import incomplete_runs, settle_runs

EXIT_ERROR = 1

_TYPE_WORDS = {
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}


class JobError(CompactHydraException):
    """A SkillOptError of a job, surfaced through Hydra without a traceback."""


_CONVERSION = (
    re.compile(r"Value '(.*)' of type '\w+' could not be converted to (\w+)"),
    re.compile(r"Value '(.*)' is not a valid (bool)\b"),
)


def _value_error(exc: ValidationError) -> str | None:
    """`key=value: expected an integer` from OmegaConf's conversion error."""
    match = next((m for p in _CONVERSION if (m := p.search(str(exc)))), None)
    if not match or not exc.full_key:
        return None
    kind = {"bool": "Boolean"}.get(match.group(2), match.group(2))
    word = _TYPE_WORDS.get(kind, kind)
    optional = " (or null)" if "Optional" in str(getattr(exc, "ref_type", "")) else ""
    return f"{exc.full_key}={match.group(1)}: expected {word}{optional}"


def describe(exc: BaseException) -> str | None:
    """One line for a bad config or a job error; None for anything unexpected (a bug), which
    keeps its traceback."""
    cause = exc.__cause__
    if isinstance(exc, JobError | SkillOptError):
        return str(exc)
    if isinstance(exc, MissingConfigException):
        options = sorted(o for o in (exc.options or []) if not o.startswith("schema"))
        group, _, option = str(exc.missing_cfg_file or "").rpartition("/")
        if group and option:
            allowed = f"choose one of {', '.join(options)}" if options else "no such option"
            return f"{group.replace('/', '.')}={option}: {allowed}"
        return str(exc).splitlines()[0]
    if isinstance(exc, OverrideParseException):
        return f"cannot parse the override: {' '.join(str(exc).split())}"
    if isinstance(cause, ValidationError):
        found = _value_error(cause)
        if found:
            return found
    if isinstance(cause, ConfigKeyError) or "not in '" in str(cause or ""):
        key = getattr(cause, "full_key", None) or ""
        return f"{key}: no such key (see --help or --cfg job for the keys there are)"
    if isinstance(exc, ConfigCompositionException) or isinstance(cause, OmegaConfBaseException):
        detail = str(cause).splitlines()[0] if cause is not None else ""
        first = str(exc).splitlines()[0]
        return f"{first}: {detail}" if detail and detail not in first else first
    if isinstance(exc, OmegaConfBaseException):
        key = getattr(exc, "full_key", "")
        text = str(exc).splitlines()[0]
        return f"{key}: {text}" if key else text
    return None


def fail(prog: str, message: str) -> None:
    """Print `prog: error: message` as one line and exit with status 1."""
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(EXIT_ERROR)


def run_app(app: Callable[[], Any], *, prog: str) -> None:
    """Run a Hydra app; a bad value or failed job ends it with one line and exit status 1, and
    so do results whose tracking could not be completed (the line says how to complete it)."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        app()
        settle_runs()
        missing = incomplete_runs()
        if missing:
            for entry in missing[:-1]:
                print(f"{prog}: error: {entry.line()}", file=sys.stderr)
            fail(prog, missing[-1].line())
    except Exception as exc:  # noqa: BLE001 - every error is reported; unknown ones re-raised
        message = describe(exc)
        if message is None or before == "1":
            raise
        fail(prog, message)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before
