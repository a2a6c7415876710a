"""The report's own bad-input error (the store's is `skillopt.tracking.records.StoreError`)."""

from __future__ import annotations

from skillopt.base.errors import SkillOptError


class ReportError(SkillOptError):
    """The report cannot be made as asked: an option out of range, or a `--compare` run that is
    ambiguous, unknown or not a reflect run. The message is one line."""
