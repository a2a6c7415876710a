"""A deterministic stand-in for the optimizer: no network, no key, schema-valid replies.

It is not an optimizer. It reads the failure reasons and task types it is shown and turns them
into plausible, valid payload items so the quickstart and the tests exercise every code path.
The same request always gets the same reply.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from skillopt.llm.types import ChatRequest, ChatResponse, estimate_tokens

_REASON = re.compile(r"^Failure reason: (.+)$", re.MULTILINE)
_TASK_TYPE = re.compile(r"^Task type: (.+)$", re.MULTILINE)
_IDS = re.compile(r"^### Trajectory \d+ \(id=(.+)\)$", re.MULTILINE)
_BUDGET = re.compile(r"at most (\d+)")
_SKILL = re.compile(r"^## Current Skill\n(.*?)(?=^## )", re.MULTILINE | re.DOTALL)


def _category(reason: str) -> str:
    return reason.split(":", 1)[0].strip() or "unknown"


class OfflineBackend:
    """Answers in the reply format named by the request, derived only from the request text."""

    name = "offline"

    def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        user = request.messages[-1]["content"] if request.messages else ""
        reply = self._reply(request.reply_format, user)
        text = json.dumps(reply, ensure_ascii=False, indent=2)
        return ChatResponse(
            text=text,
            prompt_tokens=estimate_tokens(request.chars),
            completion_tokens=estimate_tokens(len(text)),
            latency_s=time.perf_counter() - started,
            model="offline-stand-in",
        )

    def _reply(self, reply_format: str, user: str) -> dict:
        kind = "success" if reply_format.startswith("success") else "failure"
        mode = reply_format.split(":", 1)[-1]
        ids = _IDS.findall(user)
        budget_match = _BUDGET.search(user)
        budget = int(budget_match.group(1)) if budget_match else 3
        skill_match = _SKILL.search(user)
        skill = skill_match.group(1).strip() if skill_match else ""

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
