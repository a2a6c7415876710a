"""`skillopt-report` with no arguments: it reports the most recent sweep or run in the store,
whichever job made it, and says which it chose.

One store per module, grown as a user would in one folder, with a bare `skillopt-report`
(default store ./mlflow.db, default --out ./report) after each step:
1. a single `skillopt-train` run;
2. a `skillopt-reflect` sweep of two jobs, then a replay of one of its jobs (a replay re-creates
   an earlier run, so it never counts as the most recent);
3. a second single `skillopt-train` run.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from skillopt.cli.report import main
from tests.cli_helpers import all_runs, run_reflect, run_sweep, sweep_parent

TRAIN = ("tracking=local", "train.epochs=1", "tracking.trace_llm_calls=false")


@dataclass(frozen=True)
class Outcome:
    """What a bare `skillopt-report` printed and wrote at one point of the story."""

    code: int
    stdout: str
    stderr: str
    folder: Path

    @property
    def data(self) -> dict:
        return json.loads((self.folder / "report.json").read_text())

    @property
    def markdown(self) -> str:
        return (self.folder / "report.md").read_text()


def bare_report(cwd: Path, keep_as: str) -> Outcome:
    """`skillopt-report` with no arguments, run from `cwd`; the report folder is kept as
    `cwd/keep_as` (the next bare report overwrites ./report)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([])
    folder = cwd / keep_as
    if (cwd / "report").is_dir():
        shutil.copytree(cwd / "report", folder)
    return Outcome(code=code, stdout=out.getvalue(), stderr=err.getvalue(), folder=folder)


def train_run_ids(cwd: Path) -> list[str]:
    """The skillopt-train runs of the store, oldest first."""
    client = mlflow.MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("skillopt-train")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [run.info.run_id for run in runs]


@dataclass(frozen=True)
class Story:
    cwd: Path
    after_train: Outcome
    after_sweep: Outcome
    after_second_train: Outcome


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Story:
    cwd = tmp_path_factory.mktemp("latest")
    first = run_reflect(cwd, *TRAIN, out="train1", app="train")
    assert first.returncode == 0, first.output
    after_train = bare_report(cwd, "after_train")

    sweep = run_sweep(cwd, "tracking=local", "reflect.minibatch_size=4,8")
    assert sweep.returncode == 0, sweep.output
    after_sweep = bare_report(cwd, "after_sweep")
    # Replay job 0 of the sweep with the command the report printed: a newer top-level run.
    replay = after_sweep.data["runs"][0]["reproduce"]["replay"]
    replayed = run_reflect(cwd, *replay[1:], out="replayed")
    assert replayed.returncode == 0, replayed.output
    store = f"sqlite:///{cwd / 'mlflow.db'}"
    (replay_run,) = [r for r in all_runs(store) if "skillopt.replay_of" in r.data.tags]
    assert replay_run.info.start_time > sweep_parent(store).info.start_time
    after_replay = bare_report(cwd, "after_replay")
    assert after_replay.stdout == after_sweep.stdout

    second = run_reflect(cwd, *TRAIN, out="train2", app="train")
    assert second.returncode == 0, second.output
    return Story(
        cwd=cwd,
        after_train=after_train,
        after_sweep=after_replay,
        after_second_train=bare_report(cwd, "after_second_train"),
    )


@pytest.mark.slow
def test_after_one_training_job_it_reports_that_run_and_says_so(story):
    outcome = story.after_train
    assert outcome.code == 0, outcome.stderr
    (first, _) = train_run_ids(story.cwd)
    chose, wrote = outcome.stdout.splitlines()
    assert chose == (
        f"report: chose the most recent run {first} (experiment skillopt-train, a train run)"
    )
    assert wrote.startswith("report: report/report.html (+ report.md, report.json, plots/)")
    assert wrote.endswith(f"for 1 run of run {first}")
    data = outcome.data
    assert data["source"]["kind"] == "runs" and data["source"]["experiment"] == "skillopt-train"
    assert data["runs"] == []
    assert [r["run_id"] for r in data["training"]["runs"]] == [first]
    assert outcome.markdown.startswith(f"# skillopt report: run {first}\n")
    assert "The most recent run in the store, from experiment skillopt-train;" in outcome.markdown


@pytest.mark.slow
def test_a_sweep_after_a_training_run_is_chosen_over_it(story):
    outcome = story.after_sweep
    assert outcome.code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert (
        lines[0]
        == "report: chose the most recent sweep sweep (experiment skillopt-reflect, 2 runs)"
    )
    parent = sweep_parent(f"sqlite:///{story.cwd / 'mlflow.db'}")
    assert lines[-1] == f"logged to the sweep's parent run {parent.info.run_id} under report/"
    data = outcome.data
    assert data["source"]["kind"] == "sweep" and data["source"]["sweep_id"] == "sweep"
    assert data["source"]["parent_run_id"] == parent.info.run_id
    assert [r["job_num"] for r in data["runs"]] == [0, 1]
    assert "training" not in data  # the earlier training run is not part of it


@pytest.mark.slow
def test_a_training_run_after_a_sweep_is_chosen_over_it(story):
    outcome = story.after_second_train
    assert outcome.code == 0, outcome.stderr
    first, second = train_run_ids(story.cwd)
    assert outcome.stdout.splitlines()[0] == (
        f"report: chose the most recent run {second} (experiment skillopt-train, a train run)"
    )
    data = outcome.data
    assert data["runs"] == [] and data["source"]["kind"] == "runs"
    assert [r["run_id"] for r in data["training"]["runs"]] == [second] != [first]


def test_a_store_without_skillopt_runs_is_a_one_line_error(tmp_path, capsys):
    mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_experiments()  # empty store
    capsys.readouterr()  # MLflow's own lines about creating the store
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main([]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("skillopt-report: error: no skillopt runs in sqlite:///")
    assert "'skillopt-reflect' or 'skillopt-train'" in line
    assert not (tmp_path / "report").exists()
