"""The train records of `optimize_prompts` as a skillopt environment, answered through `eval_fn`.

The training loop talks to an `Environment` (`skillopt.engine.environment`): splits, and a
rollout that answers tasks with a skill and writes the rollout layout. Here a task is one train
record, the skill is the candidate prompt text, and a rollout is one call of MLflow's `eval_fn`
with `{prompt name: candidate}`: MLflow patches `PromptVersion.template`, runs predict_fn on the
records and scores them, and each result becomes a trajectory (`skillopt.genai.trajectory`).

MLflow's `eval_fn` is not thread-safe. The loop rolls out from the thread that runs it (the
analysts' worker threads only call the optimizer), and this environment refuses a call from any
other thread rather than risk two evaluations patching the same class at once.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException

from skillopt.base.atomic import write_json, write_text
from skillopt.base.errors import LLMError
from skillopt.base.skill import skill_hash
from skillopt.engine.environment import Splits, TargetModel, Task
from skillopt.engine.splits import split_by_ratio
from skillopt.genai.trajectory import as_text, trajectory
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Ledger
from skillopt.llm.types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    from mlflow.genai.optimize.types import EvaluationResultRecord

EvalFn = Callable[[dict[str, str], list[dict[str, Any]]], list["EvaluationResultRecord"]]


class EvalFnEnvironment:
    """Train records scored by `eval_fn`, split into records to learn from and held-out records
    the gate scores candidates on.

    prompt_name: the key `eval_fn` expects for the candidate text. holdout: the share of the
    records held out (the split is `split_by_ratio` with `seed`). pass_score: a record scoring
    below it is a failure the failure analysts explain.
    """

    name = "mlflow-eval-fn"

    def __init__(
        self,
        *,
        eval_fn: EvalFn,
        prompt_name: str,
        records: Sequence[Mapping[str, Any]],
        holdout: float,
        seed: int,
        pass_score: float,
    ) -> None:
        width = max(4, len(str(len(records) - 1)))
        self._records = {f"record-{i:0{width}d}": dict(r) for i, r in enumerate(records)}
        self._eval_fn = eval_fn
        self.prompt_name = prompt_name
        self.holdout = holdout
        self.seed = seed
        self.pass_score = pass_score
        self._thread = threading.get_ident()
        self._scorer_scores: dict[tuple[str, tuple[str, ...]], list[dict[str, float]]] = {}

    def splits(self) -> Splits:
        """Train and selection (held-out) records; no test split. Both must be non-empty."""
        tasks = [
            Task(id=task_id, question=as_text(record.get("inputs")), answers=())
            for task_id, record in self._records.items()
        ]
        splits = split_by_ratio(tasks, (1 - self.holdout, self.holdout, 0), seed=self.seed)
        if not splits.train or not splits.selection:
            raise MlflowException.invalid_parameter_value(
                f"{len(tasks)} train records at holdout={self.holdout:g} leave "
                f"{len(splits.train)} to learn from and {len(splits.selection)} to gate on; "
                "SkillOptPromptOptimizer needs at least one of each: pass more records or "
                "another holdout"
            )
        return splits

    def rollout(
        self, tasks: Sequence[Task], *, skill: str, out_dir: Path, target: TargetModel
    ) -> list[dict[str, Any]]:
        """Score `skill` on `tasks` with one `eval_fn` call; write the rollout layout; return the
        rows in task order. (`target` is the protocol's: predict_fn is the target here.)"""
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "eval_fn was about to be called from another thread than the one running the "
                "optimization; MLflow's eval_fn is not thread-safe"
            )
        ids = tuple(task.id for task in tasks)
        results = self._eval_fn({self.prompt_name: skill}, [self._records[i] for i in ids])
        if len(results) != len(ids):
            raise MlflowException(f"eval_fn returned {len(results)} results for {len(ids)} records")
        rows = []
        for task_id, result in zip(ids, results, strict=True):
            _check_score(task_id, result.score)
            row, conversation = trajectory(task_id, result, pass_score=self.pass_score)
            write_json(out_dir / "predictions" / task_id / "conversation.json", conversation)
            rows.append(row)
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_text(out_dir / "results.jsonl", lines)
        self._scorer_scores[(skill_hash(skill), ids)] = [
            dict(result.individual_scores) for result in results
        ]
        return rows

    def scorer_means(self, skill: str, tasks: Sequence[Task]) -> dict[str, float]:
        """Each scorer's mean score of `skill` on `tasks`, from the rollout that scored them ({}
        when none did)."""
        per_record = self._scorer_scores.get((skill_hash(skill), tuple(t.id for t in tasks)), [])
        names = sorted({name for scores in per_record for name in scores})
        means = {}
        for name in names:
            values = [scores[name] for scores in per_record if name in scores]
            means[name] = sum(values) / len(values)
        return means


def _check_score(task_id: str, score: float | None) -> None:
    if score is None:
        raise MlflowException.invalid_parameter_value(
            f"{task_id} has no score: SkillOptPromptOptimizer learns from scored records; "
            "pass scorers to optimize_prompts"
        )
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise MlflowException.invalid_parameter_value(
            f"{task_id} scored {score!r}; the aggregated score must be a finite number"
        )


class _PredictFnTarget:
    """The backend of the target role, which the loop's collaborators carry. predict_fn is the
    real target and only `eval_fn` reaches it, so this backend is never asked."""

    name = "mlflow-predict-fn"

    def complete(self, request: ChatRequest) -> ChatResponse:
        raise LLMError("the target is predict_fn, reached only through MLflow's eval_fn")


def predict_fn_target() -> TargetModel:
    """The target role of the loop: predict_fn, reached through the environment's rollouts."""
    return TargetModel(
        client=LLMClient(backend=_PredictFnTarget(), ledger=Ledger()), name="predict_fn"
    )
