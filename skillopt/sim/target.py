"""A deterministic stand-in for the target model of the QA simulation: no network, no key.

It behaves like a diligent reader that knows nothing about answer formats: it finds the raw
value in the context (the `Record: ...` line) and formats it only as the skill in its system
prompt says. So its score measures exactly which formatting rules the skill states.
"""

from __future__ import annotations

import re
import time

from skillopt.llm.types import ChatRequest, ChatResponse, estimate_tokens
from skillopt.sim.rules import active_rules, apply_rules

_RECORD = re.compile(r"^Record:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
UNKNOWN = "unknown"


class OfflineTarget:
    """A `ChatBackend` that answers `<answer>...</answer>` from the `Record:` line of the user turn."""

    name = "offline-target"

    def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        system = "\n\n".join(
            m.get("content", "") for m in request.messages if m.get("role") == "system"
        )
        users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
        text = self.reply(system, users[-1] if users else "")
        return ChatResponse(
            text=text,
            prompt_tokens=estimate_tokens(request.chars),
            completion_tokens=estimate_tokens(len(text)),
            latency_s=time.perf_counter() - started,
            model="offline-target",
        )

    @staticmethod
    def reply(system_prompt: str, user_prompt: str) -> str:
        """One line of reasoning, then the answer in tags."""
        match = _RECORD.search(user_prompt)
        if not match or not match.group(1):
            return f"The context has no record line, so I cannot tell.\n<answer>{UNKNOWN}</answer>"
        raw = match.group(1)
        answer, used = apply_rules(raw, active_rules(system_prompt))
        if used:
            how = "formatted by the skill's rules: " + ", ".join(rule.name for rule in used)
        else:
            how = "given as written, since no rule in the skill applies"
        return f"The context records '{raw}'; {how}.\n<answer>{answer}</answer>"
