from __future__ import annotations

import json
import math

import pytest

from skillopt.base.errors import ConfigError
from skillopt.base.scores import Score, mean_score
from skillopt.engine.train.gate import GateDecision, GateState, ScoreCache, decide
from skillopt.engine.train.settings import GateSettings

ROWS = [
    {"id": "a", "hard": 1, "soft": 1.0},
    {"id": "b", "hard": 0, "soft": 0.5},
    {"id": "c", "hard": 1.0, "soft": 0.75},
    {"id": "d", "hard": 0.0, "soft": 0.25},
]


def test_mean_score():
    assert mean_score(ROWS) == Score(hard=0.5, soft=0.625, n=4)
    assert mean_score([{"id": "x", "hard": 0, "soft": None}]) == Score(hard=0.0, soft=0.0, n=1)


def test_mean_of_no_rows_is_zero():
    assert mean_score([]) == Score(hard=0.0, soft=0.0, n=0)


@pytest.mark.parametrize(
    ("metric", "weight", "expected"),
    [
        ("hard", 0.5, 0.5),
        ("soft", 0.5, 0.625),
        ("mixed", 0.5, 0.5625),
        ("mixed", 0.2, 0.8 * 0.5 + 0.2 * 0.625),
        ("mixed", 0.0, 0.5),
        ("mixed", 1.0, 0.625),
        (" Soft ", 0.5, 0.625),
    ],
)
def test_gate_metric_values(metric, weight, expected):
    assert GateSettings(metric=metric, mixed_weight=weight).value(
        mean_score(ROWS)
    ) == pytest.approx(expected)


def test_default_metric_is_hard():
    assert GateSettings().value(Score(hard=0.25, soft=0.9)) == 0.25


def test_unknown_metric_is_a_config_error_listing_the_metrics():
    with pytest.raises(ConfigError) as info:
        GateSettings(metric="accuracy")
    message = str(info.value)
    assert message.startswith("metric=accuracy:")
    for name in ("hard", "soft", "mixed"):
        assert name in message


@pytest.mark.parametrize("weight", [-0.1, 1.5, math.nan, "0.5", True])
def test_mixed_weight_outside_unit_interval_is_a_config_error(weight):
    with pytest.raises(ConfigError, match="mixed_weight="):
        GateSettings(metric="mixed", mixed_weight=weight)


# --- decisions ----------------------------------------------------------------------------------


def test_strictly_better_than_current_and_best_is_a_new_best():
    state = GateState(current_score=0.4, best_score=0.5, best_step=2)
    decision = decide(0.6, state, step=7)
    assert decision == GateDecision(
        action="accept_new_best",
        state=GateState(current_score=0.6, best_score=0.6, best_step=7),
        new_best=True,
    )
    assert decision.accepted


def test_better_than_current_only_is_accept():
    state = GateState(current_score=0.4, best_score=0.5, best_step=2)
    decision = decide(0.45, state, step=7)
    assert decision.action == "accept" and not decision.new_best
    assert decision.state == GateState(current_score=0.45, best_score=0.5, best_step=2)


def test_equal_to_best_but_better_than_current_is_plain_accept():
    state = GateState(current_score=0.4, best_score=0.5, best_step=2)
    decision = decide(0.5, state, step=3)
    assert decision.action == "accept"
    assert decision.state.best_step == 2


@pytest.mark.parametrize("candidate", [0.5, 0.3])
def test_ties_and_drops_are_rejected_and_change_nothing(candidate):
    state = GateState(current_score=0.5, best_score=0.5, best_step=1)
    decision = decide(candidate, state, step=4)
    assert decision.action == "reject" and not decision.accepted and not decision.new_best
    assert decision.state is state


def test_unmeasured_state_accepts_anything_as_new_best():
    decision = decide(0.0, GateState.unmeasured(), step=0)
    assert decision.action == "accept_new_best"
    assert decision.state == GateState(current_score=0.0, best_score=0.0, best_step=0)


def test_a_real_zero_score_is_kept_and_a_later_zero_is_rejected():
    """SkillOpt's `x or -1` turned 0.0 into 'unmeasured'; here 0.0 is a score like any other."""
    state = GateState.from_json(json.loads(json.dumps(GateState.baseline(0.0).to_json())))
    assert state.current_score == 0.0 and state.best_score == 0.0
    assert state.current_score is not None
    decision = decide(0.0, state, step=1)
    assert decision.action == "reject"
    assert decision.state.current_score == 0.0
    assert decide(0.25, state, step=2).action == "accept_new_best"


def test_state_round_trip_keeps_none_as_unmeasured():
    state = GateState.unmeasured()
    assert GateState.from_json(state.to_json()) == state
    assert GateState.from_json({}) == state
    measured = GateState(current_score=0.3, best_score=0.6, best_step=4)
    assert GateState.from_json(json.loads(json.dumps(measured.to_json()))) == measured


def test_force_accept_replaces_current_and_best_only_when_better():
    state = GateState(current_score=0.5, best_score=0.6, best_step=3)
    worse = decide(0.2, state, step=5, use_gate=False)
    assert worse.action == "force_accept" and worse.accepted and not worse.new_best
    assert worse.state == GateState(current_score=0.2, best_score=0.6, best_step=3)
    tie = decide(0.6, state, step=5, use_gate=False)
    assert not tie.new_best and tie.state.best_step == 3
    better = decide(0.7, state, step=6, use_gate=False)
    assert better.action == "force_accept" and better.new_best
    assert better.state == GateState(current_score=0.7, best_score=0.7, best_step=6)


def test_force_accept_on_unmeasured_state_sets_best():
    decision = decide(0.0, GateState.unmeasured(), step=1, use_gate=False)
    assert decision.new_best and decision.state.best_score == 0.0


def test_nan_candidate_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        decide(math.nan, GateState.baseline(0.5), step=1)


def test_gate_decides_on_the_metric_value_not_raw_hard():
    metric = GateSettings(metric="soft")
    state = GateState.baseline(metric.value(Score(hard=0.5, soft=0.4)))
    candidate = Score(hard=0.25, soft=0.6)  # worse hard, better soft
    assert decide(metric.value(candidate), state, step=1).action == "accept_new_best"
    assert decide(GateSettings().value(candidate), state, step=1).action == "reject"


# --- score cache --------------------------------------------------------------------------------


def test_cache_get_put_len_contains():
    cache = ScoreCache()
    assert len(cache) == 0 and "abc" not in cache and cache.get("abc") is None
    cache.put("abc", Score(hard=0.0, soft=0.0, n=10))
    assert "abc" in cache and len(cache) == 1
    assert cache.get("abc") == Score(hard=0.0, soft=0.0, n=10)
    cache.put("abc", Score(hard=0.5, soft=0.7, n=10))
    assert len(cache) == 1 and cache.get("abc").hard == 0.5


def test_cache_holds_raw_scores_only():
    cache = ScoreCache()
    with pytest.raises(TypeError, match="raw Score"):
        cache.put("abc", 0.5)  # a gate value is not a score
    with pytest.raises(TypeError):
        cache.put("abc", (0.5, 0.0))
    assert len(cache) == 0


def test_cache_round_trips_through_json():
    cache = ScoreCache()
    cache.put("ffff", Score(hard=0.25, soft=0.5, n=8))
    cache.put("0000", Score(hard=0.0, soft=0.0, n=8))
    data = json.loads(json.dumps(cache.to_json()))
    assert data == {
        "0000": {"hard": 0.0, "soft": 0.0, "n": 8},
        "ffff": {"hard": 0.25, "soft": 0.5, "n": 8},
    }
    restored = ScoreCache.from_json(data)
    assert len(restored) == 2
    assert restored.get("0000") == Score(hard=0.0, soft=0.0, n=8)
    assert restored.get("ffff") == cache.get("ffff")
