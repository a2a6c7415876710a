"""Find the one JSON object in a model reply, whatever the reply holds.

Models wrap JSON in fences (tagged `json`, `JSON`, or not at all) or in prose, and sometimes
write near-JSON: trailing commas, single quotes, comments, a cut-off tail. We accept one object
and refuse guessing: several different objects are an error, and so is none.

Any text at all is either parsed or refused with a reason (`ReplyError`), never an exception of
another kind: nesting deeper than `MAX_DEPTH`, integers longer than `MAX_INT_DIGITS`, `NaN`,
invalid escapes, unpaired surrogate escapes (`\\ud800`: valid JSON, but text no UTF-8 file can
hold) and megabytes of prose are all reasons. Near-JSON is repaired with `json-repair`
only after every strict parse failed, and only a candidate that looks like an object (`{` then a
quote or `}`); the result says so (`repaired`), so callers can count repairs, and is validated as
strictly as any other reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from skillopt.base.errors import ReplyError

MAX_DEPTH = 200  # brackets nested deeper than this are refused before any parser sees them
MAX_INT_DIGITS = 100  # an integer literal with more digits is refused (Python's own limit is 4300)
MAX_REPAIR_CHARS = 200_000  # longer candidates are not handed to the (pure-Python) repairer

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_LOOKS_LIKE_OBJECT = re.compile(r"\{\s*[\"'}]")


@dataclass(frozen=True, kw_only=True)
class Extracted:
    """The object found in a reply, and whether near-JSON had to be repaired to get it."""

    value: dict[str, Any]
    repaired: bool = False


def _bounded_int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ReplyError(f"the reply holds an integer of {digits} digits")
    return int(literal)


def _no_constant(name: str) -> Any:
    raise ReplyError(f"the reply holds {name}, which is not JSON")


def _loads(text: str) -> Any:
    """`json.loads` that raises only ReplyError or JSONDecodeError."""
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:  # MAX_DEPTH is checked first; this is a second line of defence
        raise ReplyError(f"the reply is nested deeper than {MAX_DEPTH} levels") from None


def _scan(text: str) -> tuple[list[tuple[int, int]], int]:
    """(spans of balanced `{...}` at depth 0, deepest bracket nesting); braces and brackets inside
    double-quoted strings do not count."""
    spans: list[tuple[int, int]] = []
    depth = deepest = 0
    start = -1
    in_string = escaped = False
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
        elif ch in "{[":
            if depth == 0 and ch == "{":
                start = i
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]" and depth > 0:
            depth -= 1
            if depth == 0 and ch == "}" and start >= 0:
                spans.append((start, i + 1))
                start = -1
    return spans, deepest


def _objects(candidates: list[str]) -> list[dict[str, Any]]:
    """The distinct objects among `candidates` that parse strictly, in order."""
    found: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            value = _loads(candidate)
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


def _repair(candidates: list[str]) -> dict[str, Any] | None:
    """The one object that repairing the candidates gives, if exactly one does."""
    from json_repair import repair_json

    found: list[dict[str, Any]] = []
    for candidate in candidates:
        start = candidate.find("{")
        if start < 0 or not _LOOKS_LIKE_OBJECT.match(candidate, start):
            continue
        body = candidate[start:]
        if len(body) > MAX_REPAIR_CHARS:
            continue
        try:
            value = repair_json(body, return_objects=True)
        except (ValueError, RecursionError):  # a huge number, or a parser limit
            continue
        if isinstance(value, dict) and value and value not in found:
            found.append(value)
    return _only_one(found, "after repair")


def _check_text(value: Any) -> None:
    """ReplyError when a string in `value` (key or value) is not writable as UTF-8: an unpaired
    surrogate such as `\\ud800` parses, then fails every file write downstream."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                code = f"\\u{ord(item[exc.start]):04x}"
                raise ReplyError(f"the reply holds an unpaired surrogate {code}") from None


def extract_json(text: str) -> Extracted:
    """The single JSON object in `text`: the whole text, a fenced block, or an object in prose,
    parsed strictly; failing that, repaired near-JSON. Raises ReplyError (with the reason) when
    there is no usable object, more than one distinct candidate, or text that is not Unicode."""
    found = _extract(text)
    _check_text(found.value)
    return found


def _extract(text: str) -> Extracted:
    if not text or not text.strip():
        raise ReplyError("the reply is empty")
    spans, deepest = _scan(text)
    if deepest > MAX_DEPTH:
        raise ReplyError(f"the reply is nested {deepest} levels deep (at most {MAX_DEPTH})")
    stripped = text.strip()
    try:
        whole = _loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return Extracted(value=whole)

    fenced = [body.strip() for _tag, body in _FENCE.findall(text)]
    if fenced:
        objects = _objects(fenced)
        if not objects:
            inner = [body[s:e] for body in fenced for s, e in _scan(body)[0]]
            objects = _objects(inner)
        found = _only_one(objects, "in fenced blocks")
        if found is not None:
            return Extracted(value=found)

    found = _only_one(_objects([text[s:e] for s, e in spans]), "in the text")
    if found is not None:
        return Extracted(value=found)

    unclosed = stripped[stripped.find("{") :] if "{" in stripped else ""
    repaired = _repair(fenced or [text[s:e] for s, e in spans] or [unclosed])
    if repaired is not None:
        return Extracted(value=repaired, repaired=True)
    raise ReplyError("no parseable JSON object in the reply")
