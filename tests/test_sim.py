"""The offline QA simulation: rules, the offline target, the bundled dataset and skill."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from skillopt.base.resources import resource_path
from skillopt.envs import DEFAULT_SYSTEM_TEMPLATE, QAEnvironment, TargetModel, Task
from skillopt.envs.scoring import exact_match, extract_answer, normalize_answer
from skillopt.llm import ChatRequest, Ledger, LLMClient
from skillopt.sim import (
    DATASET_RESOURCE,
    RULES,
    RULES_BY_NAME,
    SKILL_RESOURCE,
    OfflineTarget,
    active_rules,
    apply_rules,
    explain_failure,
    format_answer,
    parse_fail_reason,
)

TYPES = {"date", "count", "distance", "person", "yes_no"}


@pytest.fixture(scope="module")
def env() -> QAEnvironment:
    return QAEnvironment(data_path=resource_path(DATASET_RESOURCE), name="qa_sim")


@pytest.fixture(scope="module")
def tasks(env: QAEnvironment) -> tuple[Task, ...]:
    return env.tasks()


@pytest.fixture(scope="module")
def start_skill() -> str:
    return Path(resource_path(SKILL_RESOURCE)).read_text(encoding="utf-8")


def raw_of(task: Task) -> str:
    line = next(x for x in task.context.splitlines() if x.startswith("Record: "))
    return line.removeprefix("Record: ")


def rules_of(task: Task) -> tuple[str, ...]:
    return tuple(task.extra["rules"])


def rollout(env: QAEnvironment, tasks, skill: str, out: Path) -> list[dict]:
    target = TargetModel(client=LLMClient(backend=OfflineTarget(), ledger=Ledger()), name="sim")
    return env.rollout(tasks, skill=skill, out_dir=out, target=target)


def em_of(rows: list[dict], keep=lambda row: True) -> float:
    kept = [r for r in rows if keep(r)]
    return sum(r["hard"] for r in kept) / len(kept)


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("iso_dates", "July 20, 1969", "1969-07-20"),
        ("iso_dates", "3 October 1931", "1931-10-03"),
        ("digit_numbers", "twenty-four", "24"),
        ("digit_numbers", "one hundred and six rooms", "106 rooms"),
        ("digit_numbers", "three thousand two hundred", "3200"),
        ("bare_numbers", "384,400 km", "384,400"),
        ("bare_numbers", "17.5 km", "17.5"),
        ("yes_no", "Yes, it is.", "yes"),
        ("yes_no", "No, only rowing boats may use it.", "no"),
        ("first_name_first", "Curie, Marie", "Marie Curie"),
        ("first_name_first", "Drummond, Isla Jane", "Isla Jane Drummond"),
    ],
)
def test_rule_rewrites(name: str, raw: str, expected: str) -> None:
    rule = RULES_BY_NAME[name]
    assert rule.applies(raw)
    assert rule.apply(raw) == expected
    assert normalize_answer(rule.apply(raw)) != normalize_answer(raw)  # survives normalization


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("iso_dates", "1969-07-20"),
        ("iso_dates", "Julember 20, 1969"),
        ("digit_numbers", "24"),
        ("digit_numbers", "No, it is not."),
        ("bare_numbers", "384,400"),
        ("bare_numbers", "20 July 1969"),
        ("yes_no", "yes"),
        ("yes_no", "Nobody knows."),
        ("first_name_first", "Marie Curie"),
        ("first_name_first", "July 20, 1969"),
        ("first_name_first", "Yes, It Is"),
    ],
)
def test_rule_leaves_other_values_alone(name: str, value: str) -> None:
    rule = RULES_BY_NAME[name]
    assert not rule.applies(value)
    assert rule.apply(value) == value


def test_rules_are_distinct_and_self_marking() -> None:
    assert 4 <= len(RULES) <= 5
    assert len({r.name for r in RULES}) == len({r.marker.lower() for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.marker in rule.text
        assert active_rules(rule.text) == (rule,)


def test_active_rules_follow_markers_in_rules_order() -> None:
    prompt = f"x\n{RULES[3].text}\n{RULES[0].text.upper()}\n"
    assert active_rules(prompt) == (RULES[0], RULES[3])
    assert active_rules("no rules here") == ()


def test_format_answer_applies_only_active_rules_and_composes() -> None:
    raw = "thirty-one ferries"
    assert format_answer(raw, "") == raw
    assert format_answer(raw, RULES_BY_NAME["digit_numbers"].text) == "31 ferries"
    assert format_answer(raw, RULES_BY_NAME["bare_numbers"].text) == raw  # words are not a number
    both = RULES_BY_NAME["digit_numbers"].text + RULES_BY_NAME["bare_numbers"].text
    assert format_answer(raw, both) == "31"


def test_starting_skill_and_system_prompt_state_no_rule(start_skill: str) -> None:
    assert active_rules(start_skill) == ()
    assert active_rules(DEFAULT_SYSTEM_TEMPLATE) == ()
    assert start_skill.startswith("# ") and start_skill.count("\n- ") >= 3


# --------------------------------------------------------------------------- fail reasons


def test_parse_fail_reason() -> None:
    assert parse_fail_reason("EM=0: predicted '42 km' but expected ['42', '42.0']") == (
        "42 km",
        ("42", "42.0"),
    )
    assert parse_fail_reason(
        "EM=0: predicted 'O'Brien, Pat' but expected [\"Pat O'Brien\"]; the record is surname-first"
    ) == ("O'Brien, Pat", ("Pat O'Brien",))
    assert parse_fail_reason("EM=0: predicted '' but expected ['a]b']") == ("", ("a]b",))
    assert parse_fail_reason("error: HTTP 503") is None
    assert parse_fail_reason("EM=0: predicted 'x' but expected [1, 2]") is None
    assert parse_fail_reason("EM=0: predicted 'x' but expected ['unclosed") is None


def test_explain_failure_singles_pairs_and_none() -> None:
    assert explain_failure("July 20, 1969", ["1969-07-20"]) == (RULES_BY_NAME["iso_dates"],)
    assert explain_failure("forty-two members", ["42"]) == (
        RULES_BY_NAME["digit_numbers"],
        RULES_BY_NAME["bare_numbers"],
    )
    assert explain_failure("42 members", ["42"]) == (RULES_BY_NAME["bare_numbers"],)
    assert explain_failure("Pierre Curie", ["Marie Curie"]) == ()  # genuinely wrong
    assert explain_failure("1969-07-20", ["1969-07-20"]) == ()  # not a failure


# --------------------------------------------------------------------------- dataset


def test_dataset_shape(tasks: tuple[Task, ...]) -> None:
    assert [t.id for t in tasks] == [f"sim-{i:03d}" for i in range(1, 61)]
    types = Counter(t.task_type for t in tasks)
    assert set(types) == TYPES and min(types.values()) >= 10
    noisy = [t for t in tasks if t.extra["noisy"]]
    assert 4 <= len(noisy) <= 6
    for task in tasks:
        assert task.context.count("\nRecord: ") == 1
        assert set(rules_of(task)) <= set(RULES_BY_NAME)


def test_every_rule_flips_exact_match_for_its_items(tasks: tuple[Task, ...]) -> None:
    covered: Counter[str] = Counter()
    for task in tasks:
        if task.extra["noisy"]:
            continue
        raw, needed = raw_of(task), [RULES_BY_NAME[n] for n in rules_of(task)]
        formatted, used = apply_rules(raw, needed)
        assert exact_match(formatted, task.answers) == 1.0, task.id
        assert [r.name for r in used] == list(rules_of(task)), task.id
        if needed:
            assert exact_match(raw, task.answers) == 0.0, task.id
            for rule in needed:  # no needed rule is redundant
                without = [r for r in needed if r is not rule]
                assert exact_match(apply_rules(raw, without)[0], task.answers) == 0.0, task.id
                covered[rule.name] += 1
        # stating every rule does no harm to an item
        assert exact_match(apply_rules(raw, RULES)[0], task.answers) == 1.0, task.id
    assert set(covered) == set(RULES_BY_NAME)
    assert min(covered.values()) >= 5


def test_noisy_items_fail_under_any_rules(tasks: tuple[Task, ...]) -> None:
    for task in (t for t in tasks if t.extra["noisy"]):
        everything = apply_rules(raw_of(task), RULES)[0]
        assert exact_match(everything, task.answers) == 0.0
        assert explain_failure(everything, task.answers) == ()
        assert explain_failure(raw_of(task), task.answers) == ()


# --------------------------------------------------------------------------- training signal


def test_starting_skill_scores_low_and_all_rules_score_high(
    env: QAEnvironment, tasks: tuple[Task, ...], start_skill: str, tmp_path: Path
) -> None:
    noisy = {t.id for t in tasks if t.extra["noisy"]}
    start = rollout(env, tasks, start_skill, tmp_path / "start")
    assert em_of(start) == pytest.approx(0.25)  # measured: 15 of 60 need no rule
    all_rules = start_skill.rstrip() + "\n\n## Answer format\n" + "\n".join(r.text for r in RULES)
    full = rollout(env, tasks, all_rules, tmp_path / "full")
    assert em_of(full) > 0.85
    assert em_of(full, lambda r: r["id"] not in noisy) == 1.0
    assert all(r["hard"] == 0.0 for r in full if r["id"] in noisy)


def test_each_rule_alone_lifts_its_own_task_types(
    env: QAEnvironment, tasks: tuple[Task, ...], start_skill: str
) -> None:
    def by_type(skill: str) -> dict[str, int]:
        system = env.system_prompt(skill)
        correct: defaultdict[str, int] = defaultdict(int)
        for task in tasks:
            reply = OfflineTarget.reply(system, env.user_prompt(task))
            correct[task.task_type] += int(exact_match(extract_answer(reply), task.answers))
        return dict(correct)

    base = by_type(start_skill)
    for rule in RULES:
        lifted = by_type(start_skill + "\n" + rule.text)
        own = {t.task_type for t in tasks if rule.name in rules_of(t) and len(rules_of(t)) == 1}
        assert own, rule.name
        for task_type in TYPES:
            if task_type in own:
                assert lifted[task_type] >= base[task_type] + 2, (rule.name, task_type)
            else:
                assert lifted[task_type] == base[task_type], (rule.name, task_type)


def test_explain_failure_recovers_rules_from_real_rollout(
    env: QAEnvironment, tasks: tuple[Task, ...], start_skill: str, tmp_path: Path
) -> None:
    by_id = {t.id: t for t in tasks}
    rows = rollout(env, tasks, start_skill, tmp_path / "r")
    failures = [r for r in rows if r["hard"] < 1]
    assert len(failures) == 45
    for row in failures:
        parsed = parse_fail_reason(row["fail_reason"])
        assert parsed is not None, row["fail_reason"]
        predicted, golds = parsed
        assert predicted == row["predicted_answer"] and list(golds) == row["gold_answers"]
        found = tuple(r.name for r in explain_failure(predicted, golds))
        task = by_id[row["id"]]
        assert found == (() if task.extra["noisy"] else rules_of(task)), row["id"]

    # once the skill states one rule of a pair, the failure points at the other one
    half = start_skill + "\n" + RULES_BY_NAME["digit_numbers"].text
    rows = rollout(env, tasks, half, tmp_path / "half")
    pair_rows = [r for r in rows if rules_of(by_id[r["id"]]) == ("digit_numbers", "bare_numbers")]
    assert pair_rows and all(r["hard"] == 0.0 for r in pair_rows)
    for row in pair_rows:
        predicted, golds = parse_fail_reason(row["fail_reason"])  # type: ignore[misc]
        assert explain_failure(predicted, golds) == (RULES_BY_NAME["bare_numbers"],)


# --------------------------------------------------------------------------- offline target


def request(system: str, user: str) -> ChatRequest:
    return ChatRequest(
        model="sim",
        messages=({"role": "system", "content": system}, {"role": "user", "content": user}),
        max_tokens=100,
        reply_format="answer",
    )


def test_offline_target_reply_and_usage() -> None:
    target = OfflineTarget()
    req = request(
        RULES_BY_NAME["iso_dates"].text,
        "## Context\nNotes.\nRecord: July 20, 1969\n\n## Question\nWhen?",
    )
    response = target.complete(req)
    assert response.text.endswith("<answer>1969-07-20</answer>")
    assert len(response.text.splitlines()) == 2 and "iso_dates" in response.text
    assert response.prompt_tokens == -(-req.chars // 4)
    assert response.completion_tokens == -(-len(response.text) // 4)
    assert target.complete(req).text == response.text
    assert target.name == "offline-target"


def test_offline_target_without_record_answers_unknown() -> None:
    response = OfflineTarget().complete(request("", "## Question\nWhen?"))
    assert response.text.endswith("<answer>unknown</answer>")


@pytest.mark.parametrize("mode", ["patch", "rewrite_from_suggestions", "full_rewrite_minibatch"])
def test_offline_optimizer_reads_the_whole_skill_and_proposes_the_missing_rule(mode):
    """The stand-in proposes the rule that explains a failure, unless the skill (all of it,
    sections included) already states it; a full rewrite keeps every section."""
    import json as _json

    from skillopt.base.modes import mode_spec
    from skillopt.engine.prompts import build_user_message
    from skillopt.llm.types import ChatRequest
    from skillopt.sim.optimizer import OfflineOptimizer
    from skillopt.sim.rules import RULES_BY_NAME

    dates = RULES_BY_NAME["iso_dates"]
    skill = f"# QA\n\n## Reading\n- Read the record.\n\n## Answering\n{dates.text}\n"
    block = (
        "### Trajectory 1 (id=t1)\nTask: When?\nTask type: date\n"
        "Failure reason: EM=0: predicted 'July 20, 1969' but expected ['1969-07-20']\n"
        "Failure reason: EM=0: predicted 'Curie, Marie' but expected ['Marie Curie']\nSteps: 1\n"
    )

    def ask(text: str) -> dict:
        user = build_user_message(
            skill=text,
            spec=mode_spec(mode),
            kind="failure",
            edit_budget=4,
            trajectories_block=block,
            trajectory_count=1,
        )
        request = ChatRequest(
            model="m",
            messages=({"role": "user", "content": user},),
            max_tokens=100,
            reply_format=f"failure:{mode}",
        )
        return _json.loads(OfflineOptimizer().complete(request).text)["patch"]

    names = RULES_BY_NAME["first_name_first"]
    patch = ask(skill)
    if mode == "full_rewrite_minibatch":
        (candidate,) = patch["skill_candidates"]
        assert candidate["new_skill"].startswith(skill.rstrip())  # every section kept
        proposed = _json.dumps(candidate["change_summary"])
    else:
        proposed = _json.dumps(patch)
    assert names.marker in proposed  # the rule the skill lacks
    assert dates.marker not in proposed  # stated in the skill's last section already
