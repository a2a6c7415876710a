"""The environment extension point: tasks, splits, the target model, and the grade of one reply.

An environment turns tasks into scored rollouts of the *target* model running with a skill.
`Environment` is what the training loop talks to. An environment supplies its tasks, prompts
and a grader; the engine owns the rest (`skillopt.engine.splits` cuts a dataset into splits,
`skillopt.engine.rollouts.run_rollout` asks the target and writes the rollout layout), so a new
environment is small (see `skillopt/examples/custom_env.py`).

Error policy (as GEPA's adapters state theirs): a reply that cannot be graded is a failed row
with its reason, never an exception; an environment raises only for systemic failures, such as
a dataset that cannot be read or a target that answered no task at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from skillopt.base.checks import check_int, check_number, check_text
from skillopt.llm.client import LLMClient

SPLIT_NAMES = ("train", "selection", "test")


@dataclass(frozen=True, kw_only=True)
class Task:
    """One item to solve. `answers` are the accepted gold answers; `extra` keeps any other field
    (compared, but left out of the hash so tasks can go in sets)."""

    id: str
    question: str
    answers: tuple[str, ...]
    context: str = ""
    task_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True)
class Splits:
    """Train (rolled out and reflected on), selection (gates each update) and test (reported)."""

    train: tuple[Task, ...]
    selection: tuple[Task, ...]
    test: tuple[Task, ...]

    def manifest(self) -> dict[str, Any]:
        """Sizes and ids per split, in split order (the loop writes it as split_manifest.json)."""
        parts = {name: getattr(self, name) for name in SPLIT_NAMES}
        return {
            "sizes": {name: len(tasks) for name, tasks in parts.items()},
            **{name: [t.id for t in tasks] for name, tasks in parts.items()},
        }


@dataclass(frozen=True, kw_only=True)
class TargetModel:
    """How the target is asked (`target.*` in config, besides the backend).

    client: the LLM client around the target backend (cache, ledger, listeners); its ledger
        counts the rollout calls under stage "rollout".
    name: model name sent with every request.
    max_tokens: completion limit per answer, default 1024.
    temperature: None leaves the server default; else 0..2.
    workers: tasks answered at the same time, default 8.
    """

    client: LLMClient
    name: str
    max_tokens: int = 1024
    temperature: float | None = None
    workers: int = 8

    def __post_init__(self) -> None:
        check_text("name", self.name)
        check_int("max_tokens", self.max_tokens, minimum=1)
        check_number("temperature", self.temperature, minimum=0, maximum=2, optional=True)
        check_int("workers", self.workers, minimum=1)


@runtime_checkable
class Environment(Protocol):
    """What the training loop needs from an environment.

    `splits()` must be deterministic for a given configuration. `rollout()` answers `tasks` with
    `skill` in the target's system prompt, writes the rollout layout under `out_dir`, resumes from
    what is already there, and returns one row per task in task order.
    """

    name: str

    def splits(self) -> Splits: ...

    def rollout(
        self, tasks: Sequence[Task], *, skill: str, out_dir: Path, target: TargetModel
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, kw_only=True)
class Grade:
    """How one reply scored.

    hard: the score the loop gates on (normally 1.0 or 0.0); soft: a graded score in 0..1.
    predicted: the answer taken from the reply.
    report: body of the evaluation message appended to the conversation (the analysts read it).
    fail_reason: why it failed, required when hard < 1.
    fields: extra row fields (e.g. `em`, `f1`).
    """

    hard: float
    soft: float
    predicted: str
    report: str
    fail_reason: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


Grader = Callable[[Task, str], Grade]
