"""Gradient accumulation (`train.accumulation`): a step rolls out and reflects on A batches
before one aggregate/select/update/gate, so an epoch has ceil(train / (batch_size * A)) steps.
Engine level, on the offline simulation (24 train tasks)."""

from __future__ import annotations

import json
import math
import threading

import pytest

from skillopt.base.scores import Score
from skillopt.engine.train import StepRecord, TrainState, plan_epoch
from skillopt.engine.train.loop import plan_steps
from skillopt.engine.train.records import BatchSummary
from skillopt.envs.qa import QAEnvironment
from skillopt.llm.types import ChatRequest, ChatResponse
from skillopt.sim.optimizer import OfflineOptimizer
from skillopt.sim.target import OfflineTarget
from skillopt.tracking.jobs import step_metrics
from tests.test_trainer import SIM_DATA, make_trainer, read_json, without_timing

TRAIN = QAEnvironment(data_path=SIM_DATA).splits().train


@pytest.mark.parametrize(
    ("batch_size", "accumulation", "steps", "batches"),
    [
        (8, 1, 3, [1, 1, 1]),
        (8, 2, 2, [2, 1]),
        (8, 3, 1, [3]),
        (5, 2, 3, [2, 2, 1]),
        (24, 2, 1, [1]),
    ],
)
def test_steps_per_epoch_is_ceil_of_train_over_batch_times_accumulation(
    batch_size, accumulation, steps, batches
):
    assert len(TRAIN) == 24
    plan = plan_steps(TRAIN, batch_size=batch_size, accumulation=accumulation, seed=42, epoch=1)
    assert len(plan) == steps == math.ceil(len(TRAIN) / (batch_size * accumulation))
    assert [len(step) for step in plan] == batches
    # every train task once per epoch, in plan_epoch's order, with SkillOpt's batch seeds
    flat = [b for step in plan for b in step]
    assert [b.tasks for b in flat] == plan_epoch(TRAIN, batch_size=batch_size, seed=42, epoch=1)
    assert [b.seed for b in flat] == [42 + 1000 + i + 1 for i in range(len(flat))]


def test_an_accumulated_step_reflects_on_every_batch_then_aggregates_once(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, accumulation=2, eval_test=False)
    summary = trainer.run()
    assert trainer.steps_per_epoch == 2 and summary.total_steps == 2
    run = trainer.out_dir
    first, second = trainer.history()
    assert [b.index for b in first.batches] == [0, 1] and len(second.batches) == 1
    assert first.batch_seed == first.batches[0].seed == 1043
    assert [b.seed for b in first.batches] == [1043, 1044] and second.batches[0].seed == 1045
    assert len(first.batch_ids) == 16 and len(second.batch_ids) == 8
    step1 = run / "steps" / "step_0001"
    rows = []
    for batch in ("batch_00", "batch_01"):
        results = (step1 / batch / "rollout" / "results.jsonl").read_text().splitlines()
        rows += [json.loads(line) for line in results]
        assert list((step1 / batch / "patches").glob("minibatch_*.json"))
    assert not (step1 / "rollout").exists()
    assert sorted(r["id"] for r in rows) == sorted(first.batch_ids)
    # the record's train score is row-weighted over both batches
    assert first.train.n == 16
    assert first.train.hard == pytest.approx(sum(r["hard"] for r in rows) / 16, abs=1e-6)
    # one merge over the patches of both batches
    merged = read_json(step1 / "merged_patch.json")
    inputs = {name for m in merged["merges"] for name in m["inputs"]}
    assert any(n.startswith("batch_00/") for n in inputs)
    assert any(n.startswith("batch_01/") for n in inputs)
    patches = sum(b.n_failure_patches + b.n_success_patches for b in first.batches)
    assert first.n_patches == patches > 0
    # the single-batch step keeps the usual layout
    assert (run / "steps" / "step_0002" / "rollout" / "results.jsonl").is_file()
    # the record survives the state file, batches included
    state = TrainState.load(run / "state.json")
    assert without_timing(state.history) == without_timing(trainer.history())
    assert step_metrics(first)["train.batches"] == 2.0
    assert step_metrics(second)["train.batches"] == 1.0


def test_accumulation_1_and_2_differ_in_steps_and_batches_seen(tmp_path):
    one = make_trainer(tmp_path / "a1", epochs=1, eval_test=False)
    one.run()
    two = make_trainer(tmp_path / "a2", epochs=1, accumulation=2, eval_test=False)
    two.run()
    assert [len(h.batches) for h in one.history()] == [1, 1, 1]
    assert [len(h.batches) for h in two.history()] == [2, 1]
    seen = [sorted(t for h in trainer.history() for t in h.batch_ids) for trainer in (one, two)]
    assert seen[0] == seen[1] and len(seen[0]) == 24  # the same tasks, grouped differently


def test_batch_summary_rounds_its_score_as_stored():
    batch = BatchSummary(
        index=0,
        seed=1,
        train=Score(hard=1 / 3, soft=2 / 3, n=3),
        n_failure_patches=1,
        n_success_patches=0,
    )
    assert BatchSummary.from_json(batch.to_json()) == batch


class Interrupted(BaseException):
    """Stands for the process being stopped (not an LLMError: nothing may catch it)."""


class Recording:
    """A backend that remembers the cache key of every request it answered; with `stop_on`,
    the first request whose user turn names one of those task questions is interrupted."""

    def __init__(self, backend, stop_on: set[str] | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        self.stop_on = set(stop_on or ())
        self.answered: list[str] = []
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        user = request.messages[-1]["content"]
        with self._lock:
            if self.stop_on and any(q in user for q in self.stop_on):
                self.stop_on = set()
                raise Interrupted("stopped in the middle of an accumulated step")
        response = self.backend.complete(request)
        with self._lock:
            self.answered.append(request.key(self.name))
        return response


def test_a_resume_in_the_middle_of_an_accumulated_step_repeats_no_call(tmp_path):
    plan = plan_steps(TRAIN, batch_size=8, accumulation=2, seed=42, epoch=1)
    second_batch = {t.question for t in plan[0][1].tasks}  # step 1, batch 2
    optimizer = Recording(OfflineOptimizer())
    target = Recording(OfflineTarget(), stop_on=second_batch)
    settings = {"epochs": 1, "accumulation": 2, "eval_test": False}
    first = make_trainer(tmp_path, optimizer=optimizer, target=target, **settings)
    with pytest.raises(Interrupted):
        first.run()
    step1 = first.out_dir / "steps" / "step_0001"
    assert (step1 / "batch_00" / "patches").is_dir()  # batch 1 was rolled out and reflected on
    assert not (step1 / "merged_patch.json").exists()
    before = {"optimizer": list(optimizer.answered), "target": list(target.answered)}
    assert before["optimizer"] and before["target"]

    optimizer2, target2 = Recording(OfflineOptimizer()), Recording(OfflineTarget())
    resumed = make_trainer(tmp_path, optimizer=optimizer2, target=target2, **settings)
    resumed.run()
    assert target2.answered and optimizer2.answered  # the rest of the run did make calls
    assert not set(target2.answered) & set(before["target"])
    assert not set(optimizer2.answered) & set(before["optimizer"])
    # and it ends exactly like a run that never stopped
    clean = make_trainer(tmp_path / "clean", **settings)
    clean.run()
    assert [_comparable(r) for r in resumed.history()] == [_comparable(r) for r in clean.history()]


def _comparable(record: StepRecord) -> dict:
    """A record without what depends on the call cache (usage, cost) or the clock."""
    data = record.to_json()
    return {k: v for k, v in data.items() if k not in ("usage", "timing", "llm_cost_usd")}
