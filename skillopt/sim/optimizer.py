"""A deterministic stand-in for the optimizer: no network, no key, schema-valid replies.

It is not an optimizer. It reads the failure reasons and task types it is shown and turns them
into plausible, valid payload items so the quickstart and the tests exercise every code path.
On the bundled simulation (`skillopt.sim`) it proposes the formatting rule that explains a
failure, so an offline training run really improves. Asked to be skill-aware (the system
prompt asks for `appendix_notes`), it calls a failure no rule explains an execution lapse and
writes a note for it instead of an edit. Merge, ranking, rewrite and epoch-level requests get
mechanical answers (concatenate and dedupe, rank by source and support, append the
suggestions); the autonomous learning rate is the pool's share of failed train tasks, rounded
up; notes that share a habit are consolidated into one. The same request always gets
the same reply.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from typing import Any

from skillopt.engine.skillaware import NOTES_KEY
from skillopt.llm.types import ChatRequest, ChatResponse, estimate_tokens
from skillopt.sim.rules import RULES, explain_failure, parse_fail_reason

_REASON = re.compile(r"^Failure reason: (.+)$", re.MULTILINE)
_TRAJECTORY = re.compile(r"^### Trajectory \d+ \(id=.+\)$", re.MULTILINE)
_TASK_TYPE = re.compile(r"^Task type: (.+)$", re.MULTILINE)
_IDS = re.compile(r"^### Trajectory \d+ \(id=(.+)\)$", re.MULTILINE)
_BUDGET = re.compile(r"at most (\d+)")
# The skill runs from its heading to the section the message builder puts after it (a skill has
# `## ` headings of its own, so "the next heading" is not the end).
_SKILL = re.compile(
    r"^## Current Skill\n(.*?)\n\n(?=## (?:Update Format|[\w ]+ Budget|Selected Revise Suggestions"
    r"|Patches to merge|Groups to combine|[\w ]+ Pool)\b)",
    re.MULTILINE | re.DOTALL,
)
_POOL_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_POOL_BUDGET = re.compile(r"budget (\d+)\)")
_SUPPORT = re.compile(r"support[=:]\s*(\d+)")
_EVIDENCE_HARD = re.compile(r"^- train hard: ([\d.]+)$", re.MULTILINE)
_EVIDENCE_ITEMS = re.compile(r"^- proposed update items: (\d+)", re.MULTILINE)
_NOTE_LINE = re.compile(r"^- (.+)$", re.MULTILINE)
_CATEGORY_COUNT = re.compile(
    r"(improved|regressed|persistent_fail|stable_success)\D{0,20}(\d+)", re.I
)
RECHECK_RULE = (
    "- Re-read the context once more and copy the recorded value exactly before answering."
)


def _category(reason: str) -> str:
    return reason.split(":", 1)[0].strip() or "unknown"


class OfflineOptimizer:
    """Answers in the reply format named by the request, derived only from the request text."""

    name = "offline"

    def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        user = request.messages[-1]["content"] if request.messages else ""
        system = next((m["content"] for m in request.messages if m.get("role") == "system"), "")
        reply = self._reply(request.reply_format, user, skill_aware=NOTES_KEY in system)
        text = json.dumps(reply, ensure_ascii=False, indent=2)
        return ChatResponse(
            text=text,
            prompt_tokens=estimate_tokens(request.chars),
            completion_tokens=estimate_tokens(len(text)),
            latency_s=time.perf_counter() - started,
            model="offline-stand-in",
        )

    def _reply(self, reply_format: str, user: str, *, skill_aware: bool = False) -> dict:
        head = reply_format.split(":", 1)[0]
        if head in _OTHER_STAGES:
            return _OTHER_STAGES[head](reply_format, user)
        kind = "success" if reply_format.startswith("success") else "failure"
        mode = reply_format.split(":", 1)[-1]
        ids = _IDS.findall(user)
        budget_match = _BUDGET.search(user)
        budget = int(budget_match.group(1)) if budget_match else 3
        skill_match = _SKILL.search(user)
        skill = skill_match.group(1).strip() if skill_match else ""

        if kind == "failure":
            simulated = _simulated_rules(user, skill, mode, skill_aware=skill_aware)
            if simulated is not None:
                return simulated
        if kind == "failure":
            counts = Counter(_category(r) for r in _REASON.findall(user))
            themes = [(c, n, f"tasks failing with '{c}'") for c, n in counts.most_common()] or [
                ("unexplained failure", len(ids), "tasks that failed without a stated reason")
            ]
        else:
            counts = Counter(t.strip() or "general" for t in _TASK_TYPE.findall(user))
            themes = [(t, n, f"successful '{t}' tasks") for t, n in counts.most_common()] or [
                ("general", len(ids), "successful tasks")
            ]
        themes = themes[: max(budget, 1) + 1]  # one over budget, so truncation is exercised

        if mode == "patch":
            heading = next((line for line in skill.splitlines() if line.startswith("#")), None)
            items = []
            for i, (name, n, about) in enumerate(themes):
                rule = f"- For {about} (seen {n}x): state the rule that covers '{name}' before answering."
                if i == 0 and heading:
                    items.append({"op": "insert_after", "target": heading, "content": rule})
                else:
                    items.append({"op": "append", "content": rule})
            key = "edits"
        elif mode == "rewrite_from_suggestions":
            items = [
                {
                    "type": "add_rule" if kind == "failure" else "clarify",
                    "title": f"Cover {name}",
                    "motivation": f"{n} trajectories in this minibatch were {about}.",
                    "instruction": f"Add one explicit rule for {about}.",
                    "priority_hint": "high" if n > 1 else "medium",
                }
                for name, n, about in themes
            ]
            key = "revise_suggestions"
        else:
            lessons = "\n".join(f"- Handle {about} explicitly." for _name, _n, about in themes)
            items = [
                {
                    "title": f"Lessons from {len(ids)} {kind} trajectories",
                    "change_summary": [f"added guidance for {about}" for _n, _c, about in themes],
                    "new_skill": f"{skill}\n\n## Lessons (offline stand-in)\n{lessons}\n",
                }
            ]
            key = "skill_candidates"

        reply: dict = {
            "batch_size": len(ids),
            "patch": {
                "reasoning": f"offline stand-in: {len(ids)} {kind} trajectories, {len(themes)} themes",
                key: items,
            },
        }
        if kind == "failure":
            reply["failure_summary"] = [
                {"failure_type": name, "count": n, "description": about}
                for name, n, about in themes
            ]
        else:
            reply["success_patterns"] = [about for _name, _n, about in themes]
        return reply


def _failures(user: str) -> list[tuple[str, str]]:
    """(task type, failure reason) of every failure reason in an analyst message, the task type
    taken from the reason's trajectory block ("" when there is none)."""
    blocks = _TRAJECTORY.split(user)
    found = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        task_type = _TASK_TYPE.search(block)
        kind = task_type.group(1).strip() if task_type else ""
        found.extend((kind, reason) for reason in _REASON.findall(block))
    return found


def _lapse_note(task_type: str) -> str:
    kind = f"{task_type.replace('_', '-')} " if task_type else ""
    return f"When answering a {kind}question, re-read the Record line and copy its value exactly."


def _simulated_rules(user: str, skill: str, mode: str, *, skill_aware: bool = False) -> dict | None:
    """Failure analysis on the simulation: the rules that explain the failures (most frequent
    first), minus those the skill already states; None when no reason is a simulation reason.
    Skill-aware, a failure no rule explains is an execution lapse: a note per task type instead
    of the re-check edit."""
    parsed = [(t, parse_fail_reason(r)) for t, r in _failures(user)]
    parsed = [(t, p) for t, p in parsed if p is not None]
    if not parsed:
        return None
    counts: Counter[str] = Counter()
    unexplained = 0
    lapses: list[str] = []
    for task_type, (predicted, golds) in parsed:
        rules = explain_failure(predicted, golds)
        if not rules:
            unexplained += 1
            if _lapse_note(task_type) not in lapses:
                lapses.append(_lapse_note(task_type))
        for rule in rules:
            counts[rule.name] += 1
    by_name = {rule.name: rule for rule in RULES}
    ranked = sorted(counts, key=lambda n: (-counts[n], [r.name for r in RULES].index(n)))
    texts = [(by_name[n].text, counts[n]) for n in ranked if by_name[n].marker not in skill]
    if unexplained and not skill_aware and RECHECK_RULE not in skill:
        texts.append((RECHECK_RULE, unexplained))
    summary = [
        {"failure_type": n, "count": counts[n], "description": f"answers not formatted by rule {n}"}
        for n in ranked
    ]
    if unexplained:
        summary.append(
            {
                "failure_type": "wrong value",
                "count": unexplained,
                "description": "the answer value itself is wrong",
            }
        )
    if skill_aware:
        for entry in summary:
            lapse = entry["failure_type"] == "wrong value"
            entry["classification"] = "execution_lapse" if lapse else "skill_gap"
    if mode == "patch":
        key, items = "edits", [{"op": "append", "content": text} for text, _n in texts]
    elif mode == "full_rewrite_minibatch":
        rules = "\n".join(text for text, _n in texts)
        key = "skill_candidates"
        items = [
            {
                "title": f"Add {len(texts)} answer-format rules",
                "change_summary": [f"added: {text}" for text, _n in texts],
                "new_skill": f"{skill}\n\n{rules}\n" if texts else f"{skill}\n",
            }
        ]
    else:
        key = "revise_suggestions"
        items = [
            {
                "type": "add_rule",
                "title": text.lstrip("- ")[:60],
                "motivation": f"{n} failed trajectories in this minibatch need it.",
                "instruction": f"Add this rule to the skill: {text}",
                "priority_hint": "high" if n > 1 else "medium",
            }
            for text, n in texts
        ]
    reply: dict[str, Any] = {
        "batch_size": len(parsed),
        "failure_summary": summary,
        "patch": {"reasoning": f"offline stand-in: {len(parsed)} simulated failures", key: items},
    }
    if skill_aware:
        reply[NOTES_KEY] = lapses
    return reply


def _json_after(user: str, header: str) -> Any:
    """The JSON value that follows `header` in a user message."""
    start = user.find(header)
    if start < 0:
        return None
    bracket = user.find("[", start + len(header))
    if bracket < 0:
        return None
    value, _end = json.JSONDecoder().raw_decode(user, bracket)
    return value


_KEYS = {
    "patch": "edits",
    "rewrite_from_suggestions": "revise_suggestions",
    "full_rewrite_minibatch": "skill_candidates",
}


def _identity(item: dict) -> str:
    for key in ("new_skill", "instruction", "content"):
        if item.get(key):
            return f"{item.get('op', '')}|{item.get('target', '')}|{item[key]}"
    return json.dumps(item, sort_keys=True)


def _merge(reply_format: str, user: str) -> dict:
    _stage, _group, mode = reply_format.split(":", 2)
    key = _KEYS[mode]
    patches = (
        _json_after(user, "## Patches to merge") or _json_after(user, "## Groups to combine") or []
    )
    merged: dict[str, dict] = {}
    for patch in patches:
        for item in patch.get(key, []):
            ident = _identity(item)
            if ident in merged:
                support = (merged[ident].get("support_count") or 1) + (
                    item.get("support_count") or 1
                )
                merged[ident] = {**merged[ident], "support_count": support}
            else:
                merged[ident] = dict(item)
    items = list(merged.values())
    if mode == "full_rewrite_minibatch":
        items = items[:1]
    return {"reasoning": f"offline stand-in: {len(items)} distinct items kept", key: items}


def _ranking(_reply_format: str, user: str) -> dict:
    lines = _POOL_LINE.findall(user)
    budget_match = _POOL_BUDGET.search(user)
    budget = int(budget_match.group(1)) if budget_match else len(lines)

    def key(entry: tuple[str, str]) -> tuple[int, int, int]:
        index, text = int(entry[0]), entry[1]
        support = _SUPPORT.search(text)
        return (0 if "failure" in text else 1, -(int(support.group(1)) if support else 0), index)

    chosen = [int(i) for i, _text in sorted(lines, key=key)[:budget]]
    return {
        "reasoning": "offline stand-in: failure-driven first, then by support",
        "selected_indices": chosen,
    }


def _rewrite(_reply_format: str, user: str) -> dict:
    match = _SKILL.search(user)
    skill = match.group(1).rstrip() if match else ""
    suggestions = _json_after(user, "## Selected Revise Suggestions") or []
    lines = []
    for s in suggestions:
        instruction = str(s.get("instruction", ""))
        rule = (
            instruction.split(": ", 1)[1]
            if instruction.startswith("Add this rule to the skill: ")
            else f"- {instruction}"
        )
        if rule not in skill:
            lines.append(rule)
    new_skill = skill + ("\n\n" + "\n".join(lines) if lines else "") + "\n"
    return {
        "reasoning": f"offline stand-in: {len(lines)} suggestions applied",
        "change_summary": [f"added: {line}" for line in lines],
        "new_skill": new_skill,
    }


def _counts(user: str) -> dict[str, int]:
    return {name.lower(): int(n) for name, n in _CATEGORY_COUNT.findall(user)}


def _slow_update(_reply_format: str, user: str) -> dict:
    counts = _counts(user)
    content = "\n".join(
        [
            "- Apply every formatting rule above to the final answer, not only to the reasoning.",
            f"- Last epoch: {counts.get('improved', 0)} tasks improved, {counts.get('regressed', 0)} regressed, "
            f"{counts.get('persistent_fail', 0)} still fail.",
        ]
    )
    return {
        "reasoning": "offline stand-in: summary of the comparison",
        "slow_update_content": content,
    }


def _meta_skill(_reply_format: str, user: str) -> dict:
    counts = _counts(user)
    content = (
        "- Prefer edits that state a concrete output format; they moved "
        f"{counts.get('improved', 0)} tasks last epoch.\n"
        "- Do not re-propose edits that the step buffer lists as rejected."
    )
    return {
        "reasoning": "offline stand-in: lessons for the optimizer",
        "meta_skill_content": content,
    }


def _learning_rate(_reply_format: str, user: str) -> dict:
    """As many items as the share of failed train tasks asks for: ceil(items * (1 - hard))."""
    hard = _EVIDENCE_HARD.search(user)
    items = _EVIDENCE_ITEMS.search(user)
    available = int(items.group(1)) if items else 0
    failed = 1.0 - float(hard.group(1)) if hard else 1.0
    decision = math.ceil(round(available * failed, 6))
    return {
        "reasoning": f"offline stand-in: {failed:.0%} of the train tasks failed",
        "learning_rate": decision,
        "confidence": "high" if failed >= 0.5 else "medium",
        "risk_notes": [] if decision < available else ["applies the whole pool"],
    }


def _consolidate(_reply_format: str, user: str) -> dict:
    """Notes that share their habit (the text after the first ", ") become one note."""
    groups: dict[str, list[str]] = {}
    for note in _NOTE_LINE.findall(user):
        _head, sep, habit = note.partition(", ")
        groups.setdefault(habit if sep else note, []).append(note)
    notes = [
        group[0] if len(group) == 1 else f"For every kind of question, {habit}"
        for habit, group in groups.items()
    ]
    return {"reasoning": f"offline stand-in: {len(groups)} distinct habits", "notes": notes}


_OTHER_STAGES = {
    "lr_autonomous": _learning_rate,
    "appendix_consolidate": _consolidate,
    "merge": _merge,
    "ranking": _ranking,
    "rewrite_skill": _rewrite,
    "slow_update": _slow_update,
    "meta_skill": _meta_skill,
}
