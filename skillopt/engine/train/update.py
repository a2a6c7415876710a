"""Apply patch-mode edits to a markdown skill, and manage its protected blocks.

Two kinds of block are protected from edits: the slow-update guidance written at the end of each
epoch and the skill-aware appendix. Each is delimited by an HTML-comment marker pair, which
renders as nothing in markdown.

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

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SLOW_UPDATE_START = "<!-- SLOW_UPDATE_START -->"
SLOW_UPDATE_END = "<!-- SLOW_UPDATE_END -->"
APPENDIX_START = "<!-- APPENDIX_START -->"
APPENDIX_END = "<!-- APPENDIX_END -->"
MARKER_PAIRS: tuple[tuple[str, str], ...] = (
    (SLOW_UPDATE_START, SLOW_UPDATE_END),
    (APPENDIX_START, APPENDIX_END),
)
MARKERS: tuple[str, ...] = (SLOW_UPDATE_START, SLOW_UPDATE_END, APPENDIX_START, APPENDIX_END)

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

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if self.error is None:
            del row["error"]
        return row


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """The edited skill, one report per edit, and the skill the edits were applied to."""

    skill: str
    reports: list[EditReport]
    original: str

    def summary(self) -> dict[str, int]:
        """Counts by status family: {total, applied, skipped, errors}."""
        statuses = [r.status for r in self.reports]
        return {
            "total": len(statuses),
            "applied": sum(s.startswith("applied") for s in statuses),
            "skipped": sum(s.startswith("skipped") for s in statuses),
            "errors": sum(s == "error" for s in statuses),
        }

    @property
    def changed(self) -> bool:
        """True when the edited skill differs from the input text."""
        return self.skill != self.original


def normalize_skill(text: str) -> str:
    """A skill as stored: trailing whitespace removed, exactly one final newline."""
    return text.rstrip() + "\n"


def skill_hash(text: str) -> str:
    """Content key of a skill: the first 16 hex digits of its SHA-256 (SkillOpt's skill_hash)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pair_markers(
    text: str, start: str, end: str
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Closed blocks (start marker .. end of end marker) and orphan markers, as (start, end) spans.

    A start marker opens a block that the next end marker closes; start markers repeated inside
    an open block belong to it. An end marker with no open block, and start markers never
    closed, are orphans.
    """
    hits = sorted(
        [(i, start) for i in _find_all(text, start)] + [(i, end) for i in _find_all(text, end)]
    )
    blocks: list[tuple[int, int]] = []
    orphans: list[tuple[int, int]] = []
    open_starts: list[int] = []
    for pos, marker in hits:
        if marker == start:
            open_starts.append(pos)
        elif open_starts:
            blocks.append((open_starts[0], pos + len(end)))
            open_starts = []
        else:
            orphans.append((pos, pos + len(end)))
    orphans.extend((pos, pos + len(start)) for pos in open_starts)
    return blocks, sorted(orphans)


def _find_all(text: str, needle: str) -> list[int]:
    found: list[int] = []
    pos = text.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = text.find(needle, pos + len(needle))
    return found


def protected_regions(skill: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of every closed slow-update and appendix block, markers
    included, sorted by start. A marker without its partner protects nothing."""
    spans: list[tuple[int, int]] = []
    for start, end in MARKER_PAIRS:
        spans.extend(_pair_markers(skill, start, end)[0])
    return sorted(spans)


def _overlaps(span: tuple[int, int], regions: Sequence[tuple[int, int]]) -> bool:
    lo, hi = span
    return any(lo < r_end and hi > r_start for r_start, r_end in regions)


def clean_content(content: str) -> str:
    """Edit content as applied: stripped, with every block marker removed."""
    for marker in MARKERS:
        content = content.replace(marker, "")
    return content.strip()


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
        if first >= 0 and _overlaps((first, first + len(target)), regions):
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


def slow_update_guidance(skill: str) -> str:
    """The trimmed text of the first slow-update block, or "" when there is none."""
    blocks, _ = _pair_markers(skill, SLOW_UPDATE_START, SLOW_UPDATE_END)
    if not blocks:
        return ""
    start, end = blocks[0]
    return skill[start + len(SLOW_UPDATE_START) : end - len(SLOW_UPDATE_END)].strip()


def _close_gap(left: str, right: str) -> str:
    """Join the text on both sides of a removed block.

    Blank lines at the seam shrink to what the block had around it, at most one blank line; a
    block that sat inside a line leaves the line as it was. Nothing away from the seam changes.
    """
    left_body = left.rstrip(" \t\n")
    tail = left[len(left_body) :]
    right_body = right.lstrip(" \t\n")
    head = right[: len(right) - len(right_body)]
    newlines = max(tail.count("\n"), head.count("\n"))
    if newlines == 0:
        return left + right
    keep_left = tail.split("\n", 1)[0]  # trailing spaces of the line before the block
    keep_right = head.rsplit("\n", 1)[-1]  # indentation of the line after the block
    if not left_body:
        return keep_right + right_body
    if not right_body:
        return left_body + keep_left + "\n"
    return left_body + keep_left + "\n" * min(2, newlines) + keep_right + right_body


def _remove_slow_update_blocks(skill: str) -> str:
    blocks, orphans = _pair_markers(skill, SLOW_UPDATE_START, SLOW_UPDATE_END)
    spans = sorted(blocks + orphans)
    if not spans:
        return skill
    out = skill[: spans[0][0]]
    for i, (_, end) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else len(skill)
        out = _close_gap(out, skill[end:nxt])
    return out


def with_slow_update_block(skill: str, content: str) -> str:
    """`skill` with its slow-update guidance set to `content`.

    Every existing slow-update block and orphan marker is removed (only the blank lines where
    they were are tidied), then `\\n\\n<START>\\n{content}\\n<END>\\n` is appended after the
    trimmed document. The content is stripped and any marker inside it removed; empty content
    gives the empty placeholder block.
    """
    body = clean_content(content)
    block = (
        f"{SLOW_UPDATE_START}\n{body}\n{SLOW_UPDATE_END}\n"
        if body
        else f"{SLOW_UPDATE_START}\n{SLOW_UPDATE_END}\n"
    )
    base = _remove_slow_update_blocks(skill).rstrip()
    return (base + "\n\n" if base else "") + block


def with_empty_slow_update_block(skill: str) -> str:
    """The epoch-1 placeholder: `skill` with an empty slow-update block at the end."""
    return with_slow_update_block(skill, "")
