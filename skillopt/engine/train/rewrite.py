"""Stage UPDATE for the two rewrite modes: a whole new skill instead of edits.

`rewrite_from_suggestions` asks the optimizer to rewrite the skill from the selected
suggestions; `full_rewrite_minibatch` takes the first merged candidate that holds a skill. In
both, the protected blocks of the new skill are made exactly those of the old one, because a
rewrite must not be able to delete, edit or double the slow-update guidance or the appendix
(SkillOpt only trusted the model to copy them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skillopt.base.errors import ReplyError
from skillopt.base.skill import keep_protected
from skillopt.engine.ask import Asker, require_text

STAGE = "rewrite"


@dataclass(frozen=True, kw_only=True)
class RewriteOutcome:
    """The new skill (None when there is none, see `error`) and what the rewrite says it changed."""

    new_skill: str | None
    change_summary: list[str] = field(default_factory=list)
    reasoning: str = ""
    restored_blocks: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _parse_rewrite(reply: object) -> tuple[str, list[str], str]:
    new_skill = require_text(reply, "new_skill")
    assert isinstance(reply, dict)
    summary = reply.get("change_summary") or []
    if not isinstance(summary, list):
        raise ReplyError("'change_summary' must be a list of strings")
    return new_skill, [str(s) for s in summary], str(reply.get("reasoning") or "")


def rewrite_from_suggestions(
    *,
    skill: str,
    suggestions: Sequence[dict[str, Any]],
    asker: Asker,
    max_tokens: int,
    step_context: str = "",
) -> RewriteOutcome:
    if not suggestions:
        return RewriteOutcome(new_skill=None, error="no suggestions selected")
    parts = [
        f"## Current Skill\n{skill.rstrip()}",
        f"## Selected Revise Suggestions ({len(suggestions)} total)\n"
        + json.dumps(list(suggestions), indent=2, ensure_ascii=False),
    ]
    if step_context.strip():
        parts.append(f"## Previous Steps in This Epoch\n{step_context.strip()}")
    parts.append("Return the complete revised skill in `new_skill`.")
    answer = asker.ask(
        template="rewrite_skill",
        user="\n\n".join(parts),
        max_tokens=max_tokens,
        reply_format="rewrite_skill",
        stage=STAGE,
        label=f"{len(suggestions)}_suggestions",
        parse=_parse_rewrite,
    )
    if not answer.ok:
        return RewriteOutcome(new_skill=None, error=answer.error)
    new_skill, summary, reasoning = answer.value
    new_skill, restored = keep_protected(skill, new_skill)
    return RewriteOutcome(
        new_skill=new_skill, change_summary=summary, reasoning=reasoning, restored_blocks=restored
    )


def pick_candidate(skill: str, candidates: Sequence[dict[str, Any]]) -> RewriteOutcome:
    """Full-rewrite mode: the first candidate with a non-empty `new_skill`."""
    for candidate in candidates:
        text = str(candidate.get("new_skill") or "")
        if text.strip():
            new_skill, restored = keep_protected(skill, text)
            return RewriteOutcome(
                new_skill=new_skill,
                change_summary=[str(s) for s in candidate.get("change_summary") or []],
                reasoning=str(candidate.get("title") or ""),
                restored_blocks=restored,
            )
    return RewriteOutcome(new_skill=None, error="no merged candidate holds a non-empty new_skill")
