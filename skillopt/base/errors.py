"""Errors a user can act on. Each carries a one-line message naming what is wrong and where."""

from __future__ import annotations


class SkillOptError(Exception):
    """Base class: bad input or bad configuration; the CLI prints it as one line and exits non-zero."""


class ConfigError(SkillOptError):
    """A configuration value is missing, unknown or out of range."""


class RolloutError(SkillOptError):
    """A rollout directory, results line or conversation file cannot be used."""


class LLMError(SkillOptError):
    """An optimizer call failed. `retryable` says whether trying again later could help."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class BudgetExhausted(LLMError):
    """`model.max_calls` or `model.max_cost_usd` was reached; no new call is started."""


class ReplyError(SkillOptError):
    """An optimizer reply could not be parsed or did not match the expected schema."""
