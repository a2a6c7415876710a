"""skillopt as an optimizer for `mlflow.genai.optimize_prompts`, against a real SQLite store and
MLflow's real evaluation: the final held-out score beats the initial one, the result is a new
registered version stored byte for byte, the optimizer's calls go through skillopt's client (the
local OpenAI-compatible server sees them, with the key from the environment; a second run into
the same work_dir is answered from the call cache; a budget of no calls makes none), candidates
that drop a template variable are never scored, eval_fn is called from one thread, and bad
values and inputs are refused with one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import openai
import pytest
from mlflow.entities import Feedback
from mlflow.exceptions import MlflowException
from mlflow.genai.optimize.types import EvaluationResultRecord
from mlflow.genai.scorers import scorer

from skillopt.base.checks import SettingError
from skillopt.base.errors import ConfigError
from skillopt.base.resources import resource_path
from skillopt.envs import extract_answer, normalize_answer
from skillopt.mlflow import SkillOptPromptOptimizer
from skillopt.sim import DATASET_RESOURCE, format_answer
from skillopt.testing import ChatServer, Reply, simulation_responder, template_of
from tests.conftest import REPO

KEY_ENV = "SKILLOPT_OPTIMIZE_TEST_KEY"
SECRET = "sk-optimize-test-5b1e9c07"
# Markdown with MLflow template syntax, CRLF line ends, non-ASCII text and no final newline: the
# optimized prompt must keep all of it byte for byte.
TEMPLATE = (
    "# Answering from a record\r\n\r\n"
    "Answer {{ question }} with the value of the record line; "
    "{% if strict %}never guess{% endif %}.\n"
    "- Température, prix: keep the record's wording — nothing else."
)


def records(n: int) -> list[dict[str, Any]]:
    """The first `n` tasks of the bundled simulation as optimize_prompts train records."""
    path = resource_path(DATASET_RESOURCE)
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()][:n]
    return [
        {
            "inputs": {"question": row["question"], "context": row["context"]},
            "expectations": {"expected_response": row["answers"][0]},
        }
        for row in rows
    ]


def grade(outputs: str, expected: str) -> Feedback:
    """Exact match; a miss says what was predicted and expected, in the simulation's words."""
    if normalize_answer(outputs) == normalize_answer(expected):
        return Feedback(value=1.0)
    return Feedback(value=0.0, rationale=f"EM=0: predicted '{outputs}' but expected {[expected]!r}")


@scorer
def exact_match(outputs: str, expectations: dict[str, Any]) -> Feedback:
    return grade(outputs, expectations["expected_response"])


def record_value(context: str) -> str:
    return context.rsplit("Record:", 1)[1].strip()


def accuracy(prompt_text: str, data: list[dict[str, Any]]) -> float:
    """The share of `data` the simulation's target answers right with `prompt_text`: an
    independent measure of a returned prompt."""
    right = [
        grade(
            format_answer(record_value(r["inputs"]["context"]), prompt_text),
            r["expectations"]["expected_response"],
        ).value
        for r in data
    ]
    return sum(right) / len(right)


@contextmanager
def store_at(folder: Path, patch: pytest.MonkeyPatch) -> Iterator[str]:
    """The SQLite store in `folder` as MLflow's tracking store and Prompt Registry, until the
    block ends (the environment variable MLflow sets is restored by `patch`)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite store for this test."""
    with store_at(tmp_path, monkeypatch) as uri:
        yield uri


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


def optimizer_requests(server: ChatServer) -> list[Any]:
    """The requests the server got from skillopt's optimizer (its system message is one of
    skillopt's templates); the others are predict_fn's."""
    return [r for r in server.requests if template_of(r.body) is not None]


def served_predict_fn(server: ChatServer, prompt: Any, seen: set[str]):
    """predict_fn of a real application: the prompt, formatted, as the system message of a chat
    call to the server (answered by the simulation's target); it records each text it was given."""
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-target-app", max_retries=0)

    def predict_fn(question: str, context: str) -> str:
        seen.add(prompt.template)
        reply = client.chat.completions.create(
            model="sim-target",
            messages=[
                {"role": "system", "content": prompt.format(question=question)},
                {"role": "user", "content": f"{question}\n\n{context}"},
            ],
        )
        return extract_answer(reply.choices[0].message.content or "")

    return predict_fn


def optimize_through(
    server: ChatServer, prompt: Any, seen: set[str], data: list[dict[str, Any]], **settings: Any
) -> Any:
    """optimize_prompts with the optimizer and predict_fn's model both on the local server."""
    return mlflow.genai.optimize_prompts(
        predict_fn=served_predict_fn(server, prompt, seen),
        train_data=data,
        prompt_uris=[prompt.uri],
        optimizer=SkillOptPromptOptimizer(
            model="sim-optimizer", base_url=server.base_url, api_key_env=KEY_ENV, **settings
        ),
        scorers=[exact_match],
    )


# ------------------------------------------------------------------ through the local server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two optimize_prompts runs of one registered prompt through the local server, into one
    work_dir: the optimizer and predict_fn's model both answer there."""
    root = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as patch, store_at(root, patch):
        patch.setenv(KEY_ENV, SECRET)
        with ChatServer(simulation_responder()) as server:
            prompt = mlflow.genai.register_prompt(name="qa-served", template=TEMPLATE)
            seen: set[str] = set()
            runs = []
            for _ in range(2):
                before = len(optimizer_requests(server))
                result = optimize_through(
                    server, prompt, seen, records(20), batch_size=7, work_dir=root / "work"
                )
                runs.append((result, len(optimizer_requests(server)) - before))
            yield {
                "root": root,
                "runs": runs,
                "seen": seen,
                "requests": optimizer_requests(server),
            }


@pytest.mark.slow
def test_optimize_prompts_through_the_local_server_beats_the_initial_score(served):
    result, optimizer_calls = served["runs"][0]
    assert optimizer_calls > 0
    assert result.optimizer_name == "SkillOptPromptOptimizer"
    assert result.initial_eval_score is not None and result.final_eval_score is not None
    assert result.final_eval_score > result.initial_eval_score
    assert result.final_eval_score_per_scorer["exact_match"] == result.final_eval_score
    (version,) = result.optimized_prompts
    assert (version.name, int(version.version)) == ("qa-served", 2)
    text = version.template
    assert text != TEMPLATE
    assert text in served["seen"]  # the registered text is one predict_fn was scored with
    # stored byte for byte: the version read back is the text, template syntax and CRLF included
    assert mlflow.genai.load_prompt("prompts:/qa-served/2").template == text
    assert mlflow.genai.load_prompt("prompts:/qa-served/1").template == TEMPLATE
    assert "{{ question }}" in text and "{% if strict %}" in text
    assert "\r\n" in text and "Température" in text


@pytest.mark.slow
def test_the_optimizer_calls_carry_the_key_from_the_environment(served):
    assert served["requests"]
    for request in served["requests"]:
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert request.body["model"] == "sim-optimizer"


@pytest.mark.slow
def test_the_run_logs_scores_and_the_run_folder_and_no_secret(served, tmp_path, monkeypatch):
    with store_at(served["root"], monkeypatch):
        check_logged_run(served, tmp_path)


def check_logged_run(served: dict[str, Any], tmp_path: Path) -> None:
    client = mlflow.MlflowClient()
    runs = client.search_runs(["0"], order_by=["attributes.start_time ASC"])
    assert len(runs) == 2
    run = runs[0]
    assert run.data.params["optimizer"] == "SkillOptPromptOptimizer"
    history = client.get_metric_history(run.info.run_id, "best_eval_score")
    assert history[0].step == 0 and history[-1].value > history[0].value
    assert client.get_metric_history(run.info.run_id, "eval_score")
    assert run.data.metrics["skillopt.llm.calls"] == served["runs"][0][1]
    local = Path(client.download_artifacts(run.info.run_id, "skillopt", str(tmp_path)))
    assert {"settings.json", "summary.json", "history.json", "best_skill.md"} <= {
        p.name for p in local.iterdir()
    }
    assert json.loads((local / "settings.json").read_text())["api_key_env"] == KEY_ENV
    # the key is in no param, tag, metric, artifact, trace or file of the work_dir
    logged = json.dumps([run.data.params, run.data.tags, list(run.data.metrics)])
    assert SECRET not in logged
    for folder in (local, served["root"] / "work"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    traces = mlflow.search_traces(locations=["0"], return_type="list")
    assert traces
    assert all(SECRET not in trace.to_json() for trace in traces)


@pytest.mark.slow
def test_a_second_run_into_the_same_work_dir_pays_no_optimizer_call(served):
    (first, _), (second, second_calls) = served["runs"]
    assert second_calls == 0
    (version,) = second.optimized_prompts
    assert int(version.version) == 3
    assert version.template == first.optimized_prompts[0].template
    assert second.final_eval_score == first.final_eval_score
    assert len(list((served["root"] / "work" / "runs").iterdir())) == 2


def test_a_budget_of_no_calls_returns_the_prompt_byte_for_byte(store, key):
    with ChatServer(simulation_responder()) as server:
        prompt = mlflow.genai.register_prompt(name="qa-budget", template=TEMPLATE)
        result = optimize_through(server, prompt, set(), records(10), epochs=1, max_calls=0)
        assert optimizer_requests(server) == []
    (version,) = result.optimized_prompts
    assert int(version.version) == 2
    assert version.template == TEMPLATE
    assert mlflow.genai.load_prompt(version.uri).template == TEMPLATE
    assert result.final_eval_score == result.initial_eval_score


DROP_QUESTION = {
    "batch_size": 1,
    "failure_summary": [{"failure_type": "format", "count": 1, "description": "wrong form"}],
    "patch": {
        "reasoning": "the question is in the user turn already",
        "edits": [
            {
                "op": "replace",
                "target": "Answer {{ question }} with the value",
                "content": "Answer with the value",
            }
        ],
    },
}


def test_a_candidate_that_drops_a_template_variable_is_never_scored(store, key, tmp_path):
    simulation = simulation_responder()

    def respond(body: dict[str, Any], index: int) -> Reply:
        if (template_of(body) or "").startswith("analyst_error"):
            return Reply(content=json.dumps(DROP_QUESTION))
        return simulation(body, index)

    seen: set[str] = set()
    with ChatServer(respond) as server:
        prompt = mlflow.genai.register_prompt(name="qa-variables", template=TEMPLATE)
        result = optimize_through(
            server, prompt, seen, records(10), epochs=1, batch_size=7, work_dir=tmp_path / "work"
        )
    assert seen and all("{{ question }}" in text for text in seen)
    (history,) = (tmp_path / "work" / "runs").glob("*/history.json")
    actions = [step["action"] for step in json.loads(history.read_text())]
    assert "skip_template_variables" in actions
    assert result.optimized_prompts[0].template == TEMPLATE


# --------------------------------------------------------------------------------- offline


def test_offline_run_beats_the_initial_prompt_and_registers_a_new_version(store):
    prompt = mlflow.genai.register_prompt(name="qa-offline", template=TEMPLATE)
    seen: set[str] = set()

    def predict_fn(question: str, context: str) -> str:
        seen.add(prompt.template)
        return format_answer(record_value(context), prompt.template)

    result = mlflow.genai.optimize_prompts(
        predict_fn=predict_fn,
        train_data=records(16),
        prompt_uris=[prompt.uri],
        optimizer=SkillOptPromptOptimizer(model="offline", epochs=1),
        scorers=[exact_match],
    )
    assert result.final_eval_score > result.initial_eval_score
    assert result.initial_eval_score_per_scorer == {"exact_match": result.initial_eval_score}
    (version,) = result.optimized_prompts
    assert int(version.version) == 2
    assert version.template in seen
    assert accuracy(version.template, records(16)) > accuracy(TEMPLATE, records(16))
    assert mlflow.genai.load_prompt(version.uri).template == version.template
    assert version.template.startswith("# Answering from a record\r\n")


def test_eval_fn_is_called_from_the_optimizing_thread_one_call_at_a_time():
    """An eval_fn written to MLflow's contract, which records how it is called."""
    caller = threading.get_ident()
    calls: list[tuple[int, dict[str, str], bool]] = []
    running = threading.Lock()

    def eval_fn(candidates: dict[str, str], dataset: list[dict[str, Any]]):
        overlapping = not running.acquire(blocking=False)
        try:
            calls.append((threading.get_ident(), dict(candidates), overlapping))
            results = []
            for record in dataset:
                outputs = format_answer(record_value(record["inputs"]["context"]), candidates["qa"])
                feedback = grade(outputs, record["expectations"]["expected_response"])
                rationale = feedback.rationale
                results.append(
                    EvaluationResultRecord(
                        inputs=record["inputs"],
                        outputs=outputs,
                        expectations=record["expectations"],
                        score=feedback.value,
                        trace=None,
                        rationales={"exact_match": rationale} if rationale else {},
                        individual_scores={"exact_match": feedback.value},
                    )
                )
            return results
        finally:
            if not overlapping:
                running.release()

    output = SkillOptPromptOptimizer(model="offline", epochs=1).optimize(
        eval_fn, records(16), {"qa": TEMPLATE}, enable_tracking=False
    )
    assert len(calls) > 2
    assert {thread for thread, _, _ in calls} == {caller}
    assert not any(overlapping for _, _, overlapping in calls)
    assert all(list(candidates) == ["qa"] for _, candidates, _ in calls)
    assert calls[0][1]["qa"] is TEMPLATE  # the baseline is scored on the prompt as given
    assert output.final_eval_score > output.initial_eval_score
    assert accuracy(output.optimized_prompts["qa"], records(16)) > accuracy(TEMPLATE, records(16))


def test_a_missing_key_fails_before_anything_is_evaluated(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    calls = []

    def eval_fn(candidates: dict[str, str], dataset: list[dict[str, Any]]):
        calls.append(candidates)
        return []

    optimizer = SkillOptPromptOptimizer(
        model="m", base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV
    )
    with pytest.raises(ConfigError, match=f"environment variable {KEY_ENV} is not set"):
        optimizer.optimize(eval_fn, records(4), {"qa": TEMPLATE}, enable_tracking=False)
    assert calls == []


# ------------------------------------------------------------------------ refusals, settings


def test_refuses_several_prompts_a_chat_prompt_no_scores_and_too_few_records(store):
    text = mlflow.genai.register_prompt(name="qa-text", template=TEMPLATE)
    other = mlflow.genai.register_prompt(name="qa-other", template="Be brief.")
    chat = mlflow.genai.register_prompt(
        name="qa-chat", template=[{"role": "system", "content": "Answer {{ question }}."}]
    )

    def predict_fn(question: str, context: str) -> str:
        return format_answer(record_value(context), f"{text.template}{other.template}")

    cases = [
        ([text.uri, other.uri], records(6), [exact_match], "optimizes one prompt per run, got 2"),
        ([chat.uri], records(6), [exact_match], "'qa-chat' is a chat prompt"),
        ([text.uri], records(6), None, "has no score: .* pass scorers"),
        ([text.uri], records(1), [exact_match], "leave 1 to learn from and 0 to gate on"),
    ]
    for uris, data, scorers, message in cases:
        with pytest.raises(MlflowException, match=message):
            mlflow.genai.optimize_prompts(
                predict_fn=predict_fn,
                train_data=data,
                prompt_uris=uris,
                optimizer=SkillOptPromptOptimizer(model="offline"),
                scorers=scorers,
            )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"model": ""}, "model=: expected a non-empty string"),
        ({"epochs": 0}, "epochs=0: expected an integer >= 1"),
        ({"minibatch_size": True}, "minibatch_size=true: expected an integer >= 1"),
        ({"edit_budget": 2.5}, "edit_budget=2.5: expected an integer >= 0"),
        ({"update_mode": "sideways"}, "update_mode=sideways: expected one of patch, "),
        ({"holdout": 1.0}, "holdout=1.0: expected a number > 0 and < 1"),
        ({"holdout": 0}, "holdout=0: expected a number > 0 and < 1"),
        ({"pass_score": float("nan")}, "pass_score=nan: expected a number"),
        ({"max_calls": -1}, "max_calls=-1: expected an integer >= 0 (or null)"),
        ({"max_cost_usd": -0.5}, "max_cost_usd=-0.5: expected a number >= 0 (or null)"),
        ({"input_per_mtok": "free"}, "input_per_mtok=free: expected a number >= 0"),
        ({"use_slow_update": "yes"}, "use_slow_update=yes: expected true or false"),
        ({"base_url": "http://127.0.0.1:9/v1"}, "base_url=http://127.0.0.1:9/v1: expected null"),
        ({"work_dir": " "}, "work_dir= : expected a folder path (or null)"),
    ],
)
def test_a_bad_setting_is_a_one_line_setting_error(values, message):
    with pytest.raises(SettingError) as raised:
        SkillOptPromptOptimizer(**{"model": "offline", **values})
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_settings_are_keyword_only():
    with pytest.raises(TypeError):
        SkillOptPromptOptimizer("offline")  # type: ignore[misc]
    assert SkillOptPromptOptimizer(model="offline", update_mode="rewrite").update_mode == (
        "rewrite_from_suggestions"
    )


# -------------------------------------------------------------------------------- README


def readme_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Optimize an MLflow prompt", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.slow
def test_the_readme_example_runs_as_shown(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = re.search(r"held-out score (\d\.\d+) -> (\d\.\d+)", done.stdout)
    assert scores is not None, done.stdout
    assert float(scores.group(2)) > float(scores.group(1))
    assert "prompts:/qa-format/2" in done.stdout
    assert (tmp_path / "mlflow.db").is_file()
