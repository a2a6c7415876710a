"""Epoch-level optimizer calls: the slow-update guidance block and the optimizer's meta skill.

Both read a longitudinal comparison of the same tasks under the previous and the current
epoch's skill. The slow update writes guidance into a protected block of the target skill; the
meta skill is optimizer-side memory that never enters the target skill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillopt.engine.ask import Asker, require_text


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """What an epoch-level call proposed (`content` None when it failed: see `error`)."""

    content: str | None
    reasoning: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _content(key: str):
    def parse(reply: object) -> tuple[str, str]:
        content = require_text(reply, key)
        assert isinstance(reply, dict)
        return content, str(reply.get("reasoning") or "").strip()

    return parse


def _propose(
    asker: Asker, *, template: str, key: str, user: str, max_tokens: int, label: str
) -> Proposal:
    answer = asker.ask(
        template=template,
        user=user,
        max_tokens=max_tokens,
        reply_format=template,
        stage=template,
        label=label,
        parse=_content(key),
    )
    if not answer.ok:
        return Proposal(content=None, error=answer.error)
    content, reasoning = answer.value
    return Proposal(content=content, reasoning=reasoning)


def propose_slow_update(
    *,
    prev_skill: str,
    curr_skill: str,
    previous_guidance: str,
    comparison: str,
    n_tasks: int,
    asker: Asker,
    max_tokens: int,
    epoch: int,
) -> Proposal:
    guidance = (
        f"{previous_guidance.strip()}\n\n(Judge from the comparison whether this guidance helped.)"
        if previous_guidance.strip()
        else "(No previous guidance: this is the first slow update.)"
    )
    user = "\n\n".join(
        [
            f"## Previous Epoch's Skill\n{prev_skill.rstrip()}",
            f"## Current Epoch's Skill\n{curr_skill.rstrip()}",
            f"## Previous Slow Update Guidance\n{guidance}",
            f"## Longitudinal Comparison ({n_tasks} tasks, two skill versions)\n{comparison}",
        ]
    )
    return _propose(
        asker,
        template="slow_update",
        key="slow_update_content",
        user=user,
        max_tokens=max_tokens,
        label=f"epoch_{epoch:02d}",
    )


def propose_meta_skill(
    *,
    prev_skill: str,
    curr_skill: str,
    previous_meta: str,
    comparison: str,
    n_tasks: int,
    asker: Asker,
    max_tokens: int,
    epoch: int,
) -> Proposal:
    previous = previous_meta.strip() or "(No previous optimizer meta skill: this is the first one.)"
    user = "\n\n".join(
        [
            f"## Previous Epoch's Last Skill\n{prev_skill.rstrip()}",
            f"## Current Epoch's Last Skill\n{curr_skill.rstrip()}",
            f"## Previous Optimizer Meta Skill\n{previous}",
            f"## Longitudinal Comparison ({n_tasks} tasks, two last-step skills)\n{comparison}",
        ]
    )
    return _propose(
        asker,
        template="meta_skill",
        key="meta_skill_content",
        user=user,
        max_tokens=max_tokens,
        label=f"epoch_{epoch:02d}",
    )
