"""Formatting rules of the offline QA simulation.

Every task in the bundled dataset (`examples/qa_sim/dataset.jsonl`) holds its answer as a raw
`Record:` value whose *form* differs from the gold answer: a long date where the gold is ISO, a
number in words where the gold has digits, and so on. A rule only counts if its effect survives
SQuAD normalization (which already ignores case and punctuation), so each rule here flips exact
match for the items it is about.

The offline target applies a rule only when the skill states it (its `marker` appears in the
system prompt); the offline optimizer calls `explain_failure` on failure reasons to find which
rule texts to write into the skill. Together they make skill training measurable without a model.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from skillopt.envs.scoring import normalize_answer


@dataclass(frozen=True, kw_only=True)
class FormatRule:
    """One formatting rule.

    name: short identifier, e.g. "iso_dates".
    text: the exact sentence an optimizer writes into the skill (a markdown bullet).
    marker: a distinctive part of `text`; the target follows the rule when its system prompt
        contains it (case-insensitive).
    transform: the rewrite, returning None when the rule does not apply to a value.
    """

    name: str
    text: str
    marker: str
    transform: Callable[[str], str | None] = field(repr=False, compare=False)

    def applies(self, value: str) -> bool:
        """Whether following this rule changes `value`."""
        return self.transform(value.strip()) is not None

    def apply(self, value: str) -> str:
        """`value` rewritten by this rule (stripped and otherwise unchanged when it does not apply)."""
        value = value.strip()
        rewritten = self.transform(value)
        return value if rewritten is None else rewritten


# --------------------------------------------------------------------------- dates

_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        1,
    )
}
_MONTH = "(" + "|".join(_MONTHS) + ")"
_MONTH_FIRST = re.compile(rf"{_MONTH}\s+(\d{{1,2}}),?\s+(\d{{4}})", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"(\d{{1,2}})\s+{_MONTH},?\s+(\d{{4}})", re.IGNORECASE)


def _iso_date(value: str) -> str | None:
    """ "July 20, 1969" or "20 July 1969" -> "1969-07-20"."""
    if match := _MONTH_FIRST.fullmatch(value):
        month, day, year = match.groups()
    elif match := _DAY_FIRST.fullmatch(value):
        day, month, year = match.groups()
    else:
        return None
    if not 1 <= int(day) <= 31:
        return None
    return f"{year}-{_MONTHS[month.lower()]:02d}-{int(day):02d}"


# --------------------------------------------------------------------------- numbers in words

_SMALL_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
)
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_SMALL = {word: n for n, word in enumerate(_SMALL_WORDS.split())}
_TENS = {word: 10 * n for n, word in enumerate(_TENS_WORDS.split(), 2)}


def _number_word_value(token: str) -> list[int | str] | None:
    """The parts of one token such as "twenty-four" or "hundred", None if it is not a number word."""
    parts: list[int | str] = []
    for piece in token.lower().split("-"):
        if piece in _SMALL:
            parts.append(_SMALL[piece])
        elif piece in _TENS:
            parts.append(_TENS[piece])
        elif piece in ("hundred", "thousand"):
            parts.append(piece)
        else:
            return None
    return parts


def _digits(value: str) -> str | None:
    """A leading number in words as digits: "thirty-one ferries" -> "31 ferries"."""
    tokens = value.split()
    total = current = 0
    used = 0
    seen_number = False
    for i, token in enumerate(tokens):
        if token.lower() == "and" and seen_number and i + 1 < len(tokens):
            if _number_word_value(tokens[i + 1]) is not None:
                used = i + 1
                continue
            break
        parts = _number_word_value(token)
        if parts is None:
            break
        for part in parts:
            if part == "hundred":
                current = (current or 1) * 100
            elif part == "thousand":
                total += (current or 1) * 1000
                current = 0
            else:
                current += int(part)
        seen_number = True
        used = i + 1
    if not seen_number:
        return None
    return " ".join([str(total + current), *tokens[used:]])


# --------------------------------------------------------------------------- units, yes/no, names

_NUMBER_THEN_WORDS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s+([A-Za-z][A-Za-z .'-]*)")
_YES_NO_SENTENCE = re.compile(r"(yes|no)\b[\s,.;:!-]+(\S.*)", re.IGNORECASE | re.DOTALL)
_NAME_PART = r"[A-Z][A-Za-z'.-]*(?: [A-Z][A-Za-z'.-]*)*"
_SURNAME_FIRST = re.compile(rf"({_NAME_PART}), ({_NAME_PART})")


def _bare_number(value: str) -> str | None:
    """A number followed by a unit or counted noun, without it: "384,400 km" -> "384,400"."""
    match = _NUMBER_THEN_WORDS.fullmatch(value)
    return match.group(1) if match else None


def _yes_or_no(value: str) -> str | None:
    """A yes/no sentence as the bare word: "Yes, it did." -> "yes"."""
    match = _YES_NO_SENTENCE.fullmatch(value)
    return match.group(1).lower() if match else None


def _first_name_first(value: str) -> str | None:
    """ "Curie, Marie" -> "Marie Curie"."""
    match = _SURNAME_FIRST.fullmatch(value)
    if not match or match.group(1).lower() in ("yes", "no"):
        return None
    surname, given = match.groups()
    return f"{given} {surname}"


RULES: tuple[FormatRule, ...] = (
    FormatRule(
        name="iso_dates",
        text="- Write every date as YYYY-MM-DD (e.g. July 20, 1969 -> 1969-07-20).",
        marker="YYYY-MM-DD",
        transform=_iso_date,
    ),
    FormatRule(
        name="digit_numbers",
        text="- Write numbers in digits, never spelled out in words (e.g. twenty-four -> 24).",
        marker="never spelled out in words",
        transform=_digits,
    ),
    FormatRule(
        name="bare_numbers",
        text=(
            "- Give a quantity as the bare number, without its unit or the thing counted "
            "(e.g. 384,400 km -> 384,400; 24 students -> 24)."
        ),
        marker="as the bare number",
        transform=_bare_number,
    ),
    FormatRule(
        name="yes_no",
        text="- Answer a yes/no question with the single word yes or no, nothing else.",
        marker="single word yes or no",
        transform=_yes_or_no,
    ),
    FormatRule(
        name="first_name_first",
        text=(
            "- Write a person's name first name first, never as 'Surname, Given name' "
            "(e.g. Curie, Marie -> Marie Curie)."
        ),
        marker="first name first",
        transform=_first_name_first,
    ),
)
"""The rules, in the order the target applies them."""

RULES_BY_NAME: dict[str, FormatRule] = {rule.name: rule for rule in RULES}


def active_rules(system_prompt: str) -> tuple[FormatRule, ...]:
    """The rules whose marker appears in `system_prompt` (case-insensitive), in `RULES` order."""
    prompt = system_prompt.lower()
    return tuple(rule for rule in RULES if rule.marker.lower() in prompt)


def apply_rules(raw: str, rules: Sequence[FormatRule]) -> tuple[str, tuple[FormatRule, ...]]:
    """`raw` with each of `rules` applied in turn where it applies, and the rules that changed it."""
    value = raw.strip()
    changed: list[FormatRule] = []
    for rule in rules:
        if rule.applies(value):
            value = rule.apply(value)
            changed.append(rule)
    return value, tuple(changed)


def format_answer(raw: str, system_prompt: str) -> str:
    """The raw value with every active, applicable rule applied (what the offline target answers)."""
    return apply_rules(raw, active_rules(system_prompt))[0]


def explain_failure(predicted: str, golds: Sequence[str]) -> tuple[FormatRule, ...]:
    """The smallest set of rules that turns `predicted` into a gold answer.

    Singles are tried first, then pairs, in `RULES` order, each set applied in `RULES` order and
    compared after `normalize_answer`. Returns () when no set does (a genuinely wrong answer) and
    also when `predicted` already matches a gold.
    """
    wanted = {normalize_answer(g) for g in golds}
    if not wanted or normalize_answer(predicted) in wanted:
        return ()
    for size in (1, 2):
        for chosen in combinations(RULES, size):
            value, changed = apply_rules(predicted, chosen)
            if len(changed) == size and normalize_answer(value) in wanted:
                return chosen
    return ()


_FAIL_REASON = re.compile(r"EM=0: predicted '(.*)' but expected (\[.*)", re.DOTALL)


def parse_fail_reason(reason: str) -> tuple[str, tuple[str, ...]] | None:
    """(predicted, golds) from "EM=0: predicted '<p>' but expected ['g1', ...]", else None.

    Text after the gold list (some rollouts add a comment) is ignored.
    """
    match = _FAIL_REASON.fullmatch(reason.strip())
    if not match:
        return None
    predicted, rest = match.groups()
    end = len(rest)
    while (end := rest.rfind("]", 0, end)) >= 0:
        try:
            golds = ast.literal_eval(rest[: end + 1])
        except (ValueError, SyntaxError):
            continue
        if isinstance(golds, list) and all(isinstance(g, str) for g in golds):
            return predicted, tuple(golds)
        return None
    return None
