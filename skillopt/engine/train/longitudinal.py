"""Longitudinal pairs: the same tasks run under the previous and the current epoch's skill.

The slow update reads these pairs to see what the epoch's edits fixed and what they broke. This
module pairs, filters and renders rows; the only rollouts it asks for are the `changed`
policy's top-up, through a callable the caller passes (`top_up`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from skillopt.base.checks import choice
from skillopt.base.scores import row_failed

Category = Literal["improved", "regressed", "persistent_fail", "stable_success"]
CATEGORIES: tuple[str, ...] = ("improved", "regressed", "persistent_fail", "stable_success")

PAIR_POLICIES: dict[str, tuple[str, ...]] = {
    "mixed": CATEGORIES,
    "unchanged": ("persistent_fail", "stable_success"),
    "changed": ("improved", "regressed"),
}
PAIR_POLICY_ALIASES: dict[str, str] = {
    "default": "mixed",
    "random": "mixed",
    "all": "mixed",
    "stable": "unchanged",
    "same": "unchanged",
    "00_11": "unchanged",
    "change": "changed",
    "delta": "changed",
    "10_01": "changed",
    "01_10": "changed",
}

_NO_TRAJECTORIES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Pair:
    """One task under both skills. `prev`/`curr` are {hard, soft, predicted_answer, fail_reason}."""

    id: str
    task: str
    category: str
    prev: dict[str, Any]
    curr: dict[str, Any]
    prev_trajectory: str = ""
    curr_trajectory: str = ""

    def to_json(self) -> dict[str, Any]:
        """The pair without its trajectories (what comparison_pairs.json stores)."""
        return {
            "id": self.id,
            "task": self.task,
            "category": self.category,
            "prev": dict(self.prev),
            "curr": dict(self.curr),
        }


def _first_text(row: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = row.get(key)
        if value is not None and str(value).strip():
            return str(value)
    return ""


def _side(row: Mapping[str, Any]) -> dict[str, Any]:
    hard, soft = row.get("hard"), row.get("soft")
    return {
        "hard": 0.0 if hard is None else float(hard),
        "soft": 0.0 if soft is None else float(soft),
        "predicted_answer": _first_text(row, "predicted_answer", "answer") or "N/A",
        "fail_reason": _first_text(row, "fail_reason"),
    }


def _category(before: bool, after: bool) -> str:
    if before and after:
        return "stable_success"
    if before:
        return "regressed"
    if after:
        return "improved"
    return "persistent_fail"


def build_pairs(
    prev_rows: Sequence[Mapping[str, Any]],
    curr_rows: Sequence[Mapping[str, Any]],
    *,
    prev_trajectories: Mapping[str, str] = _NO_TRAJECTORIES,
    curr_trajectories: Mapping[str, str] = _NO_TRAJECTORIES,
) -> list[Pair]:
    """Pair rows by task id, in the order of `prev_rows`.

    Only ids present in both lists make a pair; for a repeated id the first row counts. The task
    text is the row's question, else task_description, else instruction, else the id.
    """
    curr_by_id: dict[str, Mapping[str, Any]] = {}
    for row in curr_rows:
        curr_by_id.setdefault(str(row.get("id")), row)
    pairs: list[Pair] = []
    seen: set[str] = set()
    for prev in prev_rows:
        task_id = str(prev.get("id"))
        if task_id in seen or task_id not in curr_by_id:
            continue
        seen.add(task_id)
        curr = curr_by_id[task_id]
        pairs.append(
            Pair(
                id=task_id,
                task=_first_text(curr, "question", "task_description", "instruction")
                or _first_text(prev, "question", "task_description", "instruction")
                or task_id,
                category=_category(not row_failed(prev), not row_failed(curr)),
                prev=_side(prev),
                curr=_side(curr),
                prev_trajectory=prev_trajectories.get(task_id, ""),
                curr_trajectory=curr_trajectories.get(task_id, ""),
            )
        )
    return pairs


def normalize_pair_policy(policy: str) -> str:
    """mixed | unchanged | changed for a policy name or SkillOpt alias; unknown -> SettingError."""
    return choice("pair_policy", policy, PAIR_POLICIES, PAIR_POLICY_ALIASES)


def filter_pairs(pairs: Sequence[Pair], policy: str) -> list[Pair]:
    """Keep the pairs a policy asks for, in order: mixed = all; unchanged = persistent failures
    and stable successes; changed = improvements and regressions. Nothing is topped up."""
    keep = PAIR_POLICIES[normalize_pair_policy(policy)]
    return [p for p in pairs if p.category in keep]


T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class TopUp(Generic[T]):
    """The kept pairs after a top-up, and what it took: the extra tasks rolled out under both
    skills, in rounds, and how many of the kept pairs they gave."""

    pairs: list[Pair]
    tasks: list[T] = field(default_factory=list)
    rounds: int = 0
    added: int = 0


def top_up(
    pairs: Sequence[Pair],
    *,
    quota: int,
    pool: Sequence[T],
    policy: str,
    roll: Callable[[Sequence[T], int], Sequence[Pair]],
) -> TopUp[T]:
    """Fill `pairs` up to `quota` with pairs of `policy` from more tasks (spec §7.1).

    While fewer than `quota` pairs are kept and `pool` is not used up, the next tasks of `pool`
    (in its order), as many as are still missing, are rolled out under both skills with
    `roll(tasks, round)` (round 1, 2, ...) and their pairs of the policy's categories are kept.
    The result is cut to `quota` in order. SkillOpt rolled out one task at a time; a round of the
    missing count gives the same first `quota` pairs with far fewer sequential calls.
    """
    kept = list(pairs)
    used: list[T] = []
    rounds = 0
    while len(kept) < quota and len(used) < len(pool):
        chunk = list(pool[len(used) : len(used) + quota - len(kept)])
        used.extend(chunk)
        rounds += 1
        kept.extend(filter_pairs(roll(chunk, rounds), policy))
    kept = kept[: max(quota, len(pairs))]
    return TopUp(pairs=kept, tasks=used, rounds=rounds, added=len(kept) - len(pairs))


_SECTIONS: tuple[tuple[str, str], ...] = (
    ("regressed", "Regressions (passed before, fail now) — fix these first"),
    ("persistent_fail", "Persistent failures (failed under both skills)"),
    ("improved", "Improvements (failed before, pass now)"),
    ("stable_success", "Stable successes (passed under both skills)"),
)


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside `text`, so the text cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _outcome(side: Mapping[str, Any]) -> str:
    verdict = "FAIL" if row_failed(side) else "PASS"
    soft = float(side.get("soft", 0.0))
    return f"{verdict} (soft {soft:.2f}) — answer: {side.get('predicted_answer', 'N/A')}"


def _trajectory(label: str, text: str) -> list[str]:
    if not text.strip():
        return [f"{label}: (no trajectory recorded)"]
    fence = _fence(text)
    return [f"{label}:", fence, text.rstrip("\n"), fence]


def _render_pair(pair: Pair) -> list[str]:
    lines = [
        f"#### Task {pair.id}: {pair.task}",
        f"- Previous skill: {_outcome(pair.prev)}",
        f"- Current skill: {_outcome(pair.curr)}",
    ]
    if row_failed(pair.curr) and pair.curr.get("fail_reason"):
        lines.append(f"- Current failure reason: {pair.curr['fail_reason']}")
    if row_failed(pair.prev) and pair.prev.get("fail_reason"):
        lines.append(f"- Previous failure reason: {pair.prev['fail_reason']}")
    if pair.category != "stable_success":
        lines.extend(_trajectory("Previous trajectory", pair.prev_trajectory))
        lines.extend(_trajectory("Current trajectory", pair.curr_trajectory))
    return lines


def format_comparison(pairs: Sequence[Pair]) -> str:
    """The pairs as prompt text: counts first, then regressions, persistent failures,
    improvements and stable successes ("(none)" for an empty section). Trajectories are shown
    for every category except stable successes."""
    counts = {c: sum(p.category == c for p in pairs) for c in CATEGORIES}
    lines = [
        f"{len(pairs)} {'task' if len(pairs) == 1 else 'tasks'} run under both skills: "
        f"{counts['regressed']} regressed, "
        f"{counts['persistent_fail']} failed under both, {counts['improved']} improved, "
        f"{counts['stable_success']} passed under both."
    ]
    for category, title in _SECTIONS:
        lines.extend(["", f"### {title}"])
        members = [p for p in pairs if p.category == category]
        if not members:
            lines.append("(none)")
        for pair in members:
            lines.append("")
            lines.extend(_render_pair(pair))
    return "\n".join(lines) + "\n"
