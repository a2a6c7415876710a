"""A small custom environment: arithmetic word problems scored by the exact number.

Use it in a training run with

    skillopt-train env=arithmetic env.n_tasks=40          # conf/env/arithmetic.yaml

An environment needs three things (the `skillopt.envs.Environment` protocol): a `name`,
`splits()` returning train/selection/test tasks, and `rollout()` that answers tasks with the
skill in the target's system prompt and writes the rollout layout. Most environments only differ
in their tasks, prompts and grading, so this one reuses `split_by_ratio` and `run_rollout`
(which bring resume, threading, error rows and the files the reflect step reads) and supplies:

- `tasks()`: generated from a seed, so no data file is needed;
- `system_prompt(skill)` and `user_prompt(task)`;
- `grade_number(task, reply)`: hard = soft = 1 when the last number in the answer equals the gold.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillopt.base.checks import check_int
from skillopt.envs import (
    Grade,
    Splits,
    TargetModel,
    Task,
    extract_answer,
    parse_split_ratio,
    run_rollout,
    skill_section,
    split_by_ratio,
)

SYSTEM_TEMPLATE = """\
You solve short arithmetic word problems.

{skill_section}## How to reply
Work the problem out step by step, then give the final number inside <answer>...</answer>.
"""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")

# (task_type, question with {a} {b} {c}, answer from a, b, c)
_TEMPLATES = (
    (
        "multiply_subtract",
        "A baker fills {a} trays with {b} rolls each and sells {c} rolls. How many rolls are left?",
        lambda a, b, c: a * b - c,
    ),
    (
        "add",
        "A library has {a} novels, {b} atlases and {c} dictionaries. How many books is that in all?",
        lambda a, b, c: a + b + c,
    ),
    (
        "divide",
        "{a} hikers share {b} sandwiches equally, and each hiker also brings {c} apples."
        " How many sandwiches does each hiker get?",
        lambda a, b, c: b // a,
    ),
)


def number_in(text: str) -> float | None:
    """The last number in `text` (thousands separators allowed), None when there is none."""
    found = _NUMBER.findall(text)
    return float(found[-1].replace(",", "")) if found else None


def grade_number(task: Task, reply: str) -> Grade:
    """1.0 when the answer's last number equals the gold number, else 0.0 (hard and soft alike)."""
    predicted = extract_answer(reply)
    got = number_in(predicted)
    gold = float(task.answers[0])
    correct = got is not None and got == gold
    report = (
        f"Problem: {task.question}\nPredicted answer: {predicted}\n"
        f"Expected number: {task.answers[0]}\nCorrect: {int(correct)}"
    )
    reason = (
        "" if correct else f"wrong number: predicted '{predicted}' but expected {task.answers[0]}"
    )
    score = 1.0 if correct else 0.0
    return Grade(hard=score, soft=score, predicted=predicted, report=report, fail_reason=reason)


class ArithmeticEnvironment:
    """Generated arithmetic word problems.

    n_tasks: how many problems to generate, default 30.
    seed: seed of the generator, default 0 (same seed, same problems).
    split_ratio: train:selection:test weights, default "4:3:3".
    split_seed: seed of the shuffle before splitting, default 42.
    name: environment name and default task type, default "arithmetic".
    """

    def __init__(
        self,
        *,
        n_tasks: int = 30,
        seed: int = 0,
        split_ratio: str | Sequence[float] = "4:3:3",
        split_seed: int = 42,
        name: str = "arithmetic",
    ) -> None:
        check_int("n_tasks", n_tasks, minimum=1)
        check_int("seed", seed)
        check_int("split_seed", split_seed)
        self.name = name
        self.n_tasks = n_tasks
        self.seed = seed
        self.split_ratio = parse_split_ratio(split_ratio)
        self.split_seed = split_seed

    def tasks(self) -> tuple[Task, ...]:
        rng = random.Random(self.seed)
        tasks = []
        for i in range(self.n_tasks):
            task_type, question, solve = _TEMPLATES[i % len(_TEMPLATES)]
            a, b, c = rng.randint(2, 9), rng.randint(3, 12), rng.randint(1, 9)
            if task_type == "divide":
                b = a * b  # divides evenly
            tasks.append(
                Task(
                    id=f"arith-{i + 1:03d}",
                    question=question.format(a=a, b=b, c=c),
                    answers=(str(solve(a, b, c)),),
                    task_type=task_type,
                )
            )
        return tuple(tasks)

    def splits(self) -> Splits:
        return split_by_ratio(self.tasks(), self.split_ratio, seed=self.split_seed)

    def system_prompt(self, skill: str) -> str:
        return SYSTEM_TEMPLATE.replace("{skill_section}", skill_section(skill))

    def user_prompt(self, task: Task) -> str:
        return f"## Problem\n{task.question}"

    def rollout(
        self, tasks: Sequence[Task], *, skill: str, out_dir: Path, target: TargetModel
    ) -> list[dict[str, Any]]:
        return run_rollout(
            tasks,
            out_dir=out_dir,
            target=target,
            system_prompt=self.system_prompt(skill),
            user_prompt=self.user_prompt,
            grade=grade_number,
            default_task_type=self.name,
        )
