"""Apply patch-mode edits to a markdown skill (its protected blocks live in `skillopt.base.skill`).

Edits apply in order, each on the result of the previous one; targets match exactly,
case-sensitively, on their first occurrence. Every edit gets a report row with a status, so an
edit that did nothing is never silent. Differences from SkillOpt (see the reference spec §13):
every marker pair is protected, not only the first; an edit is refused when its target's first
occurrence overlaps a protected block (not only when it starts inside one); `append` never looks
at its target, since it does not touch it; an `insert_after` whose anchor is not found is skipped
instead of silently appended; an `append`/`insert_after` whose content is empty is skipped; and
replacing the slow-update block leaves blank lines elsewhere in the document alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from skillopt.base.skill import clean_content, overlaps, protected_regions

REPORT_CHARS = 200
OPS: tuple[str, ...] = ("append", "insert_after", "replace", "delete")


@dataclass(frozen=True, kw_only=True)
class EditReport:
    """What happened to one edit. `index` is 1-based; target and content preview are cut to 200
    characters. `error` is set only for status "error"."""

    index: int
    op: str
    target: str
    content_preview: str
    status: str
    error: str | None = None

    @property
    def applied(self) -> bool:
        return self.status.startswith("applied")

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        if self.error is None:
            del row["error"]
        return row


@dataclass(frozen=True, kw_only=True)
class ApplyCounts:
    """Edits by status family."""

    total: int = 0
    applied: int = 0
    skipped: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApplyCounts:
        return cls(**{k: int(data.get(k, 0)) for k in ("total", "applied", "skipped", "errors")})


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """The edited skill, one report per edit, and the skill the edits were applied to."""

    skill: str
    reports: list[EditReport]
    original: str

    def counts(self) -> ApplyCounts:
        """How many edits there were, and how many were applied, skipped or failed."""
        statuses = [r.status for r in self.reports]
        return ApplyCounts(
            total=len(statuses),
            applied=sum(s.startswith("applied") for s in statuses),
            skipped=sum(s.startswith("skipped") for s in statuses),
            errors=sum(s == "error" for s in statuses),
        )

    def to_json(self) -> dict[str, Any]:
        """`edit_apply_report.json`: the counts, then one row per edit."""
        return {"summary": self.counts().to_json(), "edits": [r.to_json() for r in self.reports]}

    @property
    def changed(self) -> bool:
        """True when the edited skill differs from the input text."""
        return self.skill != self.original


def _append(skill: str, content: str, regions: Sequence[tuple[int, int]]) -> tuple[str, bool]:
    """Add `content` at the end of the editable text: before the first protected block if there
    is one (second value True), else at the end of the document."""
    if regions:
        cut = regions[0][0]
        before, rest = skill[:cut].rstrip(), skill[cut:]
        head = before + "\n\n" if before else ""
        return head + content + "\n\n" + rest, True
    body = skill.rstrip()
    return (body + "\n\n" if body else "") + content + "\n", False


def _insert_after(skill: str, target_end: int, content: str) -> str:
    """Insert `content` after the line on which the target ends, preceded by a blank line."""
    newline = skill.find("\n", target_end)
    if newline < 0:
        return skill + "\n\n" + content + "\n"
    at = newline + 1
    return skill[:at] + "\n" + content + "\n" + skill[at:]


def _optional_text(edit: Mapping[str, Any], key: str) -> str:
    value = edit.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _apply_one(skill: str, edit: Any, index: int) -> tuple[str, EditReport]:
    def report(
        status: str, *, op: str = "", target: str = "", content: str = "", error: str | None = None
    ) -> EditReport:
        return EditReport(
            index=index,
            op=op,
            target=target[:REPORT_CHARS],
            content_preview=content[:REPORT_CHARS],
            status=status,
            error=error,
        )

    if not isinstance(edit, Mapping):
        return skill, report("error", error=f"edit must be a mapping, got {type(edit).__name__}")
    raw_op = edit.get("op")
    op = "append" if raw_op is None else str(raw_op).strip().lower()
    try:
        target = _optional_text(edit, "target")
        content = clean_content(_optional_text(edit, "content"))
    except TypeError as exc:
        return skill, report("error", op=op, error=str(exc))
    row = {"op": op, "target": target, "content": content}

    if op not in OPS:
        return skill, report("skipped_unknown_op", **row)
    regions = protected_regions(skill)
    if op != "append" and target:
        first = skill.find(target)
        if first >= 0 and overlaps((first, first + len(target)), regions):
            return skill, report("skipped_protected_region", **row)

    if op in ("append", "insert_after") and not content:
        return skill, report("skipped_empty_content", **row)
    if op == "append":
        new, before_region = _append(skill, content, regions)
        status = "applied_append_before_protected_region" if before_region else "applied_append"
        return new, report(status, **row)
    if op == "insert_after":
        if not target:
            new, before_region = _append(skill, content, regions)
            status = (
                "applied_insert_after_fallback_before_protected_region"
                if before_region
                else "applied_insert_after_fallback_append"
            )
            return new, report(status, **row)
        first = skill.find(target)
        if first < 0:
            return skill, report("skipped_insert_after_target_not_found", **row)
        return _insert_after(skill, first + len(target), content), report(
            "applied_insert_after", **row
        )
    # replace / delete
    if not target:
        return skill, report(f"skipped_{op}_missing_target", **row)
    first = skill.find(target)
    if first < 0:
        return skill, report(f"skipped_{op}_target_not_found", **row)
    replacement = content if op == "replace" else ""
    new = skill[:first] + replacement + skill[first + len(target) :]
    return new, report(f"applied_{op}", **row)


def apply_edits(skill: str, edits: Sequence[Any]) -> ApplyResult:
    """Apply `edits` in order and report each one.

    Each edit is a mapping with `op` (append | insert_after | replace | delete; default append),
    `target` (exact text, first occurrence) and `content`. Statuses: applied_append,
    applied_append_before_protected_region, applied_insert_after,
    applied_insert_after_fallback_append, applied_insert_after_fallback_before_protected_region,
    applied_replace, applied_delete, skipped_protected_region, skipped_empty_content,
    skipped_insert_after_target_not_found, skipped_replace_missing_target,
    skipped_replace_target_not_found, skipped_delete_missing_target,
    skipped_delete_target_not_found, skipped_unknown_op, error (with a message).
    """
    current = skill
    reports: list[EditReport] = []
    for index, edit in enumerate(edits, start=1):
        current, row = _apply_one(current, edit, index)
        reports.append(row)
    return ApplyResult(skill=current, reports=reports, original=skill)
