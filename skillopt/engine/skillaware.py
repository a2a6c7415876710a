"""Skill-aware reflection (`reflect.skill_aware`): failures sorted into skill gaps and lapses.

The failure analysts get one more section (`prompts/skill_aware_failure.md`) asking them to fix
skill gaps with edits and to turn execution lapses into short notes, returned in a top-level
`appendix_notes` list. This module holds what the analyst step needs for that: the addendum's
name and how notes are read off a reply. Merging notes into the skill's protected appendix
happens after the gate (`skillopt.engine.train.appendix`).

Differences from SkillOpt: the option is a setting of one reflect run, not a process-wide
toggle, and only non-empty strings count as notes (anything else in the list is dropped).
"""

from __future__ import annotations

from typing import Any

from skillopt.base.modes import ModeSpec

ADDENDUM = "skill_aware_failure"
"""The template appended to the failure analyst's system prompt."""
NOTES_KEY = "appendix_notes"


def take_notes(reply: Any, spec: ModeSpec) -> tuple[Any, list[str]]:
    """(`reply` ready for the usual envelope check, its appendix notes).

    A reply that carries notes but no `patch` object (every failure was a lapse) gets an empty
    patch, so it is a valid reply with no items rather than a reason to ask again.
    """
    if not isinstance(reply, dict):
        return reply, []
    raw = reply.get(NOTES_KEY)
    values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    notes = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if notes and not isinstance(reply.get("patch"), dict):
        reply = {**reply, "patch": {"reasoning": "execution lapses only", spec.key: []}}
    return reply, notes
