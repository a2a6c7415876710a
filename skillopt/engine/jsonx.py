"""Find the one JSON object in a model reply.

Models wrap JSON in fences (tagged `json`, `JSON`, or not at all) or in prose. We accept one
object and refuse guessing: several different objects are an error, and so is none.
"""

from __future__ import annotations

import json
import re
from typing import Any

from skillopt.base.errors import ReplyError

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


def _top_level_objects(text: str) -> list[str]:
    """Balanced `{...}` spans at nesting depth 0; braces inside double-quoted strings do not count."""
    spans: list[str] = []
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def _parse_objects(candidates: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and value not in found:
            found.append(value)
    return found


def _only_one(objects: list[dict[str, Any]], where: str) -> dict[str, Any] | None:
    if len(objects) > 1:
        raise ReplyError(
            f"the reply holds {len(objects)} different JSON objects {where}; expected exactly one"
        )
    return objects[0] if objects else None


def extract_json(text: str) -> dict[str, Any]:
    """The single JSON object in `text`, from the whole text, a fenced block, or prose around it.

    Raises ReplyError when there is no parseable object or more than one distinct candidate.
    """
    if not text or not text.strip():
        raise ReplyError("the reply is empty")
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return whole

    fenced = [body for _tag, body in _FENCE.findall(text)]
    if fenced:
        objects = _parse_objects([b.strip() for b in fenced])
        if not objects:
            objects = _parse_objects([span for b in fenced for span in _top_level_objects(b)])
        found = _only_one(objects, "in fenced blocks")
        if found is not None:
            return found

    found = _only_one(_parse_objects(_top_level_objects(text)), "in the text")
    if found is not None:
        return found
    raise ReplyError("no parseable JSON object in the reply")
