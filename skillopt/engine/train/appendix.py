"""After the gate: the step's execution notes go into the skill's protected appendix (spec §7.4).

With `reflect.skill_aware`, failure analysts write execution lapses down as notes instead of
edits. Each step's notes are merged into the current skill's "Execution Notes Appendix" block
(deduplicated ignoring case, whitespace and trailing punctuation, order kept, the block moved to
the end), on gated and skipped steps alike. When the block holds more notes than
`train.appendix_consolidate_threshold` (> 0), one optimizer call may compact it; its result is
kept only if it is non-empty and no longer than the notes it replaces.

Unlike SkillOpt, the notes go into the *current* skill only: the best skill is always one the
gate measured, so notes reach it inside a later candidate that passed the gate. The current
score stays that of the gated skill. No empty block is injected at the start: the block appears
with the first note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillopt.base.errors import ReplyError
from skillopt.base.skill import appendix_notes, merge_notes, with_appendix
from skillopt.engine.ask import Asker

STAGE = "appendix_consolidate"
TEMPLATE = "appendix_consolidate"
MAX_TOKENS = 4096  # SkillOpt's limit for this call: a list of short notes


@dataclass(frozen=True, kw_only=True)
class Consolidation:
    """One compaction call: the notes before and after (`after` None when it was not kept)."""

    before: tuple[str, ...]
    after: tuple[str, ...] | None
    reasoning: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "before": list(self.before),
            "after": None if self.after is None else list(self.after),
            "reasoning": self.reasoning,
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class AppendixUpdate:
    """What one step did to the appendix (`appendix_notes.json`)."""

    proposed: tuple[str, ...]
    added: tuple[str, ...]
    total: int
    consolidation: Consolidation | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "proposed": list(self.proposed),
            "added": list(self.added),
            "total": self.total,
            "consolidation": None if self.consolidation is None else self.consolidation.to_json(),
        }


def _parse(reply: object) -> tuple[list[str], str]:
    if not isinstance(reply, dict):
        raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
    notes = reply.get("notes")
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ReplyError("'notes' must be a list of strings")
    kept = [n.strip() for n in notes if n.strip()]
    if not kept:
        raise ReplyError("'notes' is empty")
    return kept, str(reply.get("reasoning") or "").strip()


def consolidate(notes: Sequence[str], *, asker: Asker) -> Consolidation:
    """Ask the optimizer for a shorter list of `notes`; `after` is None when the reply is
    unusable or not shorter in total (the notes then stay as they are)."""
    listed = "\n".join(f"- {note}" for note in notes)
    user = (
        f"## Execution Notes ({len(notes)})\n{listed}\n\n"
        f"Return fewer than {len(notes)} notes that keep every distinct reminder."
    )
    answer = asker.ask(
        template=TEMPLATE,
        user=user,
        max_tokens=MAX_TOKENS,
        reply_format=STAGE,
        stage=STAGE,
        label=f"notes_{len(notes)}",
        parse=_parse,
    )
    if not answer.ok or answer.value is None:
        return Consolidation(before=tuple(notes), after=None, error=answer.error)
    after, reasoning = answer.value
    merged, _ = merge_notes([], after)
    if sum(map(len, merged)) > sum(map(len, notes)):
        return Consolidation(
            before=tuple(notes),
            after=None,
            reasoning=reasoning,
            error="the consolidated notes are longer than the notes they replace",
        )
    return Consolidation(before=tuple(notes), after=tuple(merged), reasoning=reasoning)


def update_appendix(
    skill: str, notes: Sequence[str], *, threshold: int, asker: Asker
) -> tuple[str, AppendixUpdate]:
    """(`skill` with `notes` merged into its appendix, what changed). The compaction call runs
    only on a step that added notes and left more than `threshold` (> 0) of them."""
    merged, added = merge_notes(appendix_notes(skill), notes)
    consolidation = None
    if threshold > 0 and len(merged) > threshold and added:
        consolidation = consolidate(merged, asker=asker)
        if consolidation.after is not None:
            merged = list(consolidation.after)
    update = AppendixUpdate(
        proposed=tuple(notes), added=tuple(added), total=len(merged), consolidation=consolidation
    )
    return (with_appendix(skill, merged) if added else skill), update
