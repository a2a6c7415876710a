"""The autonomous learning rate (`train.schedule=autonomous`, spec §4.4): the coercion table,
the decision call, and a training run that records a decision per step."""

from __future__ import annotations

import json

import pytest

from skillopt.base.errors import LLMError
from skillopt.base.modes import mode_spec
from skillopt.base.scores import Score
from skillopt.engine.train.autonomous import (
    LearningRate,
    coerce_learning_rate,
    decide_learning_rate,
)
from skillopt.engine.train.schedule import make_schedule
from skillopt.engine.train.settings import TrainSettings
from skillopt.tracking.jobs import step_metrics
from tests.scripted import make_asker
from tests.test_trainer import make_trainer, read_json

PATCH = mode_spec("patch")
ITEMS = [
    {"op": "append", "content": f"- rule {i}", "source_type": "failure", "support_count": 2}
    for i in range(5)
]
TRAIN = Score(hard=0.25, soft=0.5, n=8)


@pytest.mark.parametrize(
    ("value", "decision"),
    [
        (3, 3),  # int
        (0, 0),
        (-2, 0),  # int, floored at 0
        (2.0, 2),  # integral float
        (-3.0, 0),
        (2.7, 2),  # any other value: the first -?\d+ of its text
        ("4", 4),
        ("apply 3 of them", 3),
        ("-1", 0),
        ([2, 5], 2),
        ("9" * 40, 10**12),  # more than any pool (clamped later)
        (True, None),  # bool is invalid
        (False, None),
        (None, None),
        ("none", None),
        (float("nan"), None),
        ({}, None),
    ],
)
def test_the_coercion_table(value, decision):
    assert coerce_learning_rate(value) == decision


def decide(script, items=ITEMS, **kwargs):
    asker, backend = make_asker(script)
    decision = decide_learning_rate(
        skill="# Skill\n- be exact\n",
        items=items,
        spec=PATCH,
        train=TRAIN,
        asker=asker,
        max_tokens=321,
        **kwargs,
    )
    return decision, backend


def test_a_decision_is_applied_and_the_call_shows_the_evidence():
    reply = {"reasoning": "half", "learning_rate": 2, "confidence": "High", "risk_notes": ["x"]}
    decision, backend = decide([reply], step_context="### Step 1 — REJECT", meta_skill="- lesson")
    assert decision == LearningRate(
        learning_rate=2,
        decided=2,
        available=5,
        raw_learning_rate=2,
        reasoning="half",
        confidence="high",
        risk_notes=("x",),
    )
    (request,) = backend.requests
    assert request.reply_format == "lr_autonomous:patch" and request.max_tokens == 321
    assert request.messages[0]["content"].startswith("# Role: Step Size Controller")
    user = backend.user()
    order = [
        "## Optimizer Meta Skill",
        "## Current Skill\n# Skill",
        "## Current Step Evidence\n- train tasks rolled out: 8\n- train hard: 0.250000\n"
        "- train soft: 0.500000\n- proposed update items: 5 edits",
        "## Proposed Update Items\n[0] op=append content=",
        "## Previous Steps in This Epoch\n### Step 1 — REJECT",
        "How many of these 5 edits should this step apply?",
    ]
    assert [user.index(p) for p in order] == sorted(user.index(p) for p in order)
    assert "[4] op=append" in user and "[5]" not in user


def test_a_decision_above_the_pool_is_clamped():
    decision, _ = decide([{"learning_rate": "9 items"}])
    assert (decision.learning_rate, decision.decided, decision.clamped) == (5, 9, True)
    assert decision.raw_learning_rate == "9 items" and not decision.fallback


def test_an_unusable_value_is_asked_again_then_falls_back_to_zero():
    decision, backend = decide([{"learning_rate": True}, {"rate": 2}, "no json here"])
    assert len(backend.requests) == 3  # the first request and parse_retries=2 follow-ups
    assert "'learning_rate' must be a whole number" in backend.requests[1].messages[-1]["content"]
    assert decision.fallback and decision.learning_rate == 0 and decision.decided == 0
    assert "no usable lr_autonomous reply after 3 attempts" in decision.error


def test_a_failed_call_falls_back_to_zero():
    decision, _ = decide([LLMError("HTTP 500")])
    assert decision.fallback and decision.learning_rate == 0
    assert decision.error == "lr_autonomous call failed: HTTP 500"


def test_an_empty_pool_needs_no_call():
    decision, backend = decide([], items=[])
    assert backend.requests == [] and decision.learning_rate == 0 and not decision.fallback


def test_autonomous_is_a_schedule_whose_budget_is_the_analysts_limit():
    schedule = make_schedule("auto", max_budget=4, min_budget=2, total_steps=10)
    assert schedule.kind == "autonomous" and schedule.autonomous
    assert {schedule.budget(s) for s in range(1, 11)} == {4}
    assert TrainSettings(schedule="optimizer").schedule == "autonomous"


def test_an_autonomous_run_records_a_decision_per_step_and_ranks_that_many(tmp_path):
    trainer = make_trainer(tmp_path, epochs=2, schedule="autonomous", eval_test=False)
    trainer.run()
    run = trainer.out_dir
    history = trainer.history()
    decided = [h for h in history if h.learning_rate is not None]
    assert len(decided) == len(history) == 6
    assert len({h.learning_rate.learning_rate for h in decided}) > 1  # it varies step to step
    lines = (run / "lr_history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [h.step for h in decided]
    for h, line in zip(decided, lines, strict=True):
        step = run / "steps" / f"step_{h.step:04d}"
        saved = read_json(step / "lr_decision.json")
        assert (
            saved
            == h.learning_rate.to_json()
            == {k: v for k, v in json.loads(line).items() if k not in ("step", "epoch")}
        )
        ranked = read_json(step / "ranked.json")
        assert h.edit_budget == saved["learning_rate"] == ranked["budget"]
        assert len(ranked["edits"]) == min(saved["learning_rate"], ranked["available"])
        assert saved["available"] == h.n_items_merged
        metrics = step_metrics(h)
        assert metrics["select.lr_decision"] == saved["learning_rate"]
        assert metrics["select.lr_fallback"] == 0.0
        assert metrics["select.edit_budget"] == saved["learning_rate"]
    # the analysts were still asked for up to edit_budget items each
    prompt = next((run / "steps" / "step_0001" / "prompts").glob("minibatch_fail_*.md"))
    assert "Propose at most 4 edits" in prompt.read_text()


def test_a_fixed_schedule_makes_no_decision(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, eval_test=False)
    trainer.run()
    assert all(h.learning_rate is None for h in trainer.history())
    assert not (trainer.out_dir / "lr_history.jsonl").exists()
    assert "select.lr_decision" not in step_metrics(trainer.history()[0])
