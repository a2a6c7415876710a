"""`skillopt-train` end to end: the offline simulation, MLflow step metrics, resume, and both
roles over a real local OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillopt.engine.train.schedule import make_schedule
from skillopt.testing import ChatServer, simulation_responder, template_of
from tests.cli_helpers import all_runs, run_reflect

TRAIN_PARAMS = (
    "train.epochs",
    "train.batch_size",
    "train.seed",
    "train.edit_budget",
    "train.min_edit_budget",
    "train.schedule",
    "train.merge_batch_size",
    "reflect.minibatch_size",
    "reflect.update_mode",
    "gate.metric",
    "model.backend",
    "target.backend",
    "env.name",
)
TIMING_METRICS = ("train.wall_s",)


def train(cwd: Path, *overrides: str, out: str = "out", env: dict[str, str] | None = None):
    return run_reflect(cwd, *overrides, out=out, env=env, app="train")


def metric_histories(client, run_id: str, keys) -> dict[str, list[tuple[int, float]]]:
    return {
        k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k))
        for k in keys
        if k not in TIMING_METRICS
    }


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "timing"} for h in history]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One uninterrupted offline run (2 epochs) in a local SQLite store, shared by the tests."""
    cwd = tmp_path_factory.mktemp("train")
    run = train(cwd, "tracking=local")
    assert run.returncode == 0, run.output
    return cwd, run


@pytest.mark.slow
def test_offline_run_improves_with_accepts_and_rejects(tracked):
    _cwd, run = tracked
    summary = run.summary
    history = json.loads((run.out_dir / "history.json").read_text())
    actions = [h["action"] for h in history]
    assert len(history) == summary["total_steps"] == 6  # 24 train tasks / batch 8, 2 epochs
    assert summary["best_selection_score"] > summary["baseline_selection_score"]
    assert summary["test"]["best"]["hard"] > summary["test"]["baseline"]["hard"]
    assert any("accept" in a for a in actions) and "reject" in actions
    # every accepted step's candidate became the skill of that version; a rejected one did not
    for h in history:
        version = (run.out_dir / "skills" / f"skill_v{h['step']:04d}.md").read_text()
        candidate = (
            run.out_dir / "steps" / f"step_{h['step']:04d}" / "candidate_skill.md"
        ).read_text()
        assert (version == candidate) == ("accept" in h["action"]) or h["step"] % 3 == 0
    best = (run.out_dir / "best_skill.md").read_text()
    assert best != (run.out_dir / "skills" / "skill_v0000.md").read_text()
    schedule = make_schedule("cosine", max_budget=4, min_budget=2, total_steps=6)
    assert [h["edit_budget"] for h in history] == [schedule.budget(s) for s in range(1, 7)]
    step_dir = run.out_dir / "steps" / "step_0001"
    for name in (
        "merged_patch.json",
        "ranked.json",
        "candidate_skill.md",
        "edit_apply_report.json",
    ):
        assert (step_dir / name).is_file(), name
    assert list((step_dir / "patches").glob("minibatch_fail_*.json"))
    assert (run.out_dir / "slow_update" / "epoch_02" / "slow_result.json").is_file()


@pytest.mark.slow
def test_offline_run_logs_step_metrics_to_mlflow(tracked):
    import mlflow

    cwd, run = tracked
    uri = f"sqlite:///{cwd / 'mlflow.db'}"
    (mlrun,) = all_runs(uri, "skillopt-train")
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.tags["skillopt.job"] == "train"
    assert set(TRAIN_PARAMS) <= set(mlrun.data.params)
    history = json.loads((run.out_dir / "history.json").read_text())
    client = mlflow.MlflowClient(uri)
    curves = metric_histories(
        client,
        mlrun.info.run_id,
        ["selection.hard", "gate.best", "gate.accepted", "select.edit_budget", "train.hard"],
    )
    assert curves["selection.hard"][0] == (
        0,
        pytest.approx(run.summary["baseline_selection"]["hard"]),
    )
    assert [s for s, _ in curves["gate.accepted"]] == [h["step"] for h in history]
    assert [v for _, v in curves["gate.accepted"]] == [
        1.0 if "accept" in h["action"] else 0.0 for h in history
    ]
    assert [v for _, v in curves["select.edit_budget"]] == [h["edit_budget"] for h in history]
    assert curves["gate.best"][-1][1] == pytest.approx(run.summary["best_selection_score"])
    assert mlrun.data.metrics["best.selection_score"] == pytest.approx(
        run.summary["best_selection_score"]
    )
    assert mlrun.data.metrics["steps.rejected"] == run.summary["rejects"] >= 1
    artifacts = {a.path for a in client.list_artifacts(mlrun.info.run_id)}
    assert {
        "best_skill.md",
        "history.json",
        "summary.json",
        "skills",
        "steps",
        "tables",
    } <= artifacts
    steps = {a.path for a in client.list_artifacts(mlrun.info.run_id, "steps/step_0001")}
    assert "steps/step_0001/merged_patch.json" in steps
    table = json.loads(
        Path(client.download_artifacts(mlrun.info.run_id, "tables/steps.json")).read_text()
    )
    assert [row[table["columns"].index("action")] for row in table["data"]] == [
        h["action"] for h in history
    ]


@pytest.mark.slow
def test_a_stopped_run_resumes_to_the_same_result(tracked, tmp_path):
    import mlflow

    cwd, reference = tracked
    stopped = train(cwd, "tracking=local", "fault.stop_after_step=2", out="resumed")
    assert stopped.returncode != 0
    assert "stopped after step 2" in stopped.output
    state = json.loads((cwd / "resumed" / "state.json").read_text())
    assert state["last_completed_step"] == 2
    run_file = json.loads((cwd / "resumed" / ".skillopt" / "mlflow_run.json").read_text())

    resumed = train(cwd, "tracking=local", out="resumed")
    assert resumed.returncode == 0, resumed.output
    assert "resuming after step 2" in resumed.output
    for name in ("best_skill.md", "final_skill.md"):
        assert (resumed.out_dir / name).read_text() == (reference.out_dir / name).read_text()
    assert without_timing(
        json.loads((resumed.out_dir / "history.json").read_text())
    ) == without_timing(json.loads((reference.out_dir / "history.json").read_text()))

    uri = f"sqlite:///{cwd / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    again = client.get_run(run_file["run_id"])
    assert again.info.status == "FINISHED"
    assert "skillopt.error" not in again.data.tags
    original = next(
        r
        for r in all_runs(uri, "skillopt-train")
        if r.data.tags["skillopt.output_dir"].endswith("/out")
    )
    assert again.data.params == original.data.params
    keys = set(original.data.metrics)
    assert set(again.data.metrics) == keys
    assert metric_histories(client, again.info.run_id, keys) == metric_histories(
        client, original.info.run_id, keys
    )


@pytest.mark.slow
def test_both_roles_over_a_local_openai_compatible_server(tmp_path):
    with ChatServer(simulation_responder()) as server:
        run = train(
            tmp_path,
            "model=openai",
            f"model.base_url={server.base_url}",
            "model.name=sim-optimizer",
            "model.api_key_env=SKILLOPT_TEST_KEY",
            "target=openai",
            f"target.base_url={server.base_url}",
            "target.name=sim-target",
            "target.api_key_env=SKILLOPT_TEST_KEY",
            env={"SKILLOPT_TEST_KEY": "sk-test-not-a-secret"},
        )
        requests = server.requests
    assert run.returncode == 0, run.output
    by_stage: dict[str, int] = {}
    for request in requests:
        template = template_of(request.body)
        stage = "rollout" if template is None else template.split("_")[0]
        by_stage[stage] = by_stage.get(stage, 0) + 1
    models = {r.body["model"] for r in requests if template_of(r.body) is None}
    assert models == {"sim-target"}

    out = run.out_dir
    rollout_rows = sum(len(p.read_text().splitlines()) for p in out.rglob("results.jsonl"))
    analyst_calls = sum(
        sum(1 for e in json.loads(p.read_text())["plan"] if e["status"] in ("ok", "failed"))
        for p in (out / "steps").glob("step_*/summary.json")
    )
    merges = [
        m
        for p in (out / "steps").glob("step_*/merged_patch.json")
        for m in json.loads(p.read_text())["merges"]
        if m["status"] != "passthrough"
    ]
    rankings = [
        r
        for p in (out / "steps").glob("step_*/ranked.json")
        if (r := json.loads(p.read_text()))["status"] in ("ranked", "fallback")
    ]
    target_usage = run.summary["llm"]["target"]
    # identical target requests (same skill, same task) are answered from the call cache
    assert by_stage["rollout"] == rollout_rows - target_usage["cache_hits"] > 0
    assert by_stage["analyst"] == analyst_calls > 0
    assert by_stage["merge"] == len(merges) > 0
    assert by_stage.get("ranking", 0) == len(rankings)
    assert by_stage["slow"] == by_stage["meta"] == 1  # epoch 2 only
    stages = run.summary["llm"]["optimizer"]["stages"]
    assert stages["analyst"]["calls"] == analyst_calls
    assert stages["merge"]["calls"] == len(merges)
    assert target_usage["stages"]["rollout"]["calls"] == by_stage["rollout"]
    assert run.summary["best_selection_score"] > run.summary["baseline_selection_score"]


def test_a_custom_environment_plugs_in_through_target(tmp_path):
    run = train(tmp_path, "env=arithmetic", "train.epochs=1", "env.n_tasks=20")
    assert run.returncode == 0, run.output
    summary = run.summary
    assert summary["env"]["target"] == "skillopt.examples.custom_env.ArithmeticEnvironment"
    assert summary["splits"] == {"train": 8, "selection": 6, "test": 6}
    # the offline target cannot do arithmetic: a real 0.0 baseline stays 0.0, nothing beats it
    assert summary["baseline_selection_score"] == 0.0
    assert summary["best_selection_score"] == 0.0
    assert {h["action"] for h in json.loads((run.out_dir / "history.json").read_text())} == {
        "reject"
    }
    rows = (run.out_dir / "steps" / "step_0001" / "rollout" / "results.jsonl").read_text()
    assert '"id": "arith-' in rows


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("env=qa",), "env.data_path is required but not set"),
        (("train.merge_batch_size=1",), "train.merge_batch_size=1: expected an integer >= 2"),
        (("gate.metric=f2",), "gate.metric"),
        (("train.schedule=step",), "train.schedule"),
        (("env.data_path=/nonexistent/qa.jsonl",), "/nonexistent/qa.jsonl"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_1(tmp_path, overrides, message):
    run = train(tmp_path, *overrides)
    assert run.returncode == 1
    assert message in run.output
    assert "Traceback" not in run.output


@pytest.mark.slow
def test_a_training_run_replays_from_its_recorded_calls(tracked):
    cwd, reference = tracked
    run_id = json.loads((reference.out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]
    replayed = train(
        cwd,
        "tracking=local",
        "tracking.trace_llm_calls=false",
        "model=replay",
        f"model.run_id={run_id}",
        "target=replay",
        f"target.run_id={run_id}",
        out="replayed",
    )
    assert replayed.returncode == 0, replayed.output
    for name in ("best_skill.md", "final_skill.md"):
        assert (replayed.out_dir / name).read_text() == (reference.out_dir / name).read_text()
    assert without_timing(json.loads((replayed.out_dir / "history.json").read_text())) == (
        without_timing(json.loads((reference.out_dir / "history.json").read_text()))
    )
    assert replayed.summary["model"]["name"] == "offline-stand-in"  # the recorded run's model
    assert replayed.summary["target"]["name"] == "offline-target"


def test_resume_refuses_another_initial_skill_or_other_settings(tmp_path):
    from skillopt.base.resources import resource_path

    skill = tmp_path / "skill.md"
    skill.write_text(Path(resource_path("examples/qa_sim/skill.md")).read_text())
    stopped = train(tmp_path, f"env.skill_path={skill}", "fault.stop_after_step=1")
    assert stopped.returncode == 1 and "stopped after step 1" in stopped.output
    original = skill.read_text()
    skill.write_text(original + "- Answer briefly.\n")  # same path, other content
    changed_skill = train(tmp_path, f"env.skill_path={skill}")
    assert changed_skill.returncode == 1
    assert "another initial skill" in changed_skill.output
    skill.write_text(original)
    changed = train(
        tmp_path, f"env.skill_path={skill}", "train.edit_budget=1", "train.min_edit_budget=1"
    )
    assert changed.returncode == 1
    assert "train.edit_budget" in changed.output and "train.min_edit_budget" in changed.output
    resumed = train(tmp_path, f"env.skill_path={skill}")
    assert resumed.returncode == 0, resumed.output
    assert "resuming after step 1" in resumed.output


def test_help_explains_the_job_and_lists_the_groups(tmp_path):
    import subprocess
    import sys

    from tests.cli_helpers import REPO

    proc = subprocess.run(
        [sys.executable, "-m", "skillopt.cli.train", "--help"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("skillopt-train: train a skill document")
    assert "env: arithmetic, qa, qa_sim" in proc.stdout
    assert "target: azure_openai, offline, openai, replay" in proc.stdout
    assert "experiment=optuna_budget" in proc.stdout


@pytest.mark.slow
def test_a_dead_target_endpoint_fails_the_job_with_its_error(tmp_path):
    from skillopt.testing import Reply

    simulate = simulation_responder()

    def target_down(body, index):
        if template_of(body) is None:  # a target request
            return Reply(status=503, error_body={"error": {"message": "target overloaded"}})
        return simulate(body, index)

    with ChatServer(target_down) as server:
        run = train(
            tmp_path,
            "tracking=local",
            "tracking.trace_llm_calls=false",
            "target=openai",
            f"target.base_url={server.base_url}",
            "target.api_key_env=SKILLOPT_TEST_KEY",
            "target.max_retries=0",
            env={"SKILLOPT_TEST_KEY": "sk-test-not-a-secret"},
        )
    assert run.returncode == 1
    assert "all 18 target calls" in run.output and "503" in run.output
    assert "Traceback" not in run.output
    (mlrun,) = all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "skillopt-train")
    assert mlrun.info.status == "FAILED"
    assert "all 18 target calls" in mlrun.data.tags["skillopt.error"]
    # every task was tried once and written with its error, for the next attempt to retry
    rows = (run.out_dir / "selection_eval_baseline" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 18 and all('"agent_ok": false' in r for r in rows)
