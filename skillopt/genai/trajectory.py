"""One MLflow evaluation record as a skillopt trajectory: a `results.jsonl` row and its conversation.

`eval_fn` returns an `EvaluationResultRecord` per train record: the inputs, what predict_fn
returned, the expectations, the aggregated score, each scorer's score and rationale, and the
trace. The analysts read trajectories in SkillOpt's rollout layout, so a record becomes

- a row: `hard` is 1 when the score reaches the pass score, else 0, so the one failure rule
  (`skillopt.base.scores`) sends it to the failure or the success analysts; `soft` is the score
  itself, which the gate averages; the inputs are the task, the outputs the predicted answer, the
  expectations the hidden reference (for diagnosis only, the analysts are told), and a failure's
  reason is its scorers' rationales;
- a conversation: the inputs (user turn), each span of the trace (an action and what it returned,
  in start order; the root span is left out when it is predict_fn itself, with the record's inputs,
  as MLflow's wrapper of an untraced predict_fn is), the outputs (assistant turn) and the verdict
  (the score, and each scorer's score and rationale).

A chat completion that MLflow's autologging recorded in OpenAI's shape is shown as its reply
messages, without the response id, timestamp and usage: they tell the analysts nothing, and they
would make every request differ from the last, so the call cache could never answer a repeated run.

"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlflow.entities import SpanStatusCode

if TYPE_CHECKING:
    from mlflow.entities import Trace
    from mlflow.genai.optimize.types import EvaluationResultRecord


def as_text(value: Any) -> str:
    """A value as the analysts read it: a string as it is, anything else as one line of JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def failure_reason(result: EvaluationResultRecord, pass_score: float) -> str:
    """The rationales of a failed record (a lone one verbatim, several named by scorer), or what
    its score says when no scorer gave a rationale."""
    rationales = {name: text for name, text in sorted(result.rationales.items()) if text}
    if len(rationales) == 1:
        return next(iter(rationales.values()))
    if rationales:
        return "; ".join(f"{name}: {text}" for name, text in rationales.items())
    return f"score {result.score:g} is below the pass score {pass_score:g}"


def reply_of(outputs: Any) -> Any:
    """The reply messages of a chat completion in OpenAI's shape (their content, or their tool
    calls); any other value as it is."""
    choices = outputs.get("choices") if isinstance(outputs, dict) else None
    if not isinstance(choices, list) or not choices:
        return outputs
    messages = [choice.get("message") if isinstance(choice, dict) else None for choice in choices]
    if not all(isinstance(message, dict) for message in messages):
        return outputs
    replies = [message.get("content") or message.get("tool_calls") for message in messages]
    return replies[0] if len(replies) == 1 else replies


def span_turns(trace: Trace | None, inputs: Any) -> list[dict[str, str]]:
    """The trace's spans as tool-call turns, in start order, without a root span that only
    repeats the record (its inputs are `inputs`); a span that failed says so in its observation."""
    if trace is None:
        return []
    spans = sorted(
        (span for span in trace.data.spans if span.parent_id is not None or span.inputs != inputs),
        key=lambda span: span.start_time_ns,
    )
    turns = []
    for span in spans:
        observation = as_text(reply_of(span.outputs))
        if span.status.status_code == SpanStatusCode.ERROR:
            observation = f"ERROR: {span.status.description}\n{observation}"
        turns.append(
            {"type": "tool_call", "cmd": f"{span.name} {as_text(span.inputs)}", "obs": observation}
        )
    return turns


def verdict(result: EvaluationResultRecord, *, passed: bool, pass_score: float) -> str:
    """The evaluation message at the end of the conversation."""
    outcome = "pass" if passed else "fail"
    lines = [
        "[EVALUATION RESULT]",
        f"Score: {result.score:g} ({outcome}; a record passes at >= {pass_score:g})",
    ]
    for name in sorted(set(result.individual_scores) | set(result.rationales)):
        score = result.individual_scores.get(name)
        line = f"- {name}: {'-' if score is None else f'{score:g}'}"
        if result.rationales.get(name):
            line += f" ({result.rationales[name]})"
        lines.append(line)
    return "\n".join(lines)


def trajectory(
    task_id: str, result: EvaluationResultRecord, *, pass_score: float
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The rollout row and the conversation of one scored record (its score must be a number)."""
    score = float(result.score)  # type: ignore[arg-type]  # checked by the caller
    passed = score >= pass_score
    inputs, outputs = as_text(result.inputs), as_text(result.outputs)
    turns = span_turns(result.trace, result.inputs)
    conversation = [
        {"role": "user", "content": inputs},
        *turns,
        {"role": "assistant", "content": outputs},
        {"role": "system", "content": verdict(result, passed=passed, pass_score=pass_score)},
    ]
    row: dict[str, Any] = {
        "id": task_id,
        "hard": 1.0 if passed else 0.0,
        "soft": score,
        "question": inputs,
        "predicted_answer": outputs,
        "reference_text": as_text(result.expectations),
        "n_turns": len(turns) + 1,
        "scores": dict(result.individual_scores),
    }
    if not passed:
        row["fail_reason"] = failure_reason(result, pass_score)
    return row, conversation
