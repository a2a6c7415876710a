"""The reflect step's settings: the analysts' hyperparameters and how their requests are made.

These dataclasses are the single source of truth for their fields, defaults and allowed values:
the Hydra schemas of `reflect.*` and `model.*` are derived from them (`skillopt.cli.schemas`),
and each checks itself on construction, so a value is validated the same way from a config
file, the command line or Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skillopt.base.checks import check_bool, check_int, check_number, check_text
from skillopt.base.modes import UpdateMode, normalize_update_mode
from skillopt.engine.formatting import ClipLimits, FormatSettings


@dataclass(frozen=True, kw_only=True)
class ReflectSettings:
    """Reflect hyperparameters (`reflect.*` in config).

    minibatch_size: trajectories per analyst call (M), default 8.
    edit_budget: payload items kept per minibatch (L), default 4; -1 keeps all.
    update_mode: patch | rewrite_from_suggestions | full_rewrite_minibatch, or a SkillOpt alias
        (stored as the canonical name).
    seed: shuffles failures with Random(seed) and successes with Random(seed + 1); None keeps order.
    workers: concurrent analyst calls, default 8.
    failure_only: skip the success analysts.
    skill_aware: the failure analysts also sort each failure into a skill gap (fixed by an edit)
        or an execution lapse (a short note for the skill's protected execution-notes appendix,
        returned as `appendix_notes`); ignored, with a warning, in full_rewrite_minibatch mode.
    dry_run: build and return every request without calling anything.
    max_trajectory_chars: longer trajectories keep head and tail around a marker (0 = no limit).
    include_codex_trace: add codex_trace_summary sections (SkillOpt's process-wide env var).
    clip: per-field character limits applied before the whole-trajectory limit.
    """

    minibatch_size: int = 8
    edit_budget: int = 4
    update_mode: str = "patch"
    seed: int | None = 42
    workers: int = 8
    failure_only: bool = False
    skill_aware: bool = False
    dry_run: bool = False
    max_trajectory_chars: int = 12000
    include_codex_trace: bool = False
    clip: ClipLimits = field(default_factory=ClipLimits)
    formatting: FormatSettings = field(init=False, repr=False, compare=False)
    """How the trajectories are rendered: built from the three fields above."""

    def __post_init__(self) -> None:
        check_int("minibatch_size", self.minibatch_size, minimum=1)
        check_int("edit_budget", self.edit_budget, minimum=-1, note="-1 keeps all")
        object.__setattr__(self, "update_mode", normalize_update_mode(self.update_mode).value)
        check_int("seed", self.seed, optional=True, note="null keeps the input order")
        check_int("workers", self.workers, minimum=1)
        check_bool("failure_only", self.failure_only)
        check_bool("skill_aware", self.skill_aware)
        check_bool("dry_run", self.dry_run)
        formatting = FormatSettings(
            max_trajectory_chars=self.max_trajectory_chars,
            include_codex_trace=self.include_codex_trace,
            clip=self.clip,
        )
        object.__setattr__(self, "formatting", formatting)

    @property
    def skill_aware_active(self) -> bool:
        """Skill-aware reflection is on and the mode can use it (a full rewrite replaces the
        whole skill, appendix included, so it has no notes to add)."""
        return self.skill_aware and self.update_mode != UpdateMode.FULL_REWRITE_MINIBATCH.value

    @property
    def skill_aware_ignored(self) -> bool:
        """`skill_aware` was asked for in a mode that ignores it (the caller warns once)."""
        return self.skill_aware and not self.skill_aware_active


@dataclass(frozen=True, kw_only=True)
class RequestSettings:
    """How optimizer requests are made (`model.*` in config).

    name: model name sent to the endpoint.
    max_tokens: completion limit for patch and rewrite modes (16384).
    full_rewrite_max_tokens: completion limit for full rewrites, which return a whole skill (64000).
    temperature: None leaves the server default; else 0..2.
    json_schema: also send the reply schema as a `json_schema` response format.
    parse_retries: how often a reply that does not parse or validate is asked for again (2).
    """

    name: str
    max_tokens: int = 16384
    full_rewrite_max_tokens: int = 64000
    temperature: float | None = None
    json_schema: bool = False
    parse_retries: int = 2

    def __post_init__(self) -> None:
        check_text("name", self.name)
        check_int("max_tokens", self.max_tokens, minimum=1)
        check_int("full_rewrite_max_tokens", self.full_rewrite_max_tokens, minimum=1)
        check_number("temperature", self.temperature, minimum=0, maximum=2, optional=True)
        check_bool("json_schema", self.json_schema)
        check_int("parse_retries", self.parse_retries, minimum=0, note="0 = no follow-up")
