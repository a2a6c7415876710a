"""The skill document: how it is stored, its content key, and its protected blocks.

Two kinds of block are protected from edits: the slow-update guidance written at the end of each
epoch and the skill-aware appendix. Each is delimited by an HTML-comment marker pair, which
renders as nothing in markdown. Every marker pair is protected, not only the first (SkillOpt
checked only the first), and replacing the slow-update block leaves blank lines elsewhere in the
document alone (SkillOpt collapsed every triple newline in the whole skill).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SLOW_UPDATE_START = "<!-- SLOW_UPDATE_START -->"
SLOW_UPDATE_END = "<!-- SLOW_UPDATE_END -->"
APPENDIX_START = "<!-- APPENDIX_START -->"
APPENDIX_END = "<!-- APPENDIX_END -->"
MARKER_PAIRS: tuple[tuple[str, str], ...] = (
    (SLOW_UPDATE_START, SLOW_UPDATE_END),
    (APPENDIX_START, APPENDIX_END),
)
MARKERS: tuple[str, ...] = (SLOW_UPDATE_START, SLOW_UPDATE_END, APPENDIX_START, APPENDIX_END)


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


def overlaps(span: tuple[int, int], regions: Sequence[tuple[int, int]]) -> bool:
    lo, hi = span
    return any(lo < r_end and hi > r_start for r_start, r_end in regions)


def clean_content(content: str) -> str:
    """Edit content as applied: stripped, with every block marker removed."""
    for marker in MARKERS:
        content = content.replace(marker, "")
    return content.strip()


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


def _remove_blocks(skill: str, start: str, end: str) -> str:
    """`skill` without its `start`..`end` blocks and stray markers of that pair."""
    blocks, orphans = _pair_markers(skill, start, end)
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
    base = _remove_blocks(skill, SLOW_UPDATE_START, SLOW_UPDATE_END).rstrip()
    return (base + "\n\n" if base else "") + block


def with_empty_slow_update_block(skill: str) -> str:
    """The epoch-1 placeholder: `skill` with an empty slow-update block at the end."""
    return with_slow_update_block(skill, "")


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


# --------------------------------------------------------------- execution-notes appendix

APPENDIX_HEADING = "## Execution Notes Appendix"


def note_key(note: str) -> str:
    """What two notes must share to count as the same: case, runs of whitespace, a leading
    bullet and trailing punctuation ignored."""
    text = " ".join(note.split()).lower()
    text = text.removeprefix("- ").removeprefix("* ")
    return text.rstrip(" .;:,!?")


def _clean_note(note: str) -> str:
    """One note as stored: a single line, no bullet, no block markers."""
    text = " ".join(clean_content(note).split())
    return text.removeprefix("- ").removeprefix("* ").strip()


def appendix_notes(skill: str) -> list[str]:
    """The notes of the first appendix block (its `- ` bullets, without the bullet), in order."""
    blocks, _ = _pair_markers(skill, APPENDIX_START, APPENDIX_END)
    if not blocks:
        return []
    start, end = blocks[0]
    body = skill[start + len(APPENDIX_START) : end - len(APPENDIX_END)]
    return [line[2:].strip() for line in body.splitlines() if line.startswith("- ")]


def merge_notes(existing: Sequence[str], new: Sequence[str]) -> tuple[list[str], list[str]]:
    """(`existing` followed by the notes of `new` not already there, the notes added): duplicates
    are found with `note_key`, the first wording is kept, order is kept, empty notes dropped."""
    merged: list[str] = []
    seen: set[str] = set()
    added: list[str] = []
    for index, note in enumerate([*existing, *new]):
        text = _clean_note(note)
        key = note_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        merged.append(text)
        if index >= len(existing):
            added.append(text)
    return merged, added


def with_appendix(skill: str, notes: Sequence[str]) -> str:
    """`skill` with its execution-notes appendix set to `notes`, as the document's last block.

    Every appendix block and stray appendix marker is taken out (the blank lines where they were
    tidied), then `<START>`, the heading, one `- ` bullet per note and `<END>` are appended after
    the trimmed document. With no notes the block is removed altogether.
    """
    base = _remove_blocks(skill, APPENDIX_START, APPENDIX_END).rstrip()
    cleaned = [text for text in (_clean_note(n) for n in notes) if text]
    if not cleaned:
        return normalize_skill(base)
    bullets = "\n".join(f"- {text}" for text in cleaned)
    block = f"{APPENDIX_START}\n{APPENDIX_HEADING}\n{bullets}\n{APPENDIX_END}\n"
    return (base + "\n\n" if base else "") + block
