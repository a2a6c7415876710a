"""Where the bundled config tree, prompt templates and example data live.

In a source checkout `conf/` and `prompts/` sit beside the package; in an installed
wheel they are copied inside it (`skillopt/conf`, `skillopt/prompts`). Everything that
needs them asks here, so both layouts work without a flag.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `skillopt` package


def _bundled(name: str) -> Path:
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    beside = PACKAGE_DIR.parent / name
    if beside.is_dir():
        return beside
    raise FileNotFoundError(
        f"skillopt is installed without its '{name}/' folder (looked in {inside} and {beside})"
    )


def conf_dir() -> Path:
    """The Hydra config tree (`conf/`)."""
    return _bundled("conf")


def prompts_dir() -> Path:
    """The built-in prompt templates (`prompts/`)."""
    return _bundled("prompts")


def resource_path(relative: str) -> str:
    """Absolute path of a file shipped inside the package, e.g. `examples/qa/skill.md`."""
    path = PACKAGE_DIR / relative
    if not path.exists():
        raise FileNotFoundError(f"no bundled resource '{relative}' (looked for {path})")
    return str(path)
