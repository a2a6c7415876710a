from __future__ import annotations

import pytest

from skillopt.base.errors import ConfigError
from skillopt.engine.train.schedule import EditBudgetSchedule, make_schedule


def budgets(kind: str, hi: int, lo: int, total: int, steps=None) -> list[int]:
    schedule = make_schedule(kind, max_budget=hi, min_budget=lo, total_steps=total)
    return [schedule.budget(s) for s in (steps or range(1, total + 1))]


def test_cosine_4_to_2_over_4_steps():
    assert budgets("cosine", 4, 2, 4) == [4, 3, 2, 2]


def test_cosine_8_to_2_over_8_steps():
    assert budgets("cosine", 8, 2, 8) == [8, 7, 6, 5, 4, 3, 2, 2]


def test_linear_8_to_2_over_8_steps_rounds_half_to_even():
    values = budgets("linear", 8, 2, 8)
    assert values == [7, 6, 6, 5, 4, 4, 3, 2]
    # step 2 is exactly 6.5 and step 6 exactly 3.5: banker's rounding gives 6 and 4
    assert values[1] == 6 and values[5] == 4


def test_cosine_4_to_2_over_40_steps_ranges():
    values = budgets("cosine", 4, 2, 40)
    assert values[:13] == [4] * 13
    assert values[13:26] == [3] * 13
    assert values[26:] == [2] * 14


def test_constant_ignores_step_and_min():
    assert budgets("constant", 5, 1, 10) == [5] * 10


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("total", [0, 1])
def test_decays_return_max_when_total_steps_at_most_one(kind, total):
    assert budgets(kind, 6, 2, total, steps=[1, 2, 7]) == [6, 6, 6]


def test_steps_beyond_total_stay_at_min():
    assert budgets("linear", 8, 2, 8, steps=[8, 9, 100]) == [2, 2, 2]
    assert budgets("cosine", 8, 2, 8, steps=[8, 9, 100]) == [2, 2, 2]


def test_budget_is_a_pure_function_of_the_global_step():
    """A resumed run asking for step 5 first gets what an uninterrupted run got at step 5."""
    schedule = make_schedule("linear", max_budget=8, min_budget=2, total_steps=8)
    fresh = [schedule.budget(s) for s in range(1, 9)]
    resumed = [schedule.budget(s) for s in range(5, 9)]
    assert resumed == fresh[4:]
    assert schedule.budget(3) == schedule.budget(3) == 6


def test_zero_budget_is_allowed():
    assert budgets("cosine", 0, 0, 4) == [0, 0, 0, 0]
    assert budgets("linear", 2, 0, 2) == [1, 0]


def test_kind_is_normalised():
    schedule = make_schedule(" Cosine ", max_budget=4, min_budget=2, total_steps=4)
    assert schedule.kind == "cosine"
    assert isinstance(schedule, EditBudgetSchedule)


def test_unknown_kind_lists_the_valid_kinds():
    with pytest.raises(ConfigError) as info:
        make_schedule("step", max_budget=4, min_budget=2, total_steps=4)
    message = str(info.value)
    assert message.startswith("schedule=step: expected one of")
    for kind in ("constant", "linear", "cosine"):
        assert kind in message


@pytest.mark.parametrize(
    ("hi", "lo", "total", "match"),
    [
        (2, 4, 4, "min_edit_budget=4: expected an integer >= 0 and <= 2"),
        (4, -1, 4, "min_edit_budget=-1: expected an integer >= 0"),
        (-1, -2, 4, "edit_budget=-1: expected an integer >= 0"),
        (4, 2, -3, "total_steps=-3: expected an integer >= 0"),
        (4.5, 2, 4, "edit_budget=4.5: expected an integer"),
    ],
)
def test_bad_bounds_are_config_errors(hi, lo, total, match):
    with pytest.raises(ConfigError, match=match):
        make_schedule("linear", max_budget=hi, min_budget=lo, total_steps=total)


def test_step_zero_is_refused():
    schedule = make_schedule("constant", max_budget=3, min_budget=1, total_steps=5)
    with pytest.raises(ValueError, match="1-based"):
        schedule.budget(0)
