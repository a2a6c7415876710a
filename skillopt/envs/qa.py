"""The generic question-answering environment (SkillOpt's SearchQA, spec §11.2-11.3).

The target reads a context and a question with the skill in its system prompt, answers inside
`<answer>...</answer>`, and is scored SQuAD-style: hard = exact match, soft = token F1.

Dataset: JSONL (one item per line), or JSON holding a list or `{"data": [...]}`. Each item is
`{"id", "question", "answers": [str, ...], "context"?, "task_type"?}`; other keys are kept in
`Task.extra`. Bad input stops with the file, the line (or item index) and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillopt.base.checks import SettingError, check_int, check_text
from skillopt.base.errors import RolloutError
from skillopt.base.rollout import check_task_id
from skillopt.engine.environment import Grade, Splits, TargetModel, Task
from skillopt.engine.rollouts import run_rollout
from skillopt.engine.splits import parse_split_ratio, split_by_ratio
from skillopt.envs.scoring import exact_match, extract_answer, f1_score

SKILL_PLACEHOLDER = "{skill_section}"
DOC_SEPARATOR = "[DOC]"

DEFAULT_SYSTEM_TEMPLATE = """\
You are a question-answering agent. Each task gives you a context and one question about it.
Answer from the context; use background knowledge only when the context says nothing relevant.

{skill_section}## How to reply
Think briefly if it helps, then put your final answer inside <answer>...</answer> tags.
Put only the answer itself inside the tags: no explanation, no sources, no quotation marks.
"""

_KNOWN_KEYS = {"id", "question", "answers", "context", "task_type"}


def skill_section(skill: str) -> str:
    """The skill as a `## Skill` section for the system prompt, or "" for a blank skill."""
    body = skill.strip()
    return f"## Skill\n{body}\n\n" if body else ""


def cut_context(context: str, max_chars: int) -> str:
    """At most `max_chars` characters (0 = no limit), cut at the last `[DOC]` boundary that fits
    when there is one, so no passage is cut in the middle unless a single passage is too long."""
    if max_chars <= 0 or len(context) <= max_chars:
        return context
    # the last passage start that leaves everything before it within the limit
    boundary = context.rfind(DOC_SEPARATOR, 0, max_chars + len(DOC_SEPARATOR))
    cut = boundary if boundary > 0 else max_chars
    return context[:cut].rstrip()


def build_user_prompt(task: Task, *, context_chars: int = 6000) -> str:
    """`## Context` (omitted when empty) then `## Question`, as SkillOpt's SearchQA asks."""
    context = cut_context(task.context, context_chars).strip()
    question = f"## Question\n{task.question}"
    return f"## Context\n{context}\n\n{question}" if context else question


def grade_qa(task: Task, reply: str) -> Grade:
    """SQuAD scoring of a reply: hard = exact match, soft = F1, with a parseable fail reason."""
    predicted = extract_answer(reply)
    em = exact_match(predicted, task.answers)
    f1 = f1_score(predicted, task.answers)
    golds = list(task.answers)
    report = (
        f"Question: {task.question}\n"
        f"Predicted answer: {predicted}\n"
        f"Gold answers: {json.dumps(golds, ensure_ascii=False)}\n"
        f"Exact Match: {int(em)}\n"
        f"F1: {f1:.2f}"
    )
    # One line, so the analyst header shows it whole; the offline optimizer parses this shape.
    shown = " ".join(predicted.split())
    reason = "" if em else f"EM=0: predicted '{shown}' but expected {golds!r}"
    return Grade(
        hard=em,
        soft=f1,
        predicted=predicted,
        report=report,
        fail_reason=reason,
        fields={"em": em, "f1": f1},
    )


def load_tasks(data_path: str | Path) -> tuple[Task, ...]:
    """Read and validate a QA dataset (format in the module docstring), in file order.

    `.jsonl`/`.ndjson` files are read line by line; any other file as one JSON document.
    Duplicate ids and ids that could leave `predictions/` are refused.
    """
    path = Path(data_path).expanduser()
    if not path.is_file():
        raise RolloutError(f"dataset not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RolloutError(f"{path}: not UTF-8 text ({exc.reason})") from None

    located: list[tuple[str, Any]] = []
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                located.append((f"{path}:{line_no}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise RolloutError(
                    f"{path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RolloutError(
                f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); JSON Lines files must end in .jsonl"
            ) from None
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            document = document["data"]
        if not isinstance(document, list):
            raise RolloutError(f'{path}: expected a JSON list of items or {{"data": [...]}}')
        located = [(f"{path}: item {index}", item) for index, item in enumerate(document)]

    if not located:
        raise RolloutError(f"{path}: the dataset holds no items")
    tasks: list[Task] = []
    first_seen: dict[str, str] = {}
    for where, item in located:
        task = _task_from_item(item, where)
        if task.id in first_seen:
            raise RolloutError(
                f"{where}: duplicate id {task.id!r} (first at {first_seen[task.id]})"
            )
        first_seen[task.id] = where
        tasks.append(task)
    return tuple(tasks)


def _task_from_item(item: Any, where: str) -> Task:
    if not isinstance(item, dict):
        raise RolloutError(f"{where}: expected a JSON object, got {type(item).__name__}")
    raw_id = item.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise RolloutError(f"{where}: 'id' must be a string or an integer, got {raw_id!r}")
    task_id = str(raw_id)
    try:
        check_task_id(task_id)
    except ValueError as exc:
        raise RolloutError(f"{where}: {exc}") from None
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise RolloutError(f"{where}: 'question' must be a non-empty string")
    answers = item.get("answers")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise RolloutError(f"{where}: 'answers' must be a non-empty list of strings")
    context = item.get("context", "")
    if context is None:
        context = ""
    if not isinstance(context, str):
        raise RolloutError(f"{where}: 'context' must be a string")
    task_type = item.get("task_type", "")
    if task_type is None:
        task_type = ""
    if not isinstance(task_type, str):
        raise RolloutError(f"{where}: 'task_type' must be a string")
    return Task(
        id=task_id,
        question=question,
        answers=tuple(answers),
        context=context,
        task_type=task_type,
        extra={k: v for k, v in item.items() if k not in _KNOWN_KEYS},
    )


class QAEnvironment:
    """Question answering over a dataset file, scored by exact match (hard) and F1 (soft).

    data_path: the dataset (JSONL, or JSON list / {"data": [...]}).
    split_ratio: train:selection:test weights, "a:b:c" or three numbers, default "4:3:3".
    split_seed: seed of the shuffle before splitting, default 42.
    limit: > 0 keeps only the first `limit` train tasks; selection and test stay whole
        (SkillOpt cut every split, which made test scores depend on it). Default 0 = all.
    context_chars: context characters shown to the target, default 6000 (0 = no limit).
    name: the environment's name, also the task_type of items that have none. Default "qa".
    system_template: the target's system prompt; must contain `{skill_section}`, where the
        skill goes. Default: `DEFAULT_SYSTEM_TEMPLATE`.

    The dataset is read on the first `splits()` call and kept.
    """

    def __init__(
        self,
        *,
        data_path: str,
        split_ratio: str | Sequence[float] = "4:3:3",
        split_seed: int = 42,
        limit: int = 0,
        context_chars: int = 6000,
        name: str = "qa",
        system_template: str | None = None,
    ) -> None:
        check_text("data_path", data_path)
        check_int("split_seed", split_seed)
        check_int("limit", limit, minimum=0, note="0 = no limit")
        check_int("context_chars", context_chars, minimum=0, note="0 = no limit")
        template = DEFAULT_SYSTEM_TEMPLATE if system_template is None else system_template
        if SKILL_PLACEHOLDER not in template:
            raise SettingError(
                "system_template",
                template,
                f"must contain {SKILL_PLACEHOLDER}, where the skill goes",
            )
        self.name = name
        self.data_path = str(data_path)
        self.split_ratio = parse_split_ratio(split_ratio)
        self.split_seed = int(split_seed)
        self.limit = int(limit)
        self.context_chars = int(context_chars)
        self.system_template = template
        self._splits: Splits | None = None

    def tasks(self) -> tuple[Task, ...]:
        """Every dataset item, in file order."""
        return load_tasks(self.data_path)

    def splits(self) -> Splits:
        if self._splits is None:
            self._splits = split_by_ratio(
                self.tasks(), self.split_ratio, seed=self.split_seed, limit=self.limit
            )
        return self._splits

    def system_prompt(self, skill: str) -> str:
        """The target's system prompt with `skill` in its `## Skill` section."""
        return self.system_template.replace(SKILL_PLACEHOLDER, skill_section(skill))

    def user_prompt(self, task: Task) -> str:
        return build_user_prompt(task, context_chars=self.context_chars)

    def rollout(
        self, tasks: Sequence[Task], *, skill: str, out_dir: Path, target: TargetModel
    ) -> list[dict[str, Any]]:
        """Answer and score `tasks` (see `run_rollout` for files, resume and errors)."""
        return run_rollout(
            tasks,
            out_dir=out_dir,
            target=target,
            system_prompt=self.system_prompt(skill),
            user_prompt=self.user_prompt,
            grade=grade_qa,
            default_task_type=self.name,
            error_fields={"em": 0.0, "f1": 0.0},
        )
