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

from skillopt.engine.ask import Asker, require_text
from skillopt.engine.train.update import MARKER_PAIRS, normalize_skill, protected_regions
from skillopt.errors import ReplyError

STAGE = "rewrite"


@dataclass(frozen=True, kw_only=True)
class RewriteOutcome:
    """The new skill (None when there is none, see `error`) and what the rewrite says it changed."""

    new_skill: str | None
    change_summary: list[str] = field(default_factory=list)
    reasoning: str = ""
    restored_blocks: int = 0
    error: str | None = None

    def document(self) -> dict[str, Any]:
        return dict(vars(self))


def _blocks(text: str, start_marker: str) -> list[tuple[int, int]]:
    """Spans of the closed protected blocks in `text` that open with `start_marker`."""
    return [(s, e) for s, e in protected_regions(text) if text.startswith(start_marker, s)]


def _join(left: str, right: str) -> str:
    """Two pieces of a document around a removed block, at most one blank line between them."""
    if not left.strip():
        return right.lstrip("\n")
    if not right.strip():
        return left
    return left.rstrip("\n") + "\n\n" + right.lstrip("\n")


def keep_protected(old: str, new: str) -> tuple[str, int]:
    """`new` with exactly the protected blocks of `old`, and how many had to be put back.

    Per kind of block (slow update, appendix): when the blocks of `new` are not verbatim those
    of `old`, every block and stray marker of that kind is taken out of `new`, and the blocks of
    `old` go where the first of them was (at the end when `new` had none). So a block the
    rewrite dropped or altered is restored, and one it invented or copied twice is removed.
    """
    restored = 0
    for start_marker, end_marker in MARKER_PAIRS:
        wanted = [old[s:e] for s, e in _blocks(old, start_marker)]
        found = _blocks(new, start_marker)
        if [new[s:e] for s, e in found] == wanted:
            continue
        restored += sum(block not in new for block in wanted)
        pieces, pos = [], 0
        for s, e in found:
            if s >= pos:  # a block nested in one already taken out goes with it
                pieces.append(new[pos:s])
                pos = e
        pieces.append(new[pos:])
        pieces = [p.replace(start_marker, "").replace(end_marker, "") for p in pieces]
        body = "\n\n".join(wanted)
        if not found and body:
            pieces[0] = pieces[0].rstrip() + "\n\n" + body + "\n"
        elif body:
            pieces[0] = _join(pieces[0], body)
        text = pieces[0]
        for piece in pieces[1:]:
            text = _join(text, piece)
        new = text
    return normalize_skill(new), restored


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
