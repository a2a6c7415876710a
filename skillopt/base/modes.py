"""Update modes, their reply schemas, and the rules that turn a reply into payload items.

A reply is checked in two layers. The envelope (a JSON object whose `patch` object holds the
mode's list) must be right, or the reply is asked for again. Each item is then validated on its
own: a bad item is dropped with its reason instead of sinking the whole minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from skillopt.base.checks import choice
from skillopt.base.errors import ReplyError


class UpdateMode(str, Enum):
    """How the analysts propose changes to the skill."""

    PATCH = "patch"
    REWRITE_FROM_SUGGESTIONS = "rewrite_from_suggestions"
    FULL_REWRITE_MINIBATCH = "full_rewrite_minibatch"


ALIASES: dict[str, UpdateMode] = {
    "edits": UpdateMode.PATCH,
    "rewrite": UpdateMode.REWRITE_FROM_SUGGESTIONS,
    "suggestions": UpdateMode.REWRITE_FROM_SUGGESTIONS,
    "rewrite_suggestions": UpdateMode.REWRITE_FROM_SUGGESTIONS,
    "full_rewrite": UpdateMode.FULL_REWRITE_MINIBATCH,
    "minibatch_full_rewrite": UpdateMode.FULL_REWRITE_MINIBATCH,
    "skill_rewrite_minibatch": UpdateMode.FULL_REWRITE_MINIBATCH,
}


def normalize_update_mode(value: str | UpdateMode, field: str = "update_mode") -> UpdateMode:
    """Canonical mode for a name or SkillOpt alias; an unknown name is an error naming the valid
    ones (SkillOpt silently used patch)."""
    if isinstance(value, UpdateMode):
        return value
    aliases = {alias: mode.value for alias, mode in ALIASES.items()}
    return UpdateMode(choice(field, value, [m.value for m in UpdateMode], aliases))


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)


class Edit(_Item):
    """A patch-mode edit. `target` is an exact passage of the skill for insert_after/replace/delete."""

    op: Literal["append", "insert_after", "replace", "delete"] = "append"
    target: str | None = None
    content: str = ""

    @field_validator("op", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _required_parts(self) -> Edit:
        if self.op != "append" and not (self.target or "").strip():
            raise ValueError(f"op '{self.op}' needs a non-empty target")
        if self.op != "delete" and not self.content.strip():
            raise ValueError(f"op '{self.op}' needs non-empty content")
        return self


class Suggestion(_Item):
    """A rewrite_from_suggestions item: what to change and why, applied later by a rewrite call."""

    type: Literal["add_rule", "remove_rule", "merge_rules", "reorganize", "compress", "clarify"]
    title: str = Field(min_length=1)
    motivation: str = ""
    instruction: str = Field(min_length=1)
    priority_hint: Literal["high", "medium", "low"] = "medium"

    @field_validator("type", "priority_hint", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class SkillCandidate(_Item):
    """A full_rewrite_minibatch item: a whole replacement skill."""

    title: str = ""
    change_summary: list[str] = Field(default_factory=list)
    new_skill: str = Field(min_length=1)


class FailureType(BaseModel):
    model_config = ConfigDict(extra="allow")
    failure_type: str
    count: int | None = None
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ModeSpec:
    """What a mode asks for: the reply's container key, the item schema and the words for it."""

    mode: UpdateMode
    key: str
    item_model: type[_Item]
    singular: str
    plural: str
    template_suffix: str

    def label(self, count: int) -> str:
        return self.singular if count == 1 else self.plural


SPECS: dict[UpdateMode, ModeSpec] = {
    UpdateMode.PATCH: ModeSpec(
        mode=UpdateMode.PATCH,
        key="edits",
        item_model=Edit,
        singular="edit",
        plural="edits",
        template_suffix="",
    ),
    UpdateMode.REWRITE_FROM_SUGGESTIONS: ModeSpec(
        mode=UpdateMode.REWRITE_FROM_SUGGESTIONS,
        key="revise_suggestions",
        item_model=Suggestion,
        singular="suggestion",
        plural="suggestions",
        template_suffix="_rewrite",
    ),
    UpdateMode.FULL_REWRITE_MINIBATCH: ModeSpec(
        mode=UpdateMode.FULL_REWRITE_MINIBATCH,
        key="skill_candidates",
        item_model=SkillCandidate,
        singular="skill candidate",
        plural="skill candidates",
        template_suffix="_full_rewrite",
    ),
}


def mode_spec(mode: str | UpdateMode) -> ModeSpec:
    return SPECS[normalize_update_mode(mode)]


def reply_model(spec: ModeSpec, kind: Literal["failure", "success"]) -> type[BaseModel]:
    """The pydantic model of a whole analyst reply; its JSON schema can go in `response_format`."""
    body = create_model(
        f"{spec.mode.value.title().replace('_', '')}Body",
        reasoning=(str, ""),
        **{spec.key: (list[spec.item_model], ...)},
    )
    findings: dict[str, Any] = (
        {"failure_summary": (list[FailureType], Field(default_factory=list))}
        if kind == "failure"
        else {"success_patterns": (list[str], Field(default_factory=list))}
    )
    return create_model(
        f"{kind.title()}{spec.mode.value.title().replace('_', '')}Reply",
        batch_size=(int | None, None),
        patch=(body, ...),
        **findings,
    )


@dataclass(frozen=True, kw_only=True)
class DroppedItem:
    index: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class CheckedReply:
    """A reply whose envelope is valid: the items that passed, and those dropped with a reason."""

    reply: dict[str, Any]
    items: list[dict[str, Any]]
    dropped: list[DroppedItem]


def validate_items(
    raw_items: list[Any], spec: ModeSpec
) -> tuple[list[dict[str, Any]], list[DroppedItem]]:
    """Each item checked against the mode's schema: (valid items, dropped items with reasons)."""
    items: list[dict[str, Any]] = []
    dropped: list[DroppedItem] = []
    for index, raw in enumerate(raw_items):
        try:
            item = spec.item_model.model_validate(raw)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            dropped.append(DroppedItem(index=index, reason=reasons))
            continue
        items.append(item.model_dump(exclude_none=True))
    return items, dropped


def check_reply(reply: Any, spec: ModeSpec) -> CheckedReply:
    """Validate the envelope (raises ReplyError) and each item (drops bad ones)."""
    if not isinstance(reply, dict):
        raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
    patch = reply.get("patch")
    if not isinstance(patch, dict):
        raise ReplyError("the reply has no 'patch' object")
    raw_items = patch.get(spec.key)
    if not isinstance(raw_items, list):
        raise ReplyError(f"patch.{spec.key} must be a list (update mode {spec.mode.value})")
    items, dropped = validate_items(raw_items, spec)
    return CheckedReply(reply=reply, items=items, dropped=dropped)


def apply_budget(
    items: list[dict[str, Any]], *, spec: ModeSpec, edit_budget: int
) -> list[dict[str, Any]]:
    """Keep the first `edit_budget` items (< 0: all); full rewrite keeps exactly one candidate."""
    if spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH:
        return items[:1]
    if edit_budget < 0:
        return list(items)
    return items[:edit_budget]
