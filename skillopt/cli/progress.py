"""What a job tells its user: a tqdm bar over minibatches (quiet when not a TTY), failures as they
happen, and a short summary at the end."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from skillopt.engine.minibatch import Minibatch
from skillopt.engine.outcome import MinibatchResult, NullObserver, ReflectOutcome
from skillopt.engine.train import NullTrainObserver

log = logging.getLogger("skillopt.reflect")


class ProgressBar(NullObserver):
    """A ReflectObserver: one tick per finished minibatch; failures are logged as they happen."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def on_start(self, plan: list[Minibatch]) -> None:
        self._bar = tqdm(
            total=len(plan), unit="minibatch", desc="reflect", disable=not sys.stderr.isatty()
        )

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        if result.status == "failed":
            log.warning("%s failed (%s): %s", result.name, result.failure_reason, result.error)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{result.name} {result.status}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def log_outcome(outcome: ReflectOutcome, summary: dict[str, Any], out_dir: Path) -> None:
    """The end-of-run summary: one line of counts, usage and cost, then each failed minibatch."""
    mb = summary["minibatches"]
    payload = summary["payload"]
    if outcome.dry_run:
        est = summary["dry_run_estimate"]
        log.info(
            "dry run: %d requests written, ~%d prompt tokens, ~$%.4f input cost; nothing was called -> %s",
            est["requests"],
            est["prompt_tokens"],
            est["input_cost_usd"],
            out_dir,
        )
        return
    llm = summary["llm"]
    log.info(
        "done: %d minibatches (%d ok, %d failed, %d empty, %d resumed), %d %s kept "
        "(%d dropped, %d over budget); %d calls, %d cache hits, %d+%d tokens, $%.4f; %.2fs -> %s",
        mb["total"],
        mb["ok"],
        mb["failed"],
        mb["empty"],
        mb["resumed"],
        payload["items"],
        outcome.spec.plural,
        payload["dropped"],
        payload["truncated_by_budget"],
        llm["calls"],
        llm["cache_hits"],
        llm["prompt_tokens"],
        llm["completion_tokens"],
        llm["cost_usd"],
        outcome.wall_s,
        out_dir,
    )
    for failed in summary["failed_minibatches"]:
        log.warning("failed: %s (%s) %s", failed["minibatch"], failed["reason"], failed["error"])


class TrainProgress(NullTrainObserver):
    """A TrainObserver: a tqdm bar over the run's steps (quiet when not a TTY)."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def on_start(self, plan: dict[str, Any]) -> None:
        self._bar = tqdm(
            total=plan["total_steps"],
            initial=plan["resume_after"],
            unit="step",
            desc="train",
            disable=not sys.stderr.isatty(),
        )

    def on_step(self, record: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(
                f"{record['action']} best={record['best_score']:.3f}", refresh=False
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
