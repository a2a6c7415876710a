"""Where a run came from: the skillopt checkout's git commit, whether it was dirty, the command."""

from __future__ import annotations

import functools
import shlex
import subprocess
import sys
from pathlib import Path

from skillopt.base.resources import PACKAGE_DIR
from skillopt.tracking.params import redact


@functools.lru_cache(maxsize=8)
def git_state(path: Path = PACKAGE_DIR) -> tuple[str, str]:
    """(commit, dirty) of the git checkout holding `path`; ("unknown", "unknown") outside one.

    Read once per process: every job of a sweep reports the code the sweep started with."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", "unknown"
    return commit, str(bool(status.strip())).lower()


def command_line() -> str:
    """The command as typed, shell-quoted (the console script name instead of the module path),
    with secret-looking assignments redacted."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("reflect.py", "__main__.py")):
        argv[0] = "skillopt-reflect"
    else:
        argv[0] = Path(argv[0]).name
    return redact(shlex.join(argv))
