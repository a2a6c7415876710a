"""One-line renderings of payload items (edits, suggestions, skill candidates).

`describe_item` is what the ranking and learning-rate prompts show for each item, so it keeps the
whole text of the item on one line (strings are JSON-quoted, which escapes newlines and quotes).
`short_item_summary` is the compact record of a rejected item kept in the step buffer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from skillopt.base.modes import UpdateMode, normalize_update_mode

PREVIEW_CHARS = 300


def quote(value: Any) -> str:
    """`value` as a JSON string literal: one line, quotes and newlines escaped; None is ""."""
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


def _text(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    return default if value is None else str(value)


def _support(item: Mapping[str, Any]) -> str:
    value = item.get("support_count")
    return "" if value is None else f" support={value}"


def _change_summary(item: Mapping[str, Any]) -> list[str]:
    value = item.get("change_summary")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Whitespace collapsed to single spaces, cut to `limit` characters with a trailing "…"."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def _source(item: Mapping[str, Any]) -> str:
    """` source=failure` when the item says where it came from (failures outrank successes)."""
    source = _text(item, "source_type")
    return f" source={source}" if source else ""


def describe_item(item: Mapping[str, Any], mode: UpdateMode | str) -> str:
    """The item on one line, for ranking prompts; nothing is cut except the full-rewrite preview.

    patch: `op=<op> [target="…"] content="…" [source=…] [support=N]` (target only when non-empty);
    rewrite_from_suggestions: `type=… title="…" instruction="…" priority=… [source=…] [support=N]`;
    full_rewrite_minibatch: `title="…" change_summary=[…] source=… [support=N] preview="…"`,
    where the preview is the first ~300 characters of the new skill.
    """
    mode = normalize_update_mode(mode)
    if mode is UpdateMode.PATCH:
        target = _text(item, "target")
        parts = [f"op={_text(item, 'op', 'append')}"]
        if target:
            parts.append(f"target={quote(target)}")
        parts.append(f"content={quote(_text(item, 'content'))}")
        return " ".join(parts) + _source(item) + _support(item)
    if mode is UpdateMode.REWRITE_FROM_SUGGESTIONS:
        return (
            f"type={_text(item, 'type', '?')} title={quote(_text(item, 'title'))} "
            f"instruction={quote(_text(item, 'instruction'))} "
            f"priority={_text(item, 'priority_hint', 'medium')}" + _source(item) + _support(item)
        )
    changes = json.dumps(_change_summary(item), ensure_ascii=False)
    return (
        f"title={quote(_text(item, 'title'))} change_summary={changes} "
        f"source={_text(item, 'source_type', 'unknown')}"
        + _support(item)
        + f" preview={quote(preview(_text(item, 'new_skill')))}"
    )


def short_item_summary(item: Mapping[str, Any], mode: UpdateMode | str) -> dict[str, Any]:
    """The fields that identify a rejected item: {op, content, target}, {type, title,
    instruction} or {title, change_summary, source_type}, by mode. Missing strings become ""."""
    mode = normalize_update_mode(mode)
    if mode is UpdateMode.PATCH:
        return {
            "op": _text(item, "op", "append"),
            "content": _text(item, "content"),
            "target": _text(item, "target"),
        }
    if mode is UpdateMode.REWRITE_FROM_SUGGESTIONS:
        return {
            "type": _text(item, "type"),
            "title": _text(item, "title"),
            "instruction": _text(item, "instruction"),
        }
    return {
        "title": _text(item, "title"),
        "change_summary": _change_summary(item),
        "source_type": _text(item, "source_type"),
    }
