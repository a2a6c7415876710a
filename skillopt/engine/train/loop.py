"""The training loop: epochs of steps, each gated on the selection split, then epoch-level stages.

    baseline: score the initial skill on the selection split
    for each epoch: for each step: rollout -> reflect -> aggregate -> select -> update -> gate
                    then the slow update (guidance block) and the optimizer's meta skill
    end: promote the final skill if it beats the best, test the initial, best and final skill

Scores are kept in one unit: the selection cache holds measured (hard, soft) pairs only, and
every current or best score is the gate metric of a measured skill. State is saved atomically
after every step and stage, so a stopped run continues from the last completed step and ends
with the same skills, history and metrics as one that never stopped.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.errors import ConfigError, SkillOptError
from skillopt.base.rollout import load_rollout
from skillopt.base.scores import Score, mean_score
from skillopt.base.skill import skill_hash, slow_update_guidance, with_slow_update_block
from skillopt.engine.environment import Splits, Task
from skillopt.engine.formatting import format_conversation
from skillopt.engine.train.epoch import propose_meta_skill, propose_slow_update
from skillopt.engine.train.gate import GateDecision, GateState, decide
from skillopt.engine.train.items import short_item_summary
from skillopt.engine.train.longitudinal import build_pairs, filter_pairs, format_comparison
from skillopt.engine.train.observer import NullTrainObserver, TrainObserver
from skillopt.engine.train.schedule import make_schedule
from skillopt.engine.train.settings import GateSettings, TrainSettings
from skillopt.engine.train.state import TrainState
from skillopt.engine.train.step import StepInputs, StepRunner
from skillopt.engine.train.stepbuffer import build_entry, render_step_buffer

log = logging.getLogger("skillopt.train")

STATE_FILE = "state.json"


class StopRequested(SkillOptError):
    """Raised after a completed step when `stop_after_step` asks for it (tests resume with it)."""


def plan_epoch(
    train: tuple[Task, ...], *, batch_size: int, seed: int, epoch: int
) -> list[tuple[Task, ...]]:
    """The epoch's batches: the train split shuffled with Random(seed + 1000 * epoch), cut into
    consecutive chunks of batch_size (the last may be shorter)."""
    order = list(train)
    random.Random(seed + 1000 * epoch).shuffle(order)
    return [tuple(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


@dataclass(kw_only=True)
class Trainer:
    """Runs (or resumes) one training job into `out_dir`."""

    runner: StepRunner
    splits: Splits
    initial_skill: str
    out_dir: Path
    settings: TrainSettings
    gate: GateSettings
    fingerprint: dict[str, Any]
    observer: TrainObserver = field(default_factory=NullTrainObserver)
    stop_after_step: int | None = None

    def __post_init__(self) -> None:
        self._state: TrainState | None = None
        if not self.splits.train:
            raise ConfigError("the train split is empty: check the dataset and its split ratio")
        if not self.splits.selection:
            raise ConfigError("the selection split is empty: the gate has nothing to score")
        self.metric = self.gate.gate_metric
        self.metric.value(Score(hard=0.0, soft=0.0))  # validate the metric before any call
        self.selection = self._first(self.splits.selection, self.gate.selection_size)
        self.test = self._first(self.splits.test, self.gate.test_size)
        self.steps_per_epoch = math.ceil(len(self.splits.train) / self.settings.batch_size)
        self.total_steps = self.settings.epochs * self.steps_per_epoch
        self.schedule = make_schedule(
            self.settings.schedule,
            max_budget=self.settings.edit_budget,
            min_budget=self.settings.min_edit_budget,
            total_steps=self.total_steps,
        )

    @staticmethod
    def _first(tasks: tuple[Task, ...], n: int) -> tuple[Task, ...]:
        return tasks if n <= 0 else tasks[:n]

    # ----------------------------------------------------------------- state and files
    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    def _load_state(self) -> TrainState:
        if self.state_path.is_file():
            state = TrainState.load(self.state_path)
            # compared as stored: JSON turns tuples into lists and keys into strings
            expected = json.loads(json.dumps(self.fingerprint))
            if state.fingerprint != expected:
                changed = sorted(
                    k
                    for k in set(state.fingerprint) | set(expected)
                    if state.fingerprint.get(k) != expected.get(k)
                )
                raise ConfigError(
                    f"{self.out_dir} holds a training run with other settings ({', '.join(changed)}); "
                    "resume it with the same config or choose another output directory"
                )
            if state.initial_skill != self.initial_skill:
                raise ConfigError(
                    f"{self.out_dir} was trained from another initial skill than env.skill_path "
                    "holds now; resume with the original skill or choose another output directory"
                )
            log.info("resuming after step %d from %s", state.last_completed_step, self.state_path)
            return state
        return TrainState(
            fingerprint=self.fingerprint,
            initial_skill=self.initial_skill,
            current_skill=self.initial_skill,
            best_skill=self.initial_skill,
        )

    def _save(self, state: TrainState) -> None:
        state.usage = {
            "optimizer": self.runner.optimizer.ledger.summary(),
            "target": self.runner.target.client.ledger.summary(),
        }
        write_json(self.out_dir / "history.json", state.history)
        write_text(self.out_dir / "best_skill.md", state.best_skill)
        state.save(self.state_path)

    def _restore_usage(self, state: TrainState) -> None:
        if state.usage:
            self.runner.optimizer.ledger.restore(state.usage.get("optimizer", {}))
            self.runner.target.client.ledger.restore(state.usage.get("target", {}))

    def _usage(self) -> dict[str, dict[str, Any]]:
        stages: dict[str, dict[str, Any]] = {}
        for ledger in (self.runner.optimizer.ledger, self.runner.target.client.ledger):
            for stage, usage in ledger.summary()["stages"].items():
                stages[stage] = dict(usage)
        return stages

    # ----------------------------------------------------------------------- scoring
    def _score(self, state: TrainState, skill: str, out_dir: Path) -> tuple[Score, bool]:
        """(selection score, from cache) of `skill`; measured once per distinct skill."""
        key = skill_hash(skill)
        hit = state.selection_cache.get(key)
        if hit is not None:
            return hit, True
        rows = self.runner.env.rollout(
            self.selection, skill=skill, out_dir=out_dir, target=self.runner.target
        )
        score = mean_score(rows)
        state.selection_cache.put(key, score)
        return score, False

    def _test(self, state: TrainState, skill: str, out_dir: Path) -> Score:
        key = skill_hash(skill)
        hit = state.test_cache.get(key)
        if hit is not None:
            return hit
        rows = self.runner.env.rollout(
            self.test, skill=skill, out_dir=out_dir, target=self.runner.target
        )
        score = mean_score(rows)
        state.test_cache.put(key, score)
        return score

    def _gate_state(self, state: TrainState) -> GateState:
        return GateState(
            current_score=state.current_score,
            best_score=state.best_score,
            best_step=state.best_step,
        )

    # -------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Train (or continue training) and return the summary."""
        started = time.perf_counter()
        state = self._state = self._load_state()
        self._restore_usage(state)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.out_dir / "skills" / "skill_v0000.md", state.initial_skill)
        write_json(self.out_dir / "split_manifest.json", self.splits.manifest())
        self.observer.on_start(
            {
                "epochs": self.settings.epochs,
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "resume_after": state.last_completed_step,
                "train": len(self.splits.train),
                "selection": len(self.selection),
                "test": len(self.test),
            }
        )
        if state.current_score is None:
            self._baseline(state)
        for epoch in range(1, self.settings.epochs + 1):
            if state.buffer_epoch != epoch:
                state.step_buffer, state.buffer_epoch = [], epoch
            batches = plan_epoch(
                self.splits.train,
                batch_size=self.settings.batch_size,
                seed=self.settings.seed,
                epoch=epoch,
            )
            for index, batch in enumerate(batches):
                step = (epoch - 1) * self.steps_per_epoch + index + 1
                if step <= state.last_completed_step:
                    continue
                self._step(state, epoch=epoch, index=index, step=step, batch=batch)
                if self.stop_after_step is not None and step == self.stop_after_step:
                    raise StopRequested(f"stopped after step {step} as train.stop_after_step asked")
            if epoch not in state.epochs_done:
                self._epoch_end(state, epoch)
        summary = self._finish(state, wall_s=time.perf_counter() - started)
        self.observer.on_finish(summary)
        return summary

    def history(self) -> list[dict[str, Any]]:
        """The step records so far (after `run`, all of them)."""
        return list(self._state.history) if self._state is not None else []

    def _baseline(self, state: TrainState) -> None:
        score, _ = self._score(state, state.initial_skill, self.out_dir / "selection_eval_baseline")
        value = self.metric.value(score)
        state.baseline = score
        state.current_score = state.best_score = value
        self._save(state)
        record = {
            "step": 0,
            "selection": _score_dict(score),
            "gate_score": value,
            "current_score": value,
            "best_score": value,
        }
        log.info("baseline: selection %s = %.4f", self.gate.metric, value)
        self.observer.on_baseline(record)

    def _step(
        self, state: TrainState, *, epoch: int, index: int, step: int, batch: tuple[Task, ...]
    ) -> None:
        step_dir = self.out_dir / "steps" / f"step_{step:04d}"
        usage_before = self._usage()
        budget = self.schedule.budget(step)
        spec = self.runner.spec
        inputs = StepInputs(
            tasks=batch,
            batch_seed=self.settings.seed + 1000 * epoch + index + 1,
            edit_budget=budget,
            step_context=render_step_buffer(state.step_buffer, spec.mode),
            meta_skill=state.meta_skill if self.settings.use_meta_skill else "",
        )
        before = state.current_score
        proposal = self.runner.propose(state.current_skill, inputs, step_dir)
        record: dict[str, Any] = {
            "step": step,
            "epoch": epoch,
            "step_in_epoch": index,
            "batch_seed": inputs.batch_seed,
            "batch_ids": [t.id for t in batch],
            "edit_budget": None if spec.mode.value == "full_rewrite_minibatch" else budget,
            "train": _score_dict(proposal.train_score),
            "n_patches": proposal.n_patches,
            "n_failure_patches": proposal.n_failure_patches,
            "n_success_patches": proposal.n_success_patches,
            "failed_minibatches": proposal.failed_minibatches,
        }
        if proposal.merge is not None:
            record["n_items_merged"] = len(proposal.merge.items)
            record["merge_fallbacks"] = proposal.merge.fallbacks
            for merge in proposal.merge.records:
                if merge.status == "fallback":
                    log.warning(
                        "step %d: %s merge (level %d) fell back to concatenation: %s",
                        step,
                        merge.group,
                        merge.level,
                        merge.error,
                    )
        if proposal.rank is not None:
            record["n_items_selected"] = len(proposal.rank.items)
            record["rank_status"] = proposal.rank.status
            if proposal.rank.error:
                record["rank_error"] = proposal.rank.error
                log.warning(
                    "step %d: ranking fell back to the first %d items: %s",
                    step,
                    proposal.rank.budget,
                    proposal.rank.error,
                )
        if proposal.applied is not None:
            record["edit_apply_summary"] = proposal.applied.summary()
        if proposal.rewrite is not None:
            record["rewrite_change_summary"] = proposal.rewrite.change_summary
            if proposal.rewrite.error:
                record["rewrite_error"] = proposal.rewrite.error
                log.warning("step %d: no rewritten skill: %s", step, proposal.rewrite.error)

        started = time.perf_counter()
        if proposal.skip is not None:
            record["action"] = proposal.skip
        else:
            candidate = proposal.candidate
            assert candidate is not None
            score, cached = self._score(state, candidate, step_dir / "selection_eval")
            value = self.metric.value(score)
            decision = decide(value, self._gate_state(state), step=step, use_gate=self.gate.enabled)
            record.update(
                {
                    "candidate_hash": skill_hash(candidate),
                    "candidate_skill_len": len(candidate),
                    "selection": _score_dict(score),
                    "selection_cached": cached,
                    "gate_metric": self.gate.metric,
                    "gate_score": value,
                    "action": decision.action,
                }
            )
            _adopt(state, decision, candidate, origin=f"step_{step:04d}")
            state.step_buffer.append(
                build_entry(
                    step=step,
                    action=decision.action,
                    rows=proposal.train_rows,
                    failure_summaries=proposal.failure_summaries,
                    score_before=before,
                    score_after=value,
                    rejected_items=[
                        short_item_summary(i, spec.mode) for i in proposal.selected_items
                    ],
                    mode=spec.mode,
                )
            )
        proposal.timing["evaluate_s"] = time.perf_counter() - started
        usage_after = self._usage()
        record.update(
            {
                "current_score": state.current_score,
                "best_score": state.best_score,
                "best_step": state.best_step,
                "current_origin": state.current_origin,
                "best_origin": state.best_origin,
                "skill_len": len(state.current_skill),
                "usage": _usage_delta(usage_before, usage_after),
                "llm_cost_usd": round(sum(u.get("cost_usd", 0.0) for u in usage_after.values()), 6),
                "timing": {k: round(v, 4) for k, v in proposal.timing.items()},
            }
        )
        write_json(step_dir / "step_record.json", record)
        write_text(self.out_dir / "skills" / f"skill_v{step:04d}.md", state.current_skill)
        state.history.append(record)
        state.last_completed_step = step
        self._save(state)
        log.info(
            "step %d/%d (epoch %d): %s; budget %s, train %s %.3f, gate %s",
            step,
            self.total_steps,
            epoch,
            record["action"],
            record["edit_budget"],
            self.gate.metric,
            self.metric.value(proposal.train_score),
            "-" if "gate_score" not in record else f"{record['gate_score']:.4f}",
        )
        self.observer.on_step(record)

    # ------------------------------------------------------------------- epoch end
    def _epoch_end(self, state: TrainState, epoch: int) -> None:
        folder = self.out_dir / "slow_update" / f"epoch_{epoch:02d}"
        record: dict[str, Any] = {"epoch": epoch, "step": state.last_completed_step}
        wants = self.settings.use_slow_update or self.settings.use_meta_skill
        if epoch == 1 or not wants or state.prev_epoch_skill is None:
            record["action"] = "skip_first_epoch" if epoch == 1 else "disabled"
        else:
            record.update(self._epoch_review(state, epoch, folder))
        write_json(folder / "epoch_record.json", record)
        state.prev_epoch_skill = state.current_skill
        state.epochs_done.append(epoch)
        write_text(
            self.out_dir / "skills" / f"skill_v{state.last_completed_step:04d}.md",
            state.current_skill,
        )
        self._save(state)
        self.observer.on_epoch_end(record)

    def _epoch_review(self, state: TrainState, epoch: int, folder: Path) -> dict[str, Any]:
        prev_skill, curr_skill = state.prev_epoch_skill or state.initial_skill, state.current_skill
        sample = list(self.splits.train)
        random.Random(self.settings.seed + 2000 * epoch).shuffle(sample)
        tasks = tuple(sample[: self.settings.slow_update_samples])
        target = self.runner.target
        prev_rows = self.runner.env.rollout(
            tasks, skill=prev_skill, out_dir=folder / "rollout_prev", target=target
        )
        curr_rows = self.runner.env.rollout(
            tasks, skill=curr_skill, out_dir=folder / "rollout_curr", target=target
        )
        fmt = self.runner.reflect.formatting
        pairs = build_pairs(
            prev_rows,
            curr_rows,
            prev_trajectories=_trajectories(folder / "rollout_prev", fmt),
            curr_trajectories=_trajectories(folder / "rollout_curr", fmt),
        )
        kept = filter_pairs(pairs, self.settings.pair_policy)
        write_json(folder / "comparison_pairs.json", [p.slim() for p in kept])
        comparison = format_comparison(kept)
        asker = self.runner.asker
        max_tokens = self.runner.requests.max_tokens
        result: dict[str, Any] = {"pairs": len(kept), "categories": _categories(kept)}

        if self.settings.use_meta_skill:
            meta = propose_meta_skill(
                prev_skill=prev_skill,
                curr_skill=curr_skill,
                previous_meta=state.meta_skill,
                comparison=comparison,
                n_tasks=len(kept),
                asker=asker,
                max_tokens=max_tokens,
                epoch=epoch,
            )
            write_json(folder / "meta_skill_result.json", meta.document())
            if meta.content is not None:
                state.meta_skill = meta.content
            result["meta_skill"] = "write_meta_skill" if meta.content else "failed"
            if meta.error:
                result["meta_skill_error"] = meta.error
                log.warning("epoch %d: the meta skill was not updated: %s", epoch, meta.error)

        if self.settings.use_slow_update:
            proposal = propose_slow_update(
                prev_skill=prev_skill,
                curr_skill=curr_skill,
                previous_guidance=slow_update_guidance(curr_skill),
                comparison=comparison,
                n_tasks=len(kept),
                asker=asker,
                max_tokens=max_tokens,
                epoch=epoch,
            )
            write_json(folder / "slow_result.json", proposal.document())
            if proposal.content is None:
                result["action"] = "no_content"
                result["error"] = proposal.error
                log.warning("epoch %d: no slow update: %s", epoch, proposal.error)
                return result
            candidate = with_slow_update_block(curr_skill, proposal.content)
            write_text(folder / "candidate_skill.md", candidate)
            score, cached = self._score(state, candidate, folder / "selection_eval")
            value = self.metric.value(score)
            step = state.last_completed_step
            use_gate = self.gate.enabled and self.settings.slow_update_gate
            decision = decide(value, self._gate_state(state), step=step, use_gate=use_gate)
            _adopt(state, decision, candidate, origin=f"slow_update_epoch_{epoch:02d}")
            result.update(
                {
                    "action": decision.action,
                    "selection": _score_dict(score),
                    "selection_cached": cached,
                    "gate_score": value,
                    "current_score": state.current_score,
                    "best_score": state.best_score,
                }
            )
        else:
            result["action"] = "meta_only"
        return result

    # ------------------------------------------------------------------------ finish
    def _finish(self, state: TrainState, *, wall_s: float) -> dict[str, Any]:
        final_skill = state.current_skill
        promoted = False
        if (
            state.current_score is not None
            and state.best_score is not None
            and state.current_score > state.best_score
        ):
            state.best_skill, state.best_score = final_skill, state.current_score
            state.best_origin, promoted = state.current_origin, True
        tests: dict[str, Any] = {}
        if self.settings.eval_test and self.test:
            baseline = self._test(state, state.initial_skill, self.out_dir / "test_eval_baseline")
            best = self._test(state, state.best_skill, self.out_dir / "test_eval")
            final = self._test(state, final_skill, self.out_dir / "test_eval_final")
            tests = {
                "baseline": _score_dict(baseline),
                "best": _score_dict(best),
                "final": _score_dict(final),
                "delta_hard": round(best.hard - baseline.hard, 6),
                "final_delta_hard": round(final.hard - baseline.hard, 6),
            }
        history = state.history
        actions = [h["action"] for h in history]
        epochs = []
        for epoch in range(1, self.settings.epochs + 1):
            mine = [h["action"] for h in history if h["epoch"] == epoch]
            epochs.append(
                {
                    "epoch": epoch,
                    "steps": len(mine),
                    "accepts": sum("accept" in a for a in mine),
                    "rejects": sum(a == "reject" for a in mine),
                    "skips": sum(a.startswith("skip") for a in mine),
                }
            )
        baseline_value = self.metric.value(state.baseline) if state.baseline else None
        final_score = state.selection_cache.get(skill_hash(final_skill))
        state.finished = True
        self._save(state)
        write_text(self.out_dir / "final_skill.md", final_skill)
        return {
            "gate_metric": self.gate.metric,
            "baseline_selection": _score_dict(state.baseline),
            "baseline_selection_score": baseline_value,
            "best_selection_score": state.best_score,
            "final_selection": _score_dict(final_score),
            "final_selection_score": state.current_score,
            "best_step": state.best_step,
            "best_origin": state.best_origin,
            "current_origin": state.current_origin,
            "final_promoted_to_best": promoted,
            "total_steps": len(history),
            "accepts": sum("accept" in a for a in actions),
            "rejects": sum(a == "reject" for a in actions),
            "skips": sum(a.startswith("skip") for a in actions),
            "epochs": epochs,
            "test": tests,
            "splits": {
                "train": len(self.splits.train),
                "selection": len(self.selection),
                "test": len(self.test),
            },
            "steps_per_epoch": self.steps_per_epoch,
            "llm": {
                "optimizer": self.runner.optimizer.ledger.summary(),
                "target": self.runner.target.client.ledger.summary(),
            },
            "wall_s": round(wall_s, 4),
        }


def _adopt(state: TrainState, decision: GateDecision, candidate: str, *, origin: str) -> None:
    """Carry a gate decision into the state: the candidate becomes current unless rejected, and
    best when it is a new best; the scores follow the decision."""
    if decision.action != "reject":
        state.current_skill, state.current_origin = candidate, origin
    if decision.new_best:
        state.best_skill, state.best_origin = candidate, origin
    state.current_score = decision.state.current_score
    state.best_score = decision.state.best_score
    state.best_step = decision.state.best_step


def _score_dict(score: Score | None) -> dict[str, Any] | None:
    return (
        None
        if score is None
        else {"hard": round(score.hard, 6), "soft": round(score.soft, 6), "n": score.n}
    )


def _usage_delta(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    for stage, usage in sorted(after.items()):
        prev = before.get(stage, {})
        change = {k: round(v - prev.get(k, 0), 6) for k, v in usage.items()}
        if any(change.values()):
            delta[stage] = change
    return delta


def _categories(pairs: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.category] = counts.get(pair.category, 0) + 1
    return dict(sorted(counts.items()))


def _trajectories(rollout_dir: Path, fmt: Any) -> dict[str, str]:
    rollout = load_rollout(rollout_dir)
    return {
        tid: format_conversation(t.conversation, fmt) for tid, t in rollout.trajectories.items()
    }
