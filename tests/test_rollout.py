from __future__ import annotations

import json

import pytest

from skillopt.base.errors import RolloutError
from skillopt.base.rollout import load_rollout
from tests.conftest import scored_rows


def test_loads_records_keeps_unknown_fields(make_rollout):
    rows = scored_rows(2, 1)
    rows[0]["gold_answers"] = ["42 km"]
    rollout = load_rollout(make_rollout(rows))
    assert [r.id for r in rollout.records] == ["f000", "f001", "s000"]
    assert rollout.records[0].field("gold_answers") == ["42 km"]
    assert rollout.records[0].fail_reason == "kind0: wrong answer 0"
    assert set(rollout.trajectories) == {"f000", "f001", "s000"}


@pytest.mark.parametrize(
    ("hard", "is_failure"),
    [
        (0, True),
        (0.0, True),
        (5e-10, True),
        (None, None),
        (False, True),
        (1e-9, False),
        (0.5, False),
        (1, False),
        (True, False),
    ],
)
def test_failure_and_success_are_disjoint(make_rollout, hard, is_failure):
    rows = [{"id": "a", "hard": hard, "soft": 0.0}]
    if is_failure is None:  # hard is required and must be a number
        with pytest.raises(RolloutError, match=r"results.jsonl:1: hard"):
            load_rollout(make_rollout(rows))
        return
    rollout = load_rollout(make_rollout(rows))
    assert rollout.records[0].is_failure is is_failure
    assert len(rollout.failures) + len(rollout.successes) == 1


@pytest.mark.parametrize(
    "bad_id", ["..", ".", "../escape", "/etc/passwd", "a/b", "a\\b", "", "C:evil"]
)
def test_ids_that_escape_predictions_are_rejected(make_rollout, bad_id):
    root = make_rollout([{"id": bad_id, "hard": 0, "soft": 0}])
    with pytest.raises(RolloutError, match=r"results.jsonl:1: id: task id"):
        load_rollout(root)


def test_escaping_id_is_never_read_even_when_skipping(make_rollout, tmp_path):
    secret = tmp_path / "conversation.json"
    secret.write_text(json.dumps([{"role": "user", "content": "SECRET"}]))
    root = make_rollout([{"id": "..", "hard": 0, "soft": 0}, {"id": "ok", "hard": 0, "soft": 0}])
    rollout = load_rollout(root, on_bad_record="skip")
    assert [r.id for r in rollout.records] == ["ok"]
    assert "SECRET" not in json.dumps([t.conversation for t in rollout.trajectories.values()])
    assert rollout.bad_records[0].location.endswith("results.jsonl:1")


def test_malformed_line_names_file_and_line(make_rollout):
    root = make_rollout(scored_rows(1, 1), raw_lines=['{"id": "x", "hard": 0'])
    with pytest.raises(RolloutError, match=r"results.jsonl:3: not valid JSON"):
        load_rollout(root)


def test_skip_policy_counts_and_lists_bad_lines(make_rollout):
    root = make_rollout(
        scored_rows(1, 1),
        raw_lines=[
            "not json",
            '{"id": "y", "hard": 0}',
            '["a list"]',
            '{"id": "f000", "hard": 1, "soft": 1}',
        ],
    )
    rollout = load_rollout(root, on_bad_record="skip")
    assert [r.id for r in rollout.records] == ["f000", "s000"]
    reasons = [(b.location.rsplit(":", 1)[1], b.reason) for b in rollout.bad_records]
    assert [line for line, _ in reasons] == ["3", "4", "5", "6"]
    assert "soft: Field required" in reasons[1][1]
    assert "duplicate task id 'f000'" in reasons[3][1]


def test_missing_or_empty_conversation_is_skipped_and_reported(make_rollout):
    rows = scored_rows(3, 0)
    rollout = load_rollout(make_rollout(rows, conversations={"f001": None, "f002": []}))
    assert rollout.missing_conversation == ["f001", "f002"]
    assert [r.id for r in rollout.records] == [
        "f000",
        "f001",
        "f002",
    ]  # they keep their place in the plan
    assert set(rollout.trajectories) == {"f000"}


def test_malformed_conversation_is_an_error_naming_the_file(make_rollout):
    root = make_rollout(scored_rows(1, 0))
    (root / "predictions" / "f000" / "conversation.json").write_text(
        '[{"role": "user",\n "content": }]'
    )
    with pytest.raises(RolloutError, match=r"f000/conversation.json:2: not valid JSON"):
        load_rollout(root)
    assert load_rollout(root, on_bad_record="skip").records == []


def test_prompt_files_are_read(make_rollout):
    root = make_rollout(scored_rows(1, 0))
    (root / "predictions" / "f000" / "target_system_prompt.txt").write_text("SYS")
    rollout = load_rollout(root)
    assert rollout.trajectories["f000"].files == {"target_system_prompt": "SYS"}


def test_missing_directory_and_results(tmp_path):
    with pytest.raises(RolloutError, match="rollout directory not found"):
        load_rollout(tmp_path / "nope")
    with pytest.raises(RolloutError, match="results.jsonl: missing"):
        load_rollout(tmp_path)
    with pytest.raises(RolloutError, match="on_bad_record"):
        load_rollout(tmp_path, on_bad_record="ignore")  # type: ignore[arg-type]


def test_bundled_example_loads(example_rollout):
    rollout = load_rollout(example_rollout)
    assert len(rollout.records) >= 24
    assert rollout.failures and rollout.successes
