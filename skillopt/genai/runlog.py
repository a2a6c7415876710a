"""What an optimization adds to the MLflow run that `optimize_prompts` opened.

Only with tracking on and a run active (`optimize_prompts(enable_tracking=True)` opens one; a
direct `optimize()` call without a run logs nothing). MLflow itself logs the optimizer's name, the
initial and final scores, and links the registered version; this adds what happened in between:

- metrics `eval_score` (each scored candidate's mean held-out score; step 0 is the initial prompt)
  and `best_eval_score`, at the loop's global step, as MLflow's GEPA optimizer logs `eval_score`;
- metrics `skillopt.llm.*` (the optimizer's calls, cache hits, errors, tokens, cost) and
  `skillopt.steps.*` (accepted, rejected, skipped) at the end;
- the run folder as artifacts under `skillopt/`: the settings, each step's rollout, prompts,
  patches and candidate, the skills, `history.json` and `summary.json`, in one upload.

Nothing here holds or sees the API key: the settings name its environment variable only.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from skillopt.engine.train import (
    BaselineRecord,
    NullTrainObserver,
    StepRecord,
    TrainOutcome,
)
from skillopt.engine.train.records import EpochRecord

ARTIFACT_DIR = "skillopt"
EVAL_SCORE = "eval_score"
BEST_EVAL_SCORE = "best_eval_score"


class ScoreLog(NullTrainObserver):
    """Logs the held-out score of every scored candidate, and the best so far, as it happens."""

    def on_baseline(self, record: BaselineRecord) -> None:
        score = record.gate_score
        mlflow.log_metrics({EVAL_SCORE: score, BEST_EVAL_SCORE: score}, step=0)

    def on_step(self, record: StepRecord) -> None:
        self._log(record.step, record.gate_score, record.best_score)

    def on_epoch_end(self, record: EpochRecord) -> None:
        self._log(record.step, record.gate_score, record.best_score)

    @staticmethod
    def _log(step: int, candidate: float | None, best: float | None) -> None:
        metrics = {EVAL_SCORE: candidate, BEST_EVAL_SCORE: best}
        scored = {name: value for name, value in metrics.items() if value is not None}
        if scored:
            mlflow.log_metrics(scored, step=step)


def log_run_folder(run_dir: Path, outcome: TrainOutcome) -> None:
    """The end-of-run metrics, then the whole run folder as artifacts under `skillopt/` (one
    upload)."""
    usage = outcome.usage["optimizer"]
    mlflow.log_metrics(
        {
            "skillopt.llm.calls": usage.calls,
            "skillopt.llm.cache_hits": usage.cache_hits,
            "skillopt.llm.errors": usage.errors,
            "skillopt.llm.prompt_tokens": usage.prompt_tokens,
            "skillopt.llm.completion_tokens": usage.completion_tokens,
            "skillopt.llm.cost_usd": usage.cost_usd,
            "skillopt.steps.accepted": outcome.accepts,
            "skillopt.steps.rejected": outcome.rejects,
            "skillopt.steps.skipped": outcome.skips,
        }
    )
    mlflow.log_artifacts(str(run_dir), artifact_path=ARTIFACT_DIR)
