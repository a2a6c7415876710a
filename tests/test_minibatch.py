from __future__ import annotations

import random

import pytest

from skillopt.base.errors import ConfigError
from skillopt.base.rollout import TrajectoryRecord
from skillopt.engine.minibatch import plan_minibatches


def records(n_fail: int, n_succ: int) -> list[TrajectoryRecord]:
    rows = [TrajectoryRecord(id=f"f{i}", hard=0, soft=0) for i in range(n_fail)]
    rows += [TrajectoryRecord(id=f"s{i}", hard=1, soft=1) for i in range(n_succ)]
    random.Random(7).shuffle(rows)  # interleaved input, as in a real results.jsonl
    return rows


def reference_split(rows, seed, size):
    """SkillOpt's split, written from the spec: shuffle each list, then consecutive chunks."""
    failures = [r.id for r in rows if not r.hard or r.hard < 1e-9]
    successes = [r.id for r in rows if r.hard and r.hard >= 1e-9]
    random.Random(seed).shuffle(failures)
    random.Random(seed + 1).shuffle(successes)
    chunk = lambda xs: [tuple(xs[i : i + size]) for i in range(0, len(xs), size)]  # noqa: E731
    return chunk(failures), chunk(successes)


@pytest.mark.parametrize("seed", [0, 1, 42, 1234])
@pytest.mark.parametrize("size", [1, 3, 8, 50])
def test_split_matches_random_random(seed, size):
    rows = records(17, 11)
    plan = plan_minibatches(rows, minibatch_size=size, seed=seed)
    fails, succs = reference_split(rows, seed, size)
    assert [m.ids for m in plan if m.kind == "failure"] == fails
    assert [m.ids for m in plan if m.kind == "success"] == succs
    assert [m.name for m in plan] == [f"minibatch_fail_{i:03d}" for i in range(len(fails))] + [
        f"minibatch_succ_{i:03d}" for i in range(len(succs))
    ]
    assert [m.name for m in plan] == sorted(m.name for m in plan)


def test_last_chunk_may_be_short_and_every_id_appears_once():
    plan = plan_minibatches(records(10, 0), minibatch_size=4, seed=3)
    assert [len(m.ids) for m in plan] == [4, 4, 2]
    assert sorted(i for m in plan for i in m.ids) == sorted(f"f{i}" for i in range(10))


def test_failure_only_and_no_seed():
    rows = records(3, 5)
    plan = plan_minibatches(rows, minibatch_size=2, seed=None, failure_only=True)
    assert all(m.kind == "failure" for m in plan)
    assert [i for m in plan for i in m.ids] == [r.id for r in rows if r.hard == 0]


def test_minibatch_size_must_be_positive():
    with pytest.raises(ConfigError, match="minibatch_size"):
        plan_minibatches(records(1, 1), minibatch_size=0, seed=1)
