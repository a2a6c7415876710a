from __future__ import annotations

import pytest

from skillopt.base.errors import ConfigError
from skillopt.engine.train.longitudinal import (
    Pair,
    build_pairs,
    filter_pairs,
    format_comparison,
    normalize_pair_policy,
    top_up,
)
from skillopt.engine.train.records import EpochRecord
from skillopt.tracking.jobs import topup_metrics
from tests.test_trainer import make_trainer, read_json

PREV = [
    {
        "id": "q1",
        "hard": 1,
        "soft": 1.0,
        "question": "Who designed the lighthouse?",
        "predicted_answer": "Miriam Costa",
    },
    {
        "id": "q2",
        "hard": 0,
        "soft": 0.67,
        "task_description": "How long is the canal?",
        "predicted_answer": "42",
        "fail_reason": "missing_unit: no km",
    },
    {"id": "q3", "hard": 1, "soft": 1.0, "instruction": "List the rivers.", "answer": "Avon, Tay"},
    {"id": "q4", "hard": 0, "soft": 0.0, "fail_reason": "wrong_entity: Hale"},
    {"id": "q5", "hard": 1, "soft": 1.0},
    {"id": "q6", "hard": 1, "soft": 1.0},  # not in CURR: no pair
]
CURR = [
    {"id": "q5", "hard": 1e-12, "soft": 0.5, "fail_reason": "partial: one item missing"},
    {"id": "q4", "hard": 0, "soft": 0.1, "fail_reason": "wrong_entity: Costa"},
    {"id": "q3", "hard": 0, "soft": 0.5, "answer": "Avon", "fail_reason": "partial_list: Tay"},
    {"id": "q2", "hard": 1, "soft": 1.0, "predicted_answer": "42 km"},
    {
        "id": "q1",
        "hard": 1,
        "soft": 1.0,
        "question": "Who designed the lighthouse?",
        "predicted_answer": "Miriam Costa",
    },
    {"id": "q1", "hard": 0, "soft": 0.0},  # repeated id: the first row counts
    {"id": "q9", "hard": 1, "soft": 1.0},
]
PREV_TRAJ = {
    "q2": "[agent] 42",
    "q3": "[agent] Avon, Tay",
    "q4": "[agent] Hale",
    "q5": "[agent] ok",
}
CURR_TRAJ = {"q2": "[agent] 42 km", "q3": "[agent] ```Avon```", "q4": "[agent] Costa"}


@pytest.fixture
def pairs() -> list[Pair]:
    return build_pairs(PREV, CURR, prev_trajectories=PREV_TRAJ, curr_trajectories=CURR_TRAJ)


def test_pairs_follow_prev_order_and_categories(pairs):
    assert [(p.id, p.category) for p in pairs] == [
        ("q1", "stable_success"),
        ("q2", "improved"),
        ("q3", "regressed"),
        ("q4", "persistent_fail"),
        ("q5", "regressed"),  # a reward below 1e-9 is a failure (the one failure rule)
    ]


def test_pair_fields(pairs):
    by_id = {p.id: p for p in pairs}
    assert by_id["q1"].task == "Who designed the lighthouse?"
    assert by_id["q2"].task == "How long is the canal?"
    assert by_id["q3"].task == "List the rivers."
    assert by_id["q5"].task == "q5"
    assert by_id["q2"].prev == {
        "hard": 0.0,
        "soft": 0.67,
        "predicted_answer": "42",
        "fail_reason": "missing_unit: no km",
    }
    assert by_id["q3"].curr["predicted_answer"] == "Avon"  # `answer` fallback
    assert by_id["q4"].prev["predicted_answer"] == "N/A"
    assert by_id["q5"].curr["hard"] == 1e-12
    assert by_id["q2"].curr_trajectory == "[agent] 42 km"
    assert by_id["q1"].prev_trajectory == ""


def test_slim_has_no_trajectories(pairs):
    slim = pairs[1].to_json()
    assert set(slim) == {"id", "task", "category", "prev", "curr"}
    assert slim["category"] == "improved"


def test_default_trajectories_are_empty():
    pairs = build_pairs(PREV, CURR)
    assert all(p.prev_trajectory == "" and p.curr_trajectory == "" for p in pairs)


@pytest.mark.parametrize(
    ("policy", "ids"),
    [
        ("mixed", ["q1", "q2", "q3", "q4", "q5"]),
        ("all", ["q1", "q2", "q3", "q4", "q5"]),
        ("Default", ["q1", "q2", "q3", "q4", "q5"]),
        ("random", ["q1", "q2", "q3", "q4", "q5"]),
        ("unchanged", ["q1", "q4"]),
        ("stable", ["q1", "q4"]),
        ("same", ["q1", "q4"]),
        ("00_11", ["q1", "q4"]),
        ("changed", ["q2", "q3", "q5"]),
        ("change", ["q2", "q3", "q5"]),
        (" DELTA ", ["q2", "q3", "q5"]),
        ("10_01", ["q2", "q3", "q5"]),
        ("01_10", ["q2", "q3", "q5"]),
    ],
)
def test_filter_policies(pairs, policy, ids):
    assert [p.id for p in filter_pairs(pairs, policy)] == ids


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        normalize_pair_policy("newest")
    message = str(info.value)
    assert message.startswith("pair_policy=newest: expected one of")
    for name in ("mixed", "unchanged", "changed"):
        assert name in message
    with pytest.raises(ConfigError):
        filter_pairs([], "sometimes")


def test_comparison_text_order_and_content(pairs):
    text = format_comparison(pairs)
    lines = text.splitlines()
    assert lines[0] == (
        "5 tasks run under both skills: 2 regressed, 1 failed under both, 1 improved, "
        "1 passed under both."
    )
    headings = [line for line in lines if line.startswith("### ")]
    assert [h.split(" (")[0] for h in headings] == [
        "### Regressions",
        "### Persistent failures",
        "### Improvements",
        "### Stable successes",
    ]
    # regressions come first, in pair order
    assert text.index("#### Task q3") < text.index("#### Task q5") < text.index("#### Task q4")
    assert text.index("#### Task q4") < text.index("#### Task q2") < text.index("#### Task q1")
    q3 = text[text.index("#### Task q3") : text.index("#### Task q5")]
    assert "#### Task q3: List the rivers." in q3
    assert "- Previous skill: PASS (soft 1.00) — answer: Avon, Tay" in q3
    assert "- Current skill: FAIL (soft 0.50) — answer: Avon" in q3
    assert "- Current failure reason: partial_list: Tay" in q3
    assert "Previous failure reason" not in q3
    # a trajectory containing ``` gets a longer fence
    assert "````\n[agent] ```Avon```\n````" in q3
    q4 = text[text.index("#### Task q4") : text.index("### Improvements")]
    assert "- Previous failure reason: wrong_entity: Hale" in q4
    assert "```\n[agent] Hale\n```" in q4
    q5 = text[text.index("#### Task q5") : text.index("### Persistent")]
    assert "Current trajectory: (no trajectory recorded)" in q5
    # stable successes get no trajectories
    q1 = text[text.index("#### Task q1") :]
    assert "trajectory" not in q1


def test_empty_sections_say_none():
    pairs = build_pairs(PREV[:1], CURR)
    text = format_comparison(pairs)
    assert text.count("(none)") == 3
    assert text.startswith("1 task run under both skills: 0 regressed")
    assert format_comparison([]).count("(none)") == 4


# --------------------------------------------------------------- the `changed` top-up


def _pair(task_id: str, category: str) -> Pair:
    before, after = {"improved": (0, 1), "regressed": (1, 0), "persistent_fail": (0, 0)}.get(
        category, (1, 1)
    )
    side = {"soft": 0.0, "predicted_answer": "x", "fail_reason": ""}
    return Pair(
        id=task_id,
        task=task_id,
        category=category,
        prev={**side, "hard": float(before)},
        curr={**side, "hard": float(after)},
    )


def _roller(categories: dict[str, str]):
    calls: list[tuple[list[str], int]] = []

    def roll(tasks, round_no):
        calls.append((list(tasks), round_no))
        return [_pair(t, categories[t]) for t in tasks]

    return roll, calls


def test_top_up_rolls_out_the_missing_count_until_the_quota_is_met():
    categories = {"a": "stable_success", "b": "improved", "c": "regressed", "d": "improved"}
    roll, calls = _roller(categories)
    kept = [_pair("k", "regressed")]
    result = top_up(kept, quota=3, pool=list("abcd"), policy="changed", roll=roll)
    assert calls == [(["a", "b"], 1), (["c"], 2)]  # 2 missing, then 1 missing: quota met
    assert [p.id for p in result.pairs] == ["k", "b", "c"]
    assert (result.tasks, result.rounds, result.added) == (["a", "b", "c"], 2, 2)


def test_top_up_stops_when_the_pool_is_exhausted():
    roll, calls = _roller(dict.fromkeys("abc", "stable_success"))
    result = top_up([], quota=4, pool=list("abc"), policy="change", roll=roll)
    assert calls == [(["a", "b", "c"], 1)]
    assert (result.pairs, result.tasks, result.added) == ([], ["a", "b", "c"], 0)


def test_top_up_cuts_to_the_quota_and_does_nothing_when_it_is_met():
    roll, calls = _roller(dict.fromkeys("ab", "improved"))
    result = top_up([_pair("k", "improved")], quota=2, pool=list("ab"), policy="changed", roll=roll)
    assert calls == [(["a"], 1)] and [p.id for p in result.pairs] == ["k", "a"]
    full = [_pair("k", "improved"), _pair("j", "regressed")]
    result = top_up(full, quota=2, pool=list("ab"), policy="changed", roll=roll)
    assert result.rounds == 0 and result.pairs == full and len(calls) == 1


def test_a_changed_policy_run_tops_up_and_records_it(tmp_path):
    trainer = make_trainer(
        tmp_path,
        epochs=2,
        pair_policy="changed",
        slow_update_samples=4,
        edit_budget=1,
        min_edit_budget=1,
        eval_test=False,
    )
    trainer.run()
    folder = trainer.out_dir / "slow_update" / "epoch_02"
    record = read_json(folder / "epoch_record.json")
    kept = read_json(folder / "comparison_pairs.json")
    every = read_json(folder / "comparison_pairs_all.json")
    assert record["topup_tasks"] > 0 and record["pairs"] == len(kept) <= 4
    assert all(p["category"] in ("improved", "regressed") for p in kept)
    assert len(every) == 4 + record["topup_tasks"]
    assert (folder / "rollout_prev" / "topup_01" / "results.jsonl").is_file()
    assert (folder / "rollout_curr" / "topup_01" / "results.jsonl").is_file()
    assert record["topup_pairs"] == sum(p["id"] not in [e["id"] for e in every[:4]] for p in kept)
    metrics = topup_metrics(EpochRecord(**{k: v for k, v in record.items() if k != "selection"}))
    assert metrics == {
        "slow_update.topup_tasks": record["topup_tasks"],
        "slow_update.topup_pairs": record["topup_pairs"],
    }
