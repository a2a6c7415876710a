"""Settings that only the command line has: where a reflect job's inputs are, extra analyst
context, prompt override folders, and test hooks. Each checks itself like the engine's do."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from skillopt.base.checks import SettingError, check_int, check_text, choice
from skillopt.base.errors import ConfigError, SkillOptError
from skillopt.tracking.registry import parse_prompt_uri

BAD_RECORD_POLICIES = ("error", "skip")


def check_skill_source(field: str, value: str) -> None:
    """A skill input is an existing file or a `prompts:/NAME/VERSION|@ALIAS` URI (fetched from
    the registry when the job starts)."""
    try:
        prompt = parse_prompt_uri(value)
    except SkillOptError:
        raise SettingError(
            field, value, "expected prompts:/NAME/VERSION or prompts:/NAME@ALIAS"
        ) from None
    if prompt is None and (not value or not Path(value).expanduser().is_file()):
        raise SettingError(field, value, "expected an existing skill file or a prompts:/ URI")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """A reflect job's inputs (`data.*`): a rollout directory in SkillOpt's layout and the skill
    the trajectories were produced with. name: a label for the run. on_bad_record: error (stop
    at the first malformed results line, naming file and line) or skip (leave it out, list it)."""

    name: str | None = None
    rollout_dir: str = "???"
    skill_path: str = "???"
    on_bad_record: str = "error"

    def __post_init__(self) -> None:
        check_text("rollout_dir", self.rollout_dir)
        check_text("skill_path", self.skill_path)
        if not Path(self.rollout_dir).expanduser().is_dir():
            raise SettingError("rollout_dir", self.rollout_dir, "expected an existing directory")
        check_skill_source("skill_path", self.skill_path)
        policy = choice("on_bad_record", self.on_bad_record, BAD_RECORD_POLICIES)
        object.__setattr__(self, "on_bad_record", policy)


@dataclass(frozen=True, kw_only=True)
class ContextConfig:
    """Extra analyst context for a reflect job (`context.*`): the step buffer text ("previous
    steps in this epoch") and the optimizer meta skill, each given as text or as a file."""

    step_buffer: str = ""
    step_buffer_file: str | None = None
    meta_skill: str = ""
    meta_skill_file: str | None = None

    def __post_init__(self) -> None:
        for key in ("step_buffer", "meta_skill"):
            if getattr(self, key) and getattr(self, f"{key}_file"):
                raise SettingError(
                    f"{key}_file",
                    getattr(self, f"{key}_file"),
                    f"give {key} or {key}_file, not both",
                )

    def text(self, key: str) -> str:
        """The `key` context: its text, or the content of its file."""
        path = getattr(self, f"{key}_file")
        if not path:
            return getattr(self, key)
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"context.{key}_file={path}: file not found")
        return file.read_text(encoding="utf-8")


@dataclass(frozen=True, kw_only=True)
class PromptsConfig:
    """`prompts.dirs`: folders whose `.md` files override the built-in prompts of the same name
    (searched in order, before the built-in folder)."""

    dirs: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for index, folder in enumerate(self.dirs):
            if not Path(folder).expanduser().is_dir():
                raise SettingError(f"dirs[{index}]", folder, "expected an existing directory")


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Test hooks, never hyperparameters and never logged as params (`fault.*`).

    stop_after_step: raise after this global step is saved, to test resuming."""

    stop_after_step: int | None = None

    def __post_init__(self) -> None:
        check_int("stop_after_step", self.stop_after_step, minimum=1, optional=True)
