"""The commands that re-create a run: re-run its job, or replay it from its recorded calls.

A replay answers every request from the original run's `llm_calls/`, so the requests must be
built exactly as before: every override is kept except the model backend choice and the
`model.*` options that only concern the original backend (endpoint, key, timeouts, retries,
name, price). Request-shaping options (`max_tokens`, `temperature`, `json_schema`, ...) stay.

A training run (`skillopt-train`) replays both roles (`model=replay`, `target=replay`) from its
`llm_calls/optimizer/` and `llm_calls/target/`; `--verify-replay` compares reflect patches, so
it verifies skillopt-reflect runs only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from skillopt.tracking.names import Artifact, Tag
from skillopt.tracking.params import override_key
from skillopt.tracking.records import RunRecord

CONSOLE_SCRIPT = "skillopt-reflect"
TRAIN_CONSOLE_SCRIPT = "skillopt-train"
REDACTED = "***redacted***"

# model.* options a replay must keep: they shape the requests (and so the recorded call keys)
# or which calls are made at all.
REQUEST_MODEL_OPTIONS = frozenset(
    {
        "max_tokens",
        "full_rewrite_max_tokens",
        "temperature",
        "json_schema",
        "parse_retries",
        "max_calls",
        "max_cost_usd",
    }
)


def replay_overrides(overrides: list[str], *, sections: tuple[str, ...] = ("model",)) -> list[str]:
    """The original overrides a replay must repeat (see the module docstring) for the replayed
    `sections` (model, and target for a training run); `tracking.uri` is dropped too, since the
    replay names the store explicitly."""
    kept = []
    for override in overrides:
        key, _ = override_key(override)
        if key in sections or key == "tracking.uri":
            continue
        head, _, rest = key.partition(".")
        if head in sections and rest.split(".")[0] not in REQUEST_MODEL_OPTIONS:
            continue
        kept.append(override)
    return kept


def replay_blocker(run: RunRecord) -> str | None:
    """Why `run` has nothing to replay, or None if it has recorded calls to replay."""
    if not run.finished:
        return f"the run ended {run.status}"
    if Artifact.LLM_CALLS not in run.artifact_dirs:
        return "the run recorded no calls (no llm_calls/ artifacts)"
    return None


def replay_args(run: RunRecord, *, tracking_uri: str) -> list[str]:
    """Arguments of `skillopt-reflect` (or `skillopt-train`) that replay `run` from the store
    at `tracking_uri`."""
    sections = ("model", "target") if run.is_training else ("model",)
    return [
        *(a for s in sections for a in (f"{s}=replay", f"{s}.run_id={run.run_id}")),
        *replay_overrides(run.overrides, sections=sections),
        f"tracking.uri={tracking_uri}",
    ]


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    """Everything the report's "Reproduce" section says about one run."""

    recorded_command: str | None
    overrides: list[str]
    cwd: str | None
    git_commit: str
    git_dirty: str
    skillopt_version: str
    mlflow_version: str
    rerun: list[str]
    replay: list[str]
    replay_blocker: str | None
    redacted: bool

    def shell(self, argv: list[str]) -> str:
        """`argv` as one shell line, started from the run's working directory when known."""
        command = shlex.join(argv)
        return f"cd {shlex.quote(self.cwd)} && {command}" if self.cwd else command

    def as_dict(self) -> dict[str, object]:
        """Plain data; `replay` is [] and `replay_shell` None when there is no replay command."""
        return {
            "recorded_command": self.recorded_command,
            "overrides": self.overrides,
            "cwd": self.cwd,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "skillopt_version": self.skillopt_version,
            "mlflow_version": self.mlflow_version,
            "rerun": self.rerun,
            "rerun_shell": self.shell(self.rerun),
            "replay": self.replay,
            "replay_shell": self.shell(self.replay) if self.replay else None,
            "replay_blocker": self.replay_blocker,
            "secrets_redacted": self.redacted,
        }


def reproduction(run: RunRecord, *, tracking_uri: str) -> Reproduction:
    """How to re-create `run`: its recorded command and provenance, the command that re-runs this
    one job, and the command that replays it from its recorded calls."""
    overrides = run.overrides
    script = TRAIN_CONSOLE_SCRIPT if run.is_training else CONSOLE_SCRIPT
    rerun = [script, *overrides]
    replay = [script, *replay_args(run, tracking_uri=tracking_uri)]
    return Reproduction(
        recorded_command=run.tags.get(Tag.COMMAND),
        overrides=overrides,
        cwd=run.cwd,
        git_commit=run.tags.get(Tag.GIT_COMMIT, "unknown"),
        git_dirty=run.tags.get(Tag.GIT_DIRTY, "unknown"),
        skillopt_version=run.tags.get(Tag.VERSION, "unknown"),
        mlflow_version=run.tags.get(Tag.MLFLOW_VERSION, "unknown"),
        rerun=rerun,
        replay=replay,
        replay_blocker=replay_blocker(run),
        redacted=any(REDACTED in o for o in overrides),
    )
