"""Environments: where the target model runs tasks with the current skill and gets scored.

`QAEnvironment` is the default (SQuAD-style question answering). The protocol and the helpers an
environment builds on (`Environment`, `Task`, `Grade`, `run_rollout`, `split_by_ratio`, ...)
belong to the engine, which runs them; they are re-exported here for environment authors. A
custom environment supplies its own prompts and grader (see `skillopt/examples/custom_env.py`).
"""

from skillopt.engine.environment import Environment, Grade, Grader, Splits, TargetModel, Task
from skillopt.engine.rollouts import run_rollout
from skillopt.engine.splits import parse_split_ratio, split_by_ratio, split_counts
from skillopt.envs.qa import (
    DEFAULT_SYSTEM_TEMPLATE,
    QAEnvironment,
    build_user_prompt,
    cut_context,
    grade_qa,
    load_tasks,
    skill_section,
)
from skillopt.envs.scoring import exact_match, extract_answer, f1_score, normalize_answer

__all__ = [
    "DEFAULT_SYSTEM_TEMPLATE",
    "Environment",
    "Grade",
    "Grader",
    "QAEnvironment",
    "Splits",
    "TargetModel",
    "Task",
    "build_user_prompt",
    "cut_context",
    "exact_match",
    "extract_answer",
    "f1_score",
    "grade_qa",
    "load_tasks",
    "normalize_answer",
    "parse_split_ratio",
    "run_rollout",
    "skill_section",
    "split_by_ratio",
    "split_counts",
]
