"""The environment extension point: tasks, splits, the target model, and the rollout runner.

An environment turns tasks into scored rollouts of the *target* model running with a skill.
`Environment` is the protocol the training loop talks to; `split_by_ratio` and `run_rollout`
are the defaults an environment builds on, so a new one only supplies its prompts and a grader
(see `skillopt/examples/custom_env.py`).

`run_rollout` writes SkillOpt's rollout layout (spec §1.3), which `load_rollout` reads back:

    <out_dir>/results.jsonl                          one row per finished task, appended
    <out_dir>/predictions/<id>/conversation.json     user turn, reply, evaluation verdict
    <out_dir>/predictions/<id>/target_system_prompt.txt
    <out_dir>/predictions/<id>/target_user_prompt.txt
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from skillopt.atomic import write_json, write_text
from skillopt.engine.rollout import check_task_id
from skillopt.errors import BudgetExhausted, ConfigError, LLMError, RolloutError
from skillopt.llm.client import LLMClient
from skillopt.llm.types import ChatRequest

ROLLOUT_STAGE = "rollout"
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
    """How the target is asked: the LLM client (cache+ledger+backend), model name, completion limit, threads.

    client: wraps the target backend; its ledger counts the rollout calls under stage "rollout".
    model: model name sent with every request.
    max_tokens: completion limit per answer, default 1024.
    temperature: None leaves the server default.
    workers: tasks answered at the same time, default 8.
    """

    client: LLMClient
    model: str
    max_tokens: int = 1024
    temperature: float | None = None
    workers: int = 8

    def __post_init__(self) -> None:
        if not str(self.model).strip():
            raise ConfigError("target.model must name the target model, got an empty string")
        if self.max_tokens < 1:
            raise ConfigError(f"target.max_tokens must be >= 1, got {self.max_tokens}")
        if self.workers < 1:
            raise ConfigError(f"target.workers must be >= 1, got {self.workers}")


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


# --------------------------------------------------------------------------- splits


def parse_split_ratio(
    value: str | Sequence[float], *, key: str = "env.split_ratio"
) -> tuple[float, float, float]:
    """train:selection:test weights from "a:b:c" or three numbers; `key` names the setting in errors."""
    expected = "a string 'train:selection:test' such as '4:3:3', or a list of three numbers"
    if isinstance(value, (bool, int, float)):
        raise ConfigError(
            f"{key} must be {expected}, got {value!r} "
            "(quote it in YAML: an unquoted 4:3:3 is read as a base-60 integer)"
        )
    if isinstance(value, str):
        parts: list[Any] = value.split(":")
    else:
        try:
            parts = list(value)
        except TypeError:
            raise ConfigError(f"{key} must be {expected}, got {value!r}") from None
    if len(parts) != 3:
        raise ConfigError(f"{key} must have 3 parts (train:selection:test), got {value!r}")
    weights = []
    for part in parts:
        try:
            if isinstance(part, bool):
                raise ValueError
            weight = float(part)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} parts must be numbers, got {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{key} parts must be finite and >= 0, got {value!r}")
        weights.append(weight)
    if sum(weights) <= 0:
        raise ConfigError(f"{key} must have a positive total, got {value!r}")
    return weights[0], weights[1], weights[2]


def split_counts(n: int, ratio: Sequence[float]) -> tuple[int, ...]:
    """Split `n` by weight: floor each share, then give one leftover each to the largest
    fractional remainders (ties go to the earlier split). Exact decimal arithmetic, so 60 at
    0.4:0.3:0.3 is 24/18/18 like 4:3:3."""
    weights = [Fraction(repr(float(w))) for w in ratio]
    total = sum(weights)
    shares = [n * w / total for w in weights]
    counts = [math.floor(s) for s in shares]
    leftover = n - sum(counts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in by_remainder[:leftover]:
        counts[i] += 1
    return tuple(counts)


def split_by_ratio(
    tasks: Sequence[Task], ratio: Sequence[float], *, seed: int, limit: int = 0
) -> Splits:
    """Shuffle `tasks` with `random.Random(seed)`, cut train/selection/test by `ratio` (spec §11.2).

    `limit > 0` keeps only the first `limit` train tasks. Unlike SkillOpt, which truncated every
    split, selection and test stay whole, so gate and test scores mean the same with or without
    a limit.
    """
    if limit < 0:
        raise ConfigError(f"env.limit must be >= 0 (0 = no limit), got {limit}")
    order = list(tasks)
    random.Random(seed).shuffle(order)
    n_train, n_selection, _ = split_counts(len(order), ratio)
    train = order[:n_train]
    if limit > 0:
        train = train[:limit]
    return Splits(
        train=tuple(train),
        selection=tuple(order[n_train : n_train + n_selection]),
        test=tuple(order[n_train + n_selection :]),
    )


# --------------------------------------------------------------------------- rollout


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


def run_rollout(
    tasks: Sequence[Task],
    *,
    out_dir: str | Path,
    target: TargetModel,
    system_prompt: str,
    user_prompt: Callable[[Task], str],
    grade: Grader,
    default_task_type: str,
    error_fields: Mapping[str, Any] | None = None,
    reply_format: str = "answer",
) -> list[dict[str, Any]]:
    """Ask the target every task not yet in `out_dir`, write the rollout layout, return rows in task order.

    Each task is one single-turn call (`system_prompt` + `user_prompt(task)`) through
    `target.client` in a pool of `target.workers` threads; `grade` scores the reply. A finished
    task's prediction files are written first, then its row is appended to results.jsonl, so a
    row always has its files.

    Resume: rows already in results.jsonl are read back instead of asked again, except rows of
    failed calls (`agent_ok: false`), which are removed and asked again so that an outage is not
    frozen into the results. A torn last line (the process died mid-write) is dropped.

    A call raising `LLMError` becomes a row with hard=soft=0, `fail_reason="error: ..."`,
    `agent_ok: false` and `error_fields`, plus a conversation that shows the error. If every
    task ends that way, `RolloutError` is raised: a dead endpoint must not look like a bad
    skill. `BudgetExhausted` stops the rollout (finished rows stay written).
    """
    out = Path(out_dir)
    seen: set[str] = set()
    for task in tasks:
        try:
            check_task_id(task.id)
        except ValueError as exc:
            raise RolloutError(f"cannot roll out into {out}: {exc}") from None
        if task.id in seen:
            raise RolloutError(f"task id {task.id!r} is given twice to one rollout ({out})")
        seen.add(task.id)

    results_path = out / "results.jsonl"
    done = _resume_rows(results_path, retry_ids=seen)
    todo = [t for t in tasks if t.id not in done]
    rows = dict(done)
    if todo:
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        zero = dict(error_fields or {})

        def one(task: Task) -> dict[str, Any]:
            return _answer_one(
                task,
                folder=out / "predictions" / task.id,
                target=target,
                system_prompt=system_prompt,
                user_prompt=user_prompt(task),
                grade=grade,
                default_task_type=default_task_type,
                error_fields=zero,
                reply_format=reply_format,
            )

        first_error: BaseException | None = None
        with (
            results_path.open("a", encoding="utf-8") as results,
            ThreadPoolExecutor(max_workers=target.workers) as pool,
        ):
            futures: list[Future[dict[str, Any]]] = [pool.submit(one, t) for t in todo]
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                error = future.exception()
                if error is not None:
                    if first_error is None:
                        first_error = error
                        for pending in futures:
                            pending.cancel()
                    continue
                row = future.result()
                results.write(json.dumps(row, ensure_ascii=False) + "\n")
                results.flush()
                rows[row["id"]] = row
        if first_error is not None:
            raise first_error

    ordered = [rows[t.id] for t in tasks]
    if todo:
        # Rows were appended as calls finished; the finished file lists them in task order, so
        # everything read from it later (the reflect minibatch split) is deterministic.
        write_text(results_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    if ordered and all(r.get("agent_ok") is False for r in ordered):
        raise RolloutError(
            f"all {len(ordered)} target calls in {out} failed; first: "
            f"{ordered[0].get('fail_reason', 'error')} (check the target endpoint and model)"
        )
    return ordered


def _answer_one(
    task: Task,
    *,
    folder: Path,
    target: TargetModel,
    system_prompt: str,
    user_prompt: str,
    grade: Grader,
    default_task_type: str,
    error_fields: dict[str, Any],
    reply_format: str,
) -> dict[str, Any]:
    request = ChatRequest(
        model=target.model,
        messages=(
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": user_prompt},
        ),
        max_tokens=target.max_tokens,
        reply_format=reply_format,
        temperature=target.temperature,
    )
    described = {
        "question": task.question,
        "task_type": task.task_type or default_task_type,
        "task_description": task.question,
    }
    user_turn = {"role": "user", "content": user_prompt}
    try:
        result = target.client.complete(request, stage=ROLLOUT_STAGE, label=task.id)
    except BudgetExhausted:
        raise
    except LLMError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        verdict = (
            "[EVALUATION RESULT]\nNo answer: the target call failed, so the task scores 0.\n"
            f"Error: {message}"
        )
        _write_prediction(folder, system_prompt, user_prompt, [user_turn, _system(verdict)])
        return {
            "id": task.id,
            "hard": 0.0,
            "soft": 0.0,
            **error_fields,
            **described,
            "predicted_answer": "",
            "gold_answers": list(task.answers),
            "n_turns": 0,
            "agent_ok": False,
            "fail_reason": f"error: {message}",
        }

    reply = result.response.text
    scored = grade(task, reply)
    conversation = [
        user_turn,
        {"role": "assistant", "content": reply},
        _system(f"[EVALUATION RESULT]\n{scored.report}"),
    ]
    _write_prediction(folder, system_prompt, user_prompt, conversation)
    row: dict[str, Any] = {
        "id": task.id,
        "hard": float(scored.hard),
        "soft": float(scored.soft),
        **scored.fields,
        **described,
        "predicted_answer": scored.predicted,
        "gold_answers": list(task.answers),
        "response": reply,
        "n_turns": 1,
        "agent_ok": True,
    }
    if scored.hard < 1:
        row["fail_reason"] = scored.fail_reason or f"hard={scored.hard:g}"
    return row


def _system(content: str) -> dict[str, str]:
    return {"role": "system", "content": content}


def _write_prediction(
    folder: Path, system_prompt: str, user_prompt: str, conversation: list[dict[str, str]]
) -> None:
    write_text(folder / "target_system_prompt.txt", system_prompt)
    write_text(folder / "target_user_prompt.txt", user_prompt)
    write_json(folder / "conversation.json", conversation)


def _resume_rows(path: Path, *, retry_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Rows already in `path`, by id. Failed-call rows of `retry_ids` and a torn last line are
    removed from the file (rewritten atomically) so they can be asked again."""
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rows: dict[str, dict[str, Any]] = {}
    kept: list[str] = []
    rewrite = False
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if line_no == len(lines) and not line.endswith("\n"):
                rewrite = True  # torn final write: that task simply runs again
                continue
            raise RolloutError(
                f"{path}:{line_no}: not valid JSON ({exc.msg}); fix or delete the line to resume"
            ) from None
        if not isinstance(row, dict) or "id" not in row:
            raise RolloutError(f"{path}:{line_no}: expected a JSON object with an 'id'")
        rid = str(row["id"])
        if rid in rows:
            raise RolloutError(f"{path}:{line_no}: duplicate task id {rid!r}")
        if rid in retry_ids and row.get("agent_ok") is False:
            rewrite = True
            continue
        rows[rid] = row
        kept.append(line if line.endswith("\n") else line + "\n")
        rewrite = rewrite or not line.endswith("\n")
    if rewrite:
        write_text(path, "".join(kept))
    return rows
