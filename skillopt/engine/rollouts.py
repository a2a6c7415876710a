"""The rollout runner: the target answers tasks with a skill, and the rows land in SkillOpt's layout.

`run_rollout` writes the rollout directory (spec §1.3) that `skillopt.base.rollout.load_rollout`
reads back:

    <out_dir>/results.jsonl                          one row per finished task, appended
    <out_dir>/predictions/<id>/conversation.json     user turn, reply, evaluation verdict
    <out_dir>/predictions/<id>/target_system_prompt.txt
    <out_dir>/predictions/<id>/target_user_prompt.txt
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.errors import BudgetExhausted, LLMError, RolloutError
from skillopt.base.rollout import check_task_id
from skillopt.engine.environment import Grader, TargetModel, Task
from skillopt.llm import tracing
from skillopt.llm.types import ChatRequest

ROLLOUT_STAGE = "rollout"


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
            futures: list[Future[dict[str, Any]]] = [tracing.submit(pool, one, t) for t in todo]
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
        model=target.name,
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
