"""Environments: where the target model runs tasks with the current skill and gets scored.

`Environment` is the protocol the training loop uses; `QAEnvironment` is the default (SQuAD-style
question answering). A custom environment supplies its own prompts and grader and reuses
`split_by_ratio` and `run_rollout` (see `skillopt/examples/custom_env.py`).
"""

from skillopt.envs.base import (
    Environment,
    Grade,
    Grader,
    Splits,
    TargetModel,
    Task,
    parse_split_ratio,
    run_rollout,
    split_by_ratio,
    split_counts,
)
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
