"""The end of an epoch: the same train tasks under the previous and the current epoch's skill,
compared, drive the optimizer's meta skill and the slow-update guidance block (spec §7).

Epoch 1 has nothing to compare with and is skipped. The slow update is force-accepted and then
re-scored, or with `train.slow_update_gate` it must pass the gate like any candidate; either way
every score stays a measured one.

With `train.pair_policy=changed`, when fewer sampled tasks changed category than
`slow_update_samples`, more train tasks are rolled out under both skills (into
`rollout_prev/topup_RR/` and `rollout_curr/topup_RR/`) until the quota is met or the split is
used up; `comparison_pairs_all.json` then holds every pair, kept or not.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.rollout import load_rollout
from skillopt.base.skill import slow_update_guidance, with_slow_update_block
from skillopt.engine.environment import Task
from skillopt.engine.formatting import FormatSettings, format_conversation
from skillopt.engine.train.epoch import propose_meta_skill, propose_slow_update
from skillopt.engine.train.evaluation import Evaluator
from skillopt.engine.train.gate import decide
from skillopt.engine.train.longitudinal import (
    Pair,
    TopUp,
    build_pairs,
    filter_pairs,
    format_comparison,
    top_up,
)
from skillopt.engine.train.records import EpochRecord
from skillopt.engine.train.settings import GateSettings, TrainSettings
from skillopt.engine.train.state import TrainState
from skillopt.engine.train.step import StepRunner
from skillopt.llm.tracing import span

log = logging.getLogger("skillopt.train")


@dataclass(frozen=True, kw_only=True)
class EpochEnd:
    """Runs the epoch-level stages of one run."""

    runner: StepRunner
    evaluator: Evaluator
    settings: TrainSettings
    gate: GateSettings
    train_tasks: tuple[Task, ...]

    def run(self, state: TrainState, epoch: int, folder: Path) -> EpochRecord:
        """The epoch's review (updating `state`), or why there was none."""
        step = state.last_completed_step
        wants = self.settings.use_slow_update or self.settings.use_meta_skill
        if epoch == 1 or state.prev_epoch_skill is None:
            return EpochRecord(epoch=epoch, step=step, action="skip_first_epoch")
        if not wants:
            return EpochRecord(epoch=epoch, step=step, action="disabled")
        return self._review(state, epoch, folder)

    def _roll(self, state: TrainState, tasks: Sequence[Task], folder: Path, sub: str) -> list[Pair]:
        """`tasks` under the previous and the current epoch's skill (into `rollout_prev/<sub>`
        and `rollout_curr/<sub>`), paired."""
        env, target = self.runner.env, self.runner.target
        prev_skill = state.prev_epoch_skill or state.initial_skill
        rows, trajectories = {}, {}
        for side, skill in (("prev", prev_skill), ("curr", state.current_skill)):
            out = folder / f"rollout_{side}" / sub
            with span(f"rollout_{side}", attributes={"skillopt.tasks": len(tasks)}):
                rows[side] = env.rollout(tasks, skill=skill, out_dir=out, target=target)
            trajectories[side] = _trajectories(out, self.runner.reflect.formatting)
        return build_pairs(
            rows["prev"],
            rows["curr"],
            prev_trajectories=trajectories["prev"],
            curr_trajectories=trajectories["curr"],
        )

    def _pairs(self, state: TrainState, epoch: int, folder: Path) -> TopUp[Task]:
        """The train tasks sampled for this epoch, rolled out under both skills, paired and
        filtered by `train.pair_policy` (topped up for `changed`). Every pair, kept or not, goes
        to `comparison_pairs_all.json` when filtering dropped any."""
        seed = self.settings.seed + 2000 * epoch
        sample = list(self.train_tasks)
        random.Random(seed).shuffle(sample)
        quota = self.settings.slow_update_samples
        tasks = tuple(sample[:quota])
        pairs = self._roll(state, tasks, folder, "")
        policy = self.settings.pair_policy
        kept = filter_pairs(pairs, policy)
        result: TopUp[Task] = TopUp(pairs=kept)
        if policy == "changed" and len(kept) < quota:
            pool = [t for t in self.train_tasks if t not in tasks]
            random.Random(seed).shuffle(pool)
            extra: list[Pair] = []

            def roll(chunk: Sequence[Task], round_no: int) -> list[Pair]:
                with span("topup", attributes={"skillopt.round": round_no}):
                    found = self._roll(state, chunk, folder, f"topup_{round_no:02d}")
                extra.extend(found)
                return found

            result = top_up(kept, quota=quota, pool=pool, policy=policy, roll=roll)
            pairs = pairs + extra
        if len(result.pairs) != len(pairs):
            write_json(folder / "comparison_pairs_all.json", [p.to_json() for p in pairs])
        return result

    def _review(self, state: TrainState, epoch: int, folder: Path) -> EpochRecord:
        prev_skill, curr_skill = state.prev_epoch_skill or state.initial_skill, state.current_skill
        chosen = self._pairs(state, epoch, folder)
        kept = chosen.pairs
        write_json(folder / "comparison_pairs.json", [p.to_json() for p in kept])
        comparison = format_comparison(kept)
        asker, max_tokens = self.runner.asker, self.runner.requests.max_tokens
        review: dict[str, Any] = {
            "epoch": epoch,
            "step": state.last_completed_step,
            "pairs": len(kept),
            "categories": _categories(kept),
        }
        if chosen.rounds:
            review["topup_tasks"] = len(chosen.tasks)
            review["topup_pairs"] = chosen.added
        if self.settings.use_meta_skill:
            with span("meta_skill"):
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
            write_json(folder / "meta_skill_result.json", meta.to_json())
            if meta.content is not None:
                state.meta_skill = meta.content
            review["meta_skill"] = "write_meta_skill" if meta.content else "failed"
            if meta.error:
                review["meta_skill_error"] = meta.error
                log.warning("epoch %d: the meta skill was not updated: %s", epoch, meta.error)
        if not self.settings.use_slow_update:
            return EpochRecord(action="meta_only", **review)

        with span("slow_update"):
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
        write_json(folder / "slow_result.json", proposal.to_json())
        if proposal.content is None:
            log.warning("epoch %d: no slow update: %s", epoch, proposal.error)
            return EpochRecord(action="no_content", error=proposal.error, **review)
        candidate = with_slow_update_block(curr_skill, proposal.content)
        write_text(folder / "candidate_skill.md", candidate)
        with span("gate"):
            score, cached = self.evaluator.selection_score(
                state.selection_cache, candidate, folder / "selection_eval"
            )
        value = self.gate.value(score)
        use_gate = self.gate.enabled and self.settings.slow_update_gate
        decision = decide(value, state.gate, step=state.last_completed_step, use_gate=use_gate)
        state.adopt(decision, candidate, origin=f"slow_update_epoch_{epoch:02d}")
        return EpochRecord(
            action=decision.action,
            selection=score,
            selection_cached=cached,
            gate_score=value,
            current_score=state.current_score,
            best_score=state.best_score,
            **review,
        )


def _categories(pairs: list[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.category] = counts.get(pair.category, 0) + 1
    return dict(sorted(counts.items()))


def _trajectories(rollout_dir: Path, fmt: FormatSettings) -> dict[str, str]:
    rollout = load_rollout(rollout_dir)
    return {
        tid: format_conversation(t.conversation, fmt) for tid, t in rollout.trajectories.items()
    }
