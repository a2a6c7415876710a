"""The autonomous learning rate (`train.schedule=autonomous`, spec §4.4): the optimizer decides
each step how many of the merged items to apply; ranking then selects that many.

The call shows the skill, the step's evidence (tasks rolled out, their hard and soft score, how
many items were proposed), the items themselves, and the step buffer. Its reply's
`learning_rate` is coerced by SkillOpt's rules (`coerce_learning_rate`); a reply that gives no
usable number is asked for again like any other unusable reply, and when none comes the decision
is 0 with `fallback` set, so a broken reply never applies edits nobody chose. The decision is
capped at the items available (`clamped`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from skillopt.base.errors import ReplyError
from skillopt.base.modes import ModeSpec
from skillopt.base.scores import Score
from skillopt.engine.ask import Asker
from skillopt.engine.prompts import format_meta_skill
from skillopt.engine.train.items import describe_item

STAGE = "lr_autonomous"
TEMPLATE = "lr_autonomous"
CONFIDENCE = ("low", "medium", "high")
_INTEGER = re.compile(r"-?\d+")
_MAX_DIGITS = 12  # longer digit runs are "more than any pool", not numbers worth converting


def coerce_learning_rate(value: Any) -> int | None:
    """SkillOpt's coercion of a `learning_rate` value; None when it is invalid.

    | value                         | decision                                     |
    |-------------------------------|----------------------------------------------|
    | bool                          | invalid                                      |
    | int                           | max(0, value)                                |
    | float with an integral value  | max(0, int(value))                           |
    | anything else                 | the first `-?\\d+` in `str(value)`, floored at 0; invalid if none |
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return max(0, int(value))
    match = _INTEGER.search(str(value))
    if match is None:
        return None
    text = match.group(0)
    if text.startswith("-"):
        return 0
    return 10**_MAX_DIGITS if len(text) > _MAX_DIGITS else int(text)


@dataclass(frozen=True, kw_only=True)
class LearningRate:
    """One step's decision (`lr_decision.json`; a line of `lr_history.jsonl`).

    learning_rate: the budget applied, min(decided, available). decided: the coerced decision
    (0 on fallback). raw_learning_rate: the reply's value as given. available: items proposed.
    clamped: decided > available. fallback: no usable reply (see `error`).
    """

    learning_rate: int
    decided: int
    available: int
    clamped: bool = False
    fallback: bool = False
    raw_learning_rate: Any = None
    reasoning: str = ""
    confidence: str | None = None
    risk_notes: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["risk_notes"] = list(self.risk_notes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearningRate:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["risk_notes"] = tuple(values.get("risk_notes") or ())
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class _Reply:
    decided: int
    raw: Any
    reasoning: str
    confidence: str | None
    risk_notes: tuple[str, ...]


def _parse(reply: object) -> _Reply:
    if not isinstance(reply, dict):
        raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
    if "learning_rate" not in reply:
        raise ReplyError("the reply has no 'learning_rate'")
    raw = reply["learning_rate"]
    decided = coerce_learning_rate(raw)
    if decided is None:
        raise ReplyError(f"'learning_rate' must be a whole number >= 0, got {raw!r}")
    confidence = str(reply.get("confidence") or "").strip().lower()
    notes = reply.get("risk_notes")
    return _Reply(
        decided=decided,
        raw=raw,
        reasoning=str(reply.get("reasoning") or "").strip(),
        confidence=confidence if confidence in CONFIDENCE else None,
        risk_notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    )


def evidence_message(
    *,
    skill: str,
    items: Sequence[Mapping[str, Any]],
    spec: ModeSpec,
    train: Score,
    step_context: str = "",
    meta_skill: str = "",
) -> str:
    """The user message of the decision call."""
    n = len(items)
    lines = "\n".join(f"[{i}] {describe_item(item, spec.mode)}" for i, item in enumerate(items))
    parts = [format_meta_skill(meta_skill)] if meta_skill.strip() else []
    parts += [
        f"## Current Skill\n{skill.rstrip()}",
        "## Current Step Evidence\n"
        f"- train tasks rolled out: {train.n}\n"
        f"- train hard: {train.hard:.6f}\n"
        f"- train soft: {train.soft:.6f}\n"
        f"- proposed update items: {n} {spec.label(n)}",
        f"## Proposed Update Items\n{lines}",
    ]
    if step_context.strip():
        parts.append(f"## Previous Steps in This Epoch\n{step_context.strip()}")
    parts.append(
        f"How many of these {n} {spec.label(n)} should this step apply? Give a whole number "
        f"from 0 to {n} as `learning_rate`."
    )
    return "\n\n".join(parts)


def decide_learning_rate(
    *,
    skill: str,
    items: Sequence[Mapping[str, Any]],
    spec: ModeSpec,
    train: Score,
    asker: Asker,
    max_tokens: int,
    step_context: str = "",
    meta_skill: str = "",
) -> LearningRate:
    """How many of `items` this step applies, as the optimizer decides it (no call when there
    is nothing to apply)."""
    available = len(items)
    if available == 0:
        return LearningRate(learning_rate=0, decided=0, available=0, reasoning="no items proposed")
    answer = asker.ask(
        template=TEMPLATE,
        user=evidence_message(
            skill=skill,
            items=items,
            spec=spec,
            train=train,
            step_context=step_context,
            meta_skill=meta_skill,
        ),
        max_tokens=max_tokens,
        reply_format=f"{STAGE}:{spec.mode.value}",
        stage=STAGE,
        label=f"items_{available}",
        parse=_parse,
    )
    if not answer.ok or answer.value is None:
        return LearningRate(
            learning_rate=0, decided=0, available=available, fallback=True, error=answer.error
        )
    reply = answer.value
    return LearningRate(
        learning_rate=min(reply.decided, available),
        decided=reply.decided,
        available=available,
        clamped=reply.decided > available,
        raw_learning_rate=reply.raw,
        reasoning=reply.reasoning,
        confidence=reply.confidence,
        risk_notes=reply.risk_notes,
    )
