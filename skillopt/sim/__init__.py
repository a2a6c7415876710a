"""The offline QA simulation: formatting rules, a target that follows them only when the skill
states them, and the bundled dataset (`examples/qa_sim/`). Deterministic, no network.

A training run with `OfflineTarget` as the target starts low (the starting skill states no
rule), and rises as the optimizer writes rule texts (found with `explain_failure`) into the skill.
"""

from skillopt.sim.optimizer import OfflineOptimizer
from skillopt.sim.rules import (
    RULES,
    RULES_BY_NAME,
    FormatRule,
    active_rules,
    apply_rules,
    explain_failure,
    format_answer,
    parse_fail_reason,
)
from skillopt.sim.target import OfflineTarget

DATASET_RESOURCE = "examples/qa_sim/dataset.jsonl"
"""The bundled dataset, for `skillopt.base.resources.resource_path` or `${skillopt.resource:...}`."""
SKILL_RESOURCE = "examples/qa_sim/skill.md"
"""The bundled starting skill (states none of the rules)."""

__all__ = [
    "DATASET_RESOURCE",
    "RULES",
    "RULES_BY_NAME",
    "SKILL_RESOURCE",
    "FormatRule",
    "OfflineOptimizer",
    "OfflineTarget",
    "active_rules",
    "apply_rules",
    "explain_failure",
    "format_answer",
    "parse_fail_reason",
]
