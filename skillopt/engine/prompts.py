"""Analyst prompts: the system template chosen by mode and kind, and the user message.

Templates are markdown files. The built-in ones live in `prompts/`; each folder in
`prompts.dirs` is searched first, so a file of the same name there overrides the built-in one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skillopt.base.errors import ConfigError
from skillopt.base.modes import ModeSpec, UpdateMode

Kind = Literal["failure", "success"]

META_SKILL_PREAMBLE = (
    "What the optimizer has learned in earlier epochs about proposing, merging and ranking changes. "
    "Let it guide you where the trajectories leave a choice open; where they clearly point elsewhere, "
    "follow the trajectories."
)


def template_name(spec: ModeSpec, kind: Kind) -> str:
    """`analyst_error`, `analyst_success_rewrite`, `analyst_error_full_rewrite`, ..."""
    base = "analyst_error" if kind == "failure" else "analyst_success"
    return base + spec.template_suffix


@dataclass(frozen=True, kw_only=True)
class Template:
    name: str
    text: str
    path: Path


class PromptLibrary:
    """Finds templates by name: override folders first (in order), then the built-in folder."""

    def __init__(
        self, *, builtin_dir: str | Path, override_dirs: Sequence[str | Path] = ()
    ) -> None:
        self.search_path = [Path(d).expanduser() for d in override_dirs] + [Path(builtin_dir)]
        for folder in self.search_path[:-1]:
            if not folder.is_dir():
                raise ConfigError(f"prompts.dirs entry is not a directory: {folder}")
        self._cache: dict[str, Template] = {}

    def get(self, name: str) -> Template:
        if name not in self._cache:
            for folder in self.search_path:
                path = folder / f"{name}.md"
                if path.is_file():
                    self._cache[name] = Template(
                        name=name, text=path.read_text(encoding="utf-8"), path=path
                    )
                    break
            else:
                where = ", ".join(str(d) for d in self.search_path)
                raise ConfigError(f"prompt template '{name}.md' not found in {where}")
        return self._cache[name]


def format_meta_skill(content: str) -> str:
    """The optimizer meta-skill block, or "" when there is none."""
    content = content.strip()
    if not content:
        return ""
    return f"## Optimizer Meta Skill\n{META_SKILL_PREAMBLE}\n\n{content}"


def build_user_message(
    *,
    skill: str,
    spec: ModeSpec,
    kind: Kind,
    edit_budget: int,
    trajectories_block: str,
    trajectory_count: int,
    step_context: str = "",
    meta_skill: str = "",
) -> str:
    """The analyst's user message: skill, budget (or update format), context, trajectories."""
    sections = [f"## Current Skill\n{skill.rstrip()}"]
    if spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH:
        sections.append(
            "## Update Format\n"
            "Return exactly one skill candidate: the complete new skill document for this minibatch. "
            "Do not return edits or suggestions."
        )
    else:
        title = spec.plural.title()
        limit = (
            f"Propose at most {edit_budget} {spec.label(edit_budget)}; fewer is fine when fewer generalise."
            if edit_budget >= 0
            else f"No fixed limit; propose only the {spec.plural} that generalise."
        )
        sections.append(f"## {title} Budget\n{limit}")
    if step_context.strip():
        sections.append(f"## Previous Steps in This Epoch\n{step_context.strip()}")
    meta = format_meta_skill(meta_skill)
    if meta:
        sections.append(meta)
    heading = "Failed Trajectories" if kind == "failure" else "Successful Trajectories"
    sections.append(f"## {heading} ({trajectory_count} total)\n{trajectories_block}")
    return "\n\n".join(sections)
