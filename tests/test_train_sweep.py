"""Sweeps of training jobs: a grid on the basic launcher, and the shipped Optuna search overlay."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli_helpers import all_runs, run_sweep, split_runs, sweep_parent


@pytest.mark.slow
def test_optuna_overlay_searches_and_maximises_the_best_selection_score(tmp_path):
    run = run_sweep(
        tmp_path,
        "experiment=optuna_budget",
        "hydra.sweeper.n_trials=3",
        "train.epochs=1",
        "train.use_slow_update=false",
        app="train",
    )
    assert run.returncode == 0, run.output
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = sweep_parent(uri, "sweep", "skillopt-train")
    _parents, children = split_runs(all_runs(uri, "skillopt-train"))
    assert len(children) == 3
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert all(c.info.status == "FINISHED" for c in children)
    searched = ("train.edit_budget", "reflect.minibatch_size", "train.schedule")
    assert all(set(searched) <= set(c.data.params) for c in children)

    found = yaml.safe_load((run.out_dir / "optimization_results.yaml").read_text())
    scores = {
        tuple(c.data.params[k] for k in searched): c.data.metrics["best.selection_score"]
        for c in children
    }
    # the study maximised what each job returned: its best selection score
    assert found["best_value"] == pytest.approx(max(scores.values()))
    best = tuple(str(found["best_params"][k]) for k in searched)
    assert scores[best] == pytest.approx(found["best_value"])
    assert parent.data.metrics["sweep.best_value"] == pytest.approx(found["best_value"])
    assert json.loads(parent.data.tags["skillopt.best_params"]) == found["best_params"]


@pytest.mark.slow
def test_grid_sweep_of_training_jobs_is_one_parent_with_children(tmp_path):
    run = run_sweep(
        tmp_path,
        "train.edit_budget=1,4",
        "train.min_edit_budget=1",
        "train.epochs=1",
        "train.use_slow_update=false",
        "tracking.trace_llm_calls=false",
        app="train",
    )
    assert run.returncode == 0, run.output
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = sweep_parent(uri, "sweep", "skillopt-train")
    _parents, children = split_runs(all_runs(uri, "skillopt-train"))
    assert sorted(c.data.params["train.edit_budget"] for c in children) == ["1", "4"]
    assert parent.data.metrics["sweep.jobs"] == 2
    for child in children:
        summary = json.loads(
            (run.out_dir / child.data.tags["skillopt.job_num"] / "summary.json").read_text()
        )
        assert child.data.metrics["best.selection_score"] == pytest.approx(
            summary["best_selection_score"]
        )
