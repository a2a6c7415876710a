"""The QA environment: dataset loading, splits, rollout files, resume, errors; the custom example."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from skillopt.base.errors import BudgetExhausted, ConfigError, LLMError, RolloutError
from skillopt.base.rollout import load_rollout
from skillopt.engine.formatting import format_trajectory
from skillopt.envs import (
    Environment,
    QAEnvironment,
    Splits,
    TargetModel,
    Task,
    cut_context,
    load_tasks,
    parse_split_ratio,
    split_by_ratio,
    split_counts,
)
from skillopt.examples.custom_env import ArithmeticEnvironment, number_in
from skillopt.llm import ChatRequest, ChatResponse, Ledger, LLMClient
from skillopt.llm.ledger import Budget
from skillopt.sim import OfflineTarget


def item(i: int, **over: object) -> dict:
    base = {
        "id": f"q-{i:02d}",
        "question": f"What is value {i}?",
        "answers": [f"v{i}"],
        "context": f"Some text about item {i}.\nRecord: v{i}",
        "task_type": "lookup",
    }
    base.update(over)
    return base


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
    return path


def target_for(backend: object, workers: int = 4, ledger: Ledger | None = None) -> TargetModel:
    return TargetModel(
        client=LLMClient(backend=backend, ledger=ledger or Ledger()), name="tgt", workers=workers
    )


def offline_target(workers: int = 4) -> TargetModel:
    return target_for(OfflineTarget(), workers)


def make_env(tmp_path: Path, n: int = 8, **kwargs: object) -> QAEnvironment:
    data = write_jsonl(tmp_path / "data.jsonl", [item(i) for i in range(1, n + 1)])
    return QAEnvironment(data_path=str(data), **kwargs)


# --------------------------------------------------------------------------- loading


def test_loads_jsonl_json_list_and_data_object(tmp_path: Path) -> None:
    items = [item(1), item(2, context=None, task_type=None, source="wiki")]
    jsonl = write_jsonl(tmp_path / "a.jsonl", items)
    as_list = tmp_path / "b.json"
    as_list.write_text(json.dumps(items), encoding="utf-8")
    as_data = tmp_path / "c.json"
    as_data.write_text(json.dumps({"data": items, "version": 1}), encoding="utf-8")
    loaded = [load_tasks(p) for p in (jsonl, as_list, as_data)]
    assert loaded[0] == loaded[1] == loaded[2]
    first, second = loaded[0]
    assert first == Task(
        id="q-01",
        question="What is value 1?",
        answers=("v1",),
        context="Some text about item 1.\nRecord: v1",
        task_type="lookup",
    )
    assert second.context == "" and second.task_type == ""
    assert second.extra == {"source": "wiki"}


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [item(1, id=7)])
    assert load_tasks(path)[0].id == "7"


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(item(1)) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(RolloutError, match=r"d\.jsonl:3: not valid JSON"):
        load_tasks(path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"answers": "v1"}, "'answers' must be a non-empty list of strings"),
        ({"answers": []}, "'answers' must be a non-empty list of strings"),
        ({"question": ""}, "'question' must be a non-empty string"),
        ({"id": None}, "'id' must be a string or an integer"),
        ({"context": 5}, "'context' must be a string"),
    ],
)
def test_bad_item_names_line_and_problem(tmp_path: Path, bad: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [item(1), item(2, **bad)])
    with pytest.raises(RolloutError, match=rf"d\.jsonl:2: {message}"):
        load_tasks(path)


def test_bad_json_item_names_index(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([item(1), "oops"]), encoding="utf-8")
    with pytest.raises(RolloutError, match=r"d\.json: item 1: expected a JSON object, got str"):
        load_tasks(path)


def test_json_of_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"items": []}), encoding="utf-8")
    with pytest.raises(RolloutError, match="expected a JSON list"):
        load_tasks(path)


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [item(1), item(2), item(3, id="q-01")])
    with pytest.raises(
        RolloutError, match=r"d\.jsonl:3: duplicate id 'q-01' \(first at .*d\.jsonl:1\)"
    ):
        load_tasks(path)


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "..", "/etc/passwd", "C:evil"])
def test_unsafe_id_is_refused(tmp_path: Path, bad_id: str) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [item(1, id=bad_id)])
    with pytest.raises(RolloutError, match=r"d\.jsonl:1: task id"):
        load_tasks(path)


def test_missing_and_empty_dataset(tmp_path: Path) -> None:
    with pytest.raises(RolloutError, match="dataset not found"):
        load_tasks(tmp_path / "nope.jsonl")
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(RolloutError, match="holds no items"):
        load_tasks(empty)


# --------------------------------------------------------------------------- splits


def tasks_n(n: int) -> list[Task]:
    return [Task(id=f"t{i:03d}", question="q", answers=("a",)) for i in range(n)]


def test_split_sizes_and_determinism() -> None:
    tasks = tasks_n(60)
    a = split_by_ratio(tasks, parse_split_ratio("4:3:3"), seed=42)
    b = split_by_ratio(tasks, parse_split_ratio([4, 3, 3]), seed=42)
    c = split_by_ratio(tasks, parse_split_ratio("4:3:3"), seed=43)
    assert (len(a.train), len(a.selection), len(a.test)) == (24, 18, 18)
    assert a == b
    assert [t.id for t in a.train] != [t.id for t in c.train]
    assert set(a.train) != set(c.train)
    everything = [t.id for t in a.train + a.selection + a.test]
    assert sorted(everything) == [t.id for t in tasks]


def test_leftovers_go_to_largest_remainders() -> None:
    assert split_counts(10, (2, 1, 7)) == (2, 1, 7)
    assert split_counts(11, (2, 1, 7)) == (2, 1, 8)  # 2.2, 1.1, 7.7
    assert split_counts(7, (1, 1, 1)) == (3, 2, 2)  # ties go to the earlier split
    assert split_counts(60, (0.4, 0.3, 0.3)) == (24, 18, 18)
    assert split_counts(5, (1, 1, 0)) == (3, 2, 0)


def test_limit_caps_train_only() -> None:
    full = split_by_ratio(tasks_n(60), (4, 3, 3), seed=1)
    capped = split_by_ratio(tasks_n(60), (4, 3, 3), seed=1, limit=5)
    assert capped.train == full.train[:5]
    assert capped.selection == full.selection and capped.test == full.test


def test_manifest_lists_ids_and_sizes() -> None:
    splits = Splits(train=tuple(tasks_n(2)), selection=(), test=tuple(tasks_n(1)))
    assert splits.manifest() == {
        "sizes": {"train": 2, "selection": 0, "test": 1},
        "train": ["t000", "t001"],
        "selection": [],
        "test": ["t000"],
    }


@pytest.mark.parametrize("bad", ["4:3", "a:b:c", "1:-1:1", "0:0:0", 14583, [1, 2], "inf:1:1", True])
def test_bad_split_ratio(bad: object) -> None:
    with pytest.raises(ConfigError, match="split_ratio="):
        parse_split_ratio(bad)  # type: ignore[arg-type]


def test_unquoted_yaml_ratio_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="base-60"):
        parse_split_ratio(14583)  # type: ignore[arg-type]


def test_env_splits_are_cached_and_deterministic(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=10, split_ratio="2:1:7", limit=1)
    splits = env.splits()
    assert env.splits() is splits
    assert (len(splits.train), len(splits.selection), len(splits.test)) == (1, 1, 7)
    again = QAEnvironment(data_path=env.data_path, split_ratio="2:1:7", limit=1).splits()
    assert again == splits


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "limit=-1: expected an integer >= 0"),
        ({"context_chars": -5}, "context_chars=-5: expected an integer >= 0"),
        ({"system_template": "no placeholder"}, "system_template=no placeholder: must contain"),
        ({"data_path": " "}, "data_path= : expected a non-empty string"),
    ],
)
def test_bad_env_settings(tmp_path: Path, kwargs: dict, message: str) -> None:
    settings = {"data_path": str(tmp_path / "d.jsonl"), **kwargs}
    with pytest.raises(ConfigError, match=message):
        QAEnvironment(**settings)  # type: ignore[arg-type]


def test_bad_target_settings() -> None:
    client = LLMClient(backend=OfflineTarget(), ledger=Ledger())
    with pytest.raises(ConfigError, match="workers=0: expected an integer >= 1"):
        TargetModel(client=client, name="m", workers=0)
    with pytest.raises(ConfigError, match="max_tokens=0: expected an integer >= 1"):
        TargetModel(client=client, name="m", max_tokens=0)


# --------------------------------------------------------------------------- prompts


def test_prompts(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=1)
    with_skill = env.system_prompt("  # My skill\n- be brief\n ")
    assert "## Skill\n# My skill\n- be brief\n\n## How to reply" in with_skill
    assert "<answer>" in with_skill
    assert "## Skill" not in env.system_prompt(" \n ")
    task = env.tasks()[0]
    assert env.user_prompt(task) == (
        "## Context\nSome text about item 1.\nRecord: v1\n\n## Question\nWhat is value 1?"
    )
    assert env.user_prompt(Task(id="x", question="Why?", answers=("a",))) == "## Question\nWhy?"


def test_custom_system_template(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=1, system_template="Be a bot.\n{skill_section}Reply.")
    assert env.system_prompt("S") == "Be a bot.\n## Skill\nS\n\nReply."


def test_context_is_cut_at_doc_boundaries() -> None:
    context = "[DOC] aaaa [DOC] bbbb [DOC] cccc"
    assert cut_context(context, 0) == context
    assert cut_context(context, 100) == context
    assert cut_context(context, 24) == "[DOC] aaaa [DOC] bbbb"
    assert cut_context(context, 22) == "[DOC] aaaa [DOC] bbbb"
    assert cut_context("x" * 50, 10) == "x" * 10  # no boundary: hard cut
    assert cut_context("[DOC] " + "x" * 50, 10) == "[DOC] xxxx"  # one long passage: hard cut


# --------------------------------------------------------------------------- rollout


def test_rollout_writes_layout_that_load_rollout_reads(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=6)
    tasks = env.tasks()
    out = tmp_path / "rollout"
    # the skill states no rule, so "v3"-style records come back as written: all correct
    rows = env.rollout(
        tasks, skill="# Skill\n- read the record", out_dir=out, target=offline_target()
    )
    assert [r["id"] for r in rows] == [t.id for t in tasks]
    assert all(r["hard"] == 1.0 and r["soft"] == 1.0 for r in rows)
    first = rows[0]
    assert first["em"] == 1.0 and first["f1"] == 1.0
    assert first["predicted_answer"] == "v1" and first["gold_answers"] == ["v1"]
    assert first["task_type"] == "lookup" and first["task_description"] == "What is value 1?"
    assert first["question"] == "What is value 1?" and first["n_turns"] == 1
    assert first["agent_ok"] is True and "fail_reason" not in first

    folder = out / "predictions" / "q-01"
    system_prompt = (folder / "target_system_prompt.txt").read_text(encoding="utf-8")
    assert "## Skill\n# Skill\n- read the record" in system_prompt
    user_prompt = (folder / "target_user_prompt.txt").read_text(encoding="utf-8")
    assert user_prompt == env.user_prompt(tasks[0])
    conversation = json.loads((folder / "conversation.json").read_text(encoding="utf-8"))
    assert [turn["role"] for turn in conversation] == ["user", "assistant", "system"]
    assert conversation[2]["content"].startswith("[EVALUATION RESULT]\nQuestion: What is value 1?")

    loaded = load_rollout(out)
    assert sorted(r.id for r in loaded.records) == [r["id"] for r in rows]
    by_id = {r["id"]: r for r in rows}
    for record in loaded.records:
        assert (record.hard, record.soft) == (by_id[record.id]["hard"], by_id[record.id]["soft"])
    assert loaded.missing_conversation == []
    assert set(loaded.trajectories) == set(by_id)
    rendered = format_trajectory(1, loaded.trajectories["q-01"])
    assert "[verification] [EVALUATION RESULT]" in rendered
    assert "#### Target System Prompt" in rendered


def test_failed_rows_have_parseable_reason(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [item(1, answers=["v1 exactly", "other"]), item(2, task_type="")],
    )
    env = QAEnvironment(data_path=str(data), name="myqa")
    rows = env.rollout(env.tasks(), skill="", out_dir=tmp_path / "r", target=offline_target())
    assert rows[0]["hard"] == 0.0 and rows[0]["em"] == 0.0
    assert rows[0]["soft"] == pytest.approx(2 / 3)
    assert rows[0]["fail_reason"] == "EM=0: predicted 'v1' but expected ['v1 exactly', 'other']"
    assert rows[1]["task_type"] == "myqa"  # an item without a type gets the environment's name


def test_resume_makes_no_new_calls(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=6)
    out = tmp_path / "r"
    target = offline_target()
    first = env.rollout(env.tasks()[:4], skill="", out_dir=out, target=target)
    assert target.client.ledger.calls == 4
    again = offline_target()
    second = env.rollout(env.tasks()[:4], skill="", out_dir=out, target=again)
    assert again.client.ledger.calls == 0
    assert second == first
    more = env.rollout(env.tasks(), skill="", out_dir=out, target=again)
    assert again.client.ledger.calls == 2
    assert [r["id"] for r in more] == [t.id for t in env.tasks()]
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    assert len(load_rollout(out).records) == 6


def test_resume_drops_a_torn_last_line(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=3)
    out = tmp_path / "r"
    env.rollout(env.tasks()[:2], skill="", out_dir=out, target=offline_target())
    results = out / "results.jsonl"
    results.write_text(results.read_text(encoding="utf-8") + '{"id": "q-03", "hard"', "utf-8")
    target = offline_target()
    rows = env.rollout(env.tasks(), skill="", out_dir=out, target=target)
    assert target.client.ledger.calls == 1
    assert [r["id"] for r in rows] == ["q-01", "q-02", "q-03"]
    assert len(load_rollout(out).records) == 3


def test_resume_refuses_a_corrupt_middle_line(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=2)
    out = tmp_path / "r"
    out.mkdir()
    (out / "results.jsonl").write_text('garbage\n{"id": "q-01", "hard": 1, "soft": 1}\n', "utf-8")
    with pytest.raises(RolloutError, match=r"results\.jsonl:1: not valid JSON"):
        env.rollout(env.tasks(), skill="", out_dir=out, target=offline_target())


class SlowFirst:
    """Answers every task correctly; earlier tasks take longer, so they finish last."""

    name = "slow-first"

    def __init__(self, n: int) -> None:
        self.n = n

    def complete(self, request: ChatRequest) -> ChatResponse:
        user = request.messages[-1]["content"]
        index = int(user.rsplit("value ", 1)[1].rstrip("?"))
        time.sleep(0.03 * (self.n - index))
        return ChatResponse(
            text=f"<answer>v{index}</answer>", prompt_tokens=1, completion_tokens=1, latency_s=0.0
        )


def test_rows_come_back_in_task_order(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=5)
    out = tmp_path / "r"
    rows = env.rollout(env.tasks(), skill="", out_dir=out, target=target_for(SlowFirst(5), 5))
    assert [r["id"] for r in rows] == ["q-01", "q-02", "q-03", "q-04", "q-05"]
    written = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()]
    # appended as they finished (q-05 first), then rewritten in task order once all are in, so
    # the reflect step's minibatch split does not depend on which call finished first
    assert written == ["q-01", "q-02", "q-03", "q-04", "q-05"]


class FailingFor:
    """Raises LLMError for the questions listed; answers the rest from the record."""

    name = "failing"

    def __init__(self, failing: set[int], error: type[LLMError] = LLMError) -> None:
        self.failing = failing
        self.error = error
        self.lock = threading.Lock()
        self.asked: Counter[int] = Counter()

    def complete(self, request: ChatRequest) -> ChatResponse:
        user = request.messages[-1]["content"]
        index = int(user.rsplit("value ", 1)[1].rstrip("?"))
        with self.lock:
            self.asked[index] += 1
        if index in self.failing:
            raise self.error(f"HTTP 503 from endpoint\nfor item {index}")
        return OfflineTarget().complete(request)


def test_failed_call_gives_error_row_with_conversation(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=3)
    out = tmp_path / "r"
    backend = FailingFor({2})
    target = target_for(backend)
    rows = env.rollout(env.tasks(), skill="", out_dir=out, target=target)
    bad = rows[1]
    assert bad["id"] == "q-02"
    assert (bad["hard"], bad["soft"], bad["em"], bad["f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert bad["agent_ok"] is False
    assert bad["fail_reason"] == "error: HTTP 503 from endpoint for item 2"
    assert rows[0]["hard"] == rows[2]["hard"] == 1.0
    assert target.client.ledger.errors == 1
    conversation = json.loads((out / "predictions/q-02/conversation.json").read_text())
    assert conversation[0] == {"role": "user", "content": env.user_prompt(env.tasks()[1])}
    assert conversation[-1]["role"] == "system"
    assert "HTTP 503 from endpoint" in conversation[-1]["content"]
    loaded = load_rollout(out)
    assert "q-02" in loaded.trajectories and loaded.missing_conversation == []

    # resume asks only the failed task again; its row is replaced, not duplicated
    backend.failing.clear()
    rows = env.rollout(env.tasks(), skill="", out_dir=out, target=target)
    assert backend.asked == Counter({1: 1, 2: 2, 3: 1})
    assert [r["hard"] for r in rows] == [1.0, 1.0, 1.0]
    assert len(load_rollout(out).records) == 3


def test_all_calls_failing_raises(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=3)
    out = tmp_path / "r"
    with pytest.raises(RolloutError, match=r"all 3 target calls .* failed; first: error: HTTP 503"):
        env.rollout(env.tasks(), skill="", out_dir=out, target=target_for(FailingFor({1, 2, 3})))
    # the analysts could still read what happened
    assert len(load_rollout(out).records) == 3


def test_budget_exhausted_stops_the_rollout(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=4)
    out = tmp_path / "r"
    ledger = Ledger(budget=Budget(max_calls=2))
    with pytest.raises(BudgetExhausted):
        env.rollout(
            env.tasks(), skill="", out_dir=out, target=target_for(OfflineTarget(), 1, ledger)
        )
    assert len(load_rollout(out).records) == 2  # finished rows stay; no error rows


def test_rollout_refuses_unsafe_and_repeated_ids(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=1)
    evil = Task(id="../x", question="q", answers=("a",))
    with pytest.raises(RolloutError, match="path separator"):
        env.rollout([evil], skill="", out_dir=tmp_path / "r", target=offline_target())
    task = env.tasks()[0]
    with pytest.raises(RolloutError, match="given twice"):
        env.rollout([task, task], skill="", out_dir=tmp_path / "r", target=offline_target())


def test_empty_task_list(tmp_path: Path) -> None:
    env = make_env(tmp_path, n=1)
    assert env.rollout([], skill="", out_dir=tmp_path / "r", target=offline_target()) == []


# --------------------------------------------------------------------------- custom environment


class Calculator:
    """A trivial target that knows the answers to the arithmetic tasks, except for one."""

    name = "calculator"

    def __init__(self, answers: dict[str, str], wrong: str) -> None:
        self.answers = answers
        self.wrong = wrong

    def complete(self, request: ChatRequest) -> ChatResponse:
        question = request.messages[-1]["content"].removeprefix("## Problem\n")
        answer = "-1" if question == self.wrong else self.answers[question]
        return ChatResponse(
            text=f"Working it out.\n<answer>{answer}</answer>",
            prompt_tokens=1,
            completion_tokens=1,
            latency_s=0.0,
        )


def test_both_environments_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(ArithmeticEnvironment(), Environment)
    assert isinstance(make_env(tmp_path, n=1), Environment)
    assert not isinstance(object(), Environment)


def test_custom_environment_rolls_out(tmp_path: Path) -> None:
    env = ArithmeticEnvironment(n_tasks=10, seed=3)
    splits = env.splits()
    assert (len(splits.train), len(splits.selection), len(splits.test)) == (4, 3, 3)
    assert env.tasks() == ArithmeticEnvironment(n_tasks=10, seed=3).tasks()
    tasks = list(splits.train)
    answers = {t.question: t.answers[0] for t in tasks}
    backend = Calculator(answers, wrong=tasks[1].question)
    out = tmp_path / "arith"
    rows = env.rollout(tasks, skill="- show your work", out_dir=out, target=target_for(backend))
    assert [r["hard"] for r in rows] == [1.0, 0.0, 1.0, 1.0]
    assert (
        rows[1]["fail_reason"] == f"wrong number: predicted '-1' but expected {tasks[1].answers[0]}"
    )
    assert (
        "## Skill\n- show your work"
        in (out / f"predictions/{tasks[0].id}/target_system_prompt.txt").read_text()
    )
    assert len(load_rollout(out).records) == 4


def test_custom_environment_with_offline_target_scores_zero_but_runs(tmp_path: Path) -> None:
    env = ArithmeticEnvironment(n_tasks=3)
    rows = env.rollout(env.tasks(), skill="", out_dir=tmp_path / "a", target=offline_target())
    assert [r["predicted_answer"] for r in rows] == ["unknown"] * 3
    assert all(r["hard"] == 0.0 and r["agent_ok"] for r in rows)


def test_generated_arithmetic_answers_are_right() -> None:
    for task in ArithmeticEnvironment(n_tasks=9, seed=5).tasks():
        numbers = [int(n) for n in task.question.replace("?", " ").split() if n.isdigit()]
        a, b, c = numbers
        expected = {"multiply_subtract": a * b - c, "add": a + b + c, "divide": b // a}
        assert task.answers == (str(expected[task.task_type]),)
    assert number_in("about 1,250.5 or 7") == 7.0 and number_in("none") is None
