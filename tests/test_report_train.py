"""`skillopt-report` on training runs: a real SQLite store holding a training sweep (and one
reflect run), logged through `MlflowClient` as the skillopt-train contract says, reported
through the CLI's entry point and checked against what was logged.

The sweep (one store per module; creating it costs a few seconds):
- job 0, `train.edit_budget=2`: accepts and rejects, one skipped step, finished;
- job 1, `train.edit_budget=4`: rejects first, then a new best, finished;
- job 2, `train.edit_budget=8`, gate disabled: force accepts only, FAILED before logging any
  final metric (its table values come from its step history).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric, Param, RunTag

from skillopt.cli.report import main

EXPERIMENT = "skillopt-train"
SWEEP = "multirun/train/sweep"
GENERATED = re.compile(r"Generated at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TAB_GREEN = (0x2C / 255, 0xA0 / 255, 0x2C / 255)
TAB_RED = (0xD6 / 255, 0x27 / 255, 0x28 / 255)
T0 = 1_760_000_000_000
# The step metrics of the skillopt-train contract, spelled out here (not imported from skillopt)
# so that a metric dropped from the report's list fails the tests.
STEP_METRICS = (
    "selection.hard",
    "selection.soft",
    "gate.score",
    "gate.current",
    "gate.best",
    "gate.accepted",
    "train.hard",
    "train.soft",
    "select.edit_budget",
    "update.edits_applied",
    "llm.cost_usd",
)


@dataclass(frozen=True)
class Spec:
    """One training job to log: `candidates` holds each step's candidate selection-hard score
    (None = a skipped step); the gate metric is `hard`, so the gate score is that score."""

    job: int
    edit_budget: int
    baseline: float
    candidates: tuple[float | None, ...]
    gate: bool = True
    finished: bool = True


SPECS = (
    Spec(job=0, edit_budget=2, baseline=0.5, candidates=(0.6, 0.55, None, 0.7, 0.65)),
    Spec(job=1, edit_budget=4, baseline=0.4, candidates=(0.35, 0.4, 0.75)),
    Spec(
        job=2, edit_budget=8, baseline=0.5, candidates=(0.45, 0.6, 0.55), gate=False, finished=False
    ),
)


@dataclass(frozen=True)
class Step:
    step: int
    action: str
    hard: float | None
    current: float
    best: float


def simulate(spec: Spec) -> list[Step]:
    """The gate decisions SkillOpt makes for `spec` (strict >, force accept when the gate is
    off), with the state after each step."""
    current = best = spec.baseline
    steps = [Step(0, "baseline", spec.baseline, current, best)]
    for number, score in enumerate(spec.candidates, 1):
        if score is None:
            steps.append(Step(number, "skip", None, current, best))
            continue
        if spec.gate and score <= current:
            steps.append(Step(number, "reject", score, current, best))
            continue
        new_best = score > best
        current = score
        best = max(best, score)
        action = ("accept" if spec.gate else "force accept") + (" (new best)" if new_best else "")
        steps.append(Step(number, action, score, current, best))
    return steps


def log_job(client: mlflow.MlflowClient, experiment_id: str, parent_id: str, spec: Spec) -> str:
    """One training job of the sweep, logged as skillopt-train logs it; returns its run id."""
    overrides = [f"train.edit_budget={spec.edit_budget}"] + (
        [] if spec.gate else ["gate.enabled=false"]
    )
    run = client.create_run(
        experiment_id,
        start_time=T0 + spec.job,
        run_name=f"train-job{spec.job}",
        tags={
            "mlflow.parentRunId": parent_id,
            "skillopt.sweep_id": SWEEP,
            "skillopt.job_num": str(spec.job),
            "skillopt.job": "train",
            "skillopt.overrides": json.dumps(overrides),
            "skillopt.git_commit": "abc1234",
        },
    )
    run_id = run.info.run_id
    params = {
        "train.epochs": "1",
        "train.batch_size": "4",
        "train.edit_budget": str(spec.edit_budget),
        "train.schedule": "constant",
        "train.seed": "7",
        "reflect.update_mode": "patch",
        "gate.metric": "hard",
        "gate.enabled": str(spec.gate).lower(),
        "model.backend": "offline",
        "env.name": "qa",
    }
    metrics = []
    cost = 0.0
    ts = T0 + 1000 * spec.job
    for step in simulate(spec):
        ts += 10
        cost += 0.01
        values = {"train.hard": 0.25, "train.soft": 0.5, "llm.cost_usd": round(cost, 4)}
        if step.action != "skip":
            values |= {
                "selection.hard": step.hard,
                "selection.soft": step.hard + 0.1,
                "gate.score": step.hard,
                "gate.current": step.current,
                "gate.best": step.best,
            }
        if step.step > 0 and step.action != "skip":
            values |= {
                "gate.accepted": 0.0 if step.action == "reject" else 1.0,
                "select.edit_budget": float(spec.edit_budget),
                "update.edits_applied": float(spec.edit_budget - 1),
            }
        metrics += [Metric(k, float(v), ts, step.step) for k, v in values.items()]
    steps = simulate(spec)
    if spec.finished:
        last = steps[-1]
        accepted = sum("accept" in s.action for s in steps)
        final = {
            "baseline.selection_score": spec.baseline,
            "best.selection_score": last.best,
            "final.selection_score": last.current,
            "test.baseline_hard": spec.baseline - 0.1,
            "test.best_hard": last.best - 0.05,
            "test.final_hard": last.current - 0.05,
            "test.delta_hard": round(last.best - spec.baseline + 0.05, 6),
            "steps.total": float(len(steps) - 1),
            "steps.accepted": float(accepted),
            "steps.rejected": float(sum(s.action == "reject" for s in steps)),
            "steps.skipped": float(sum(s.action == "skip" for s in steps)),
            "llm.calls": 10.0 * len(steps),
            "llm.prompt_tokens": 1000.0 * len(steps),
            "llm.completion_tokens": 100.0 * len(steps) + spec.job,
            "train.wall_s": 12.5 + spec.job,
        }
        metrics += [Metric(k, float(v), ts + 5, last.step) for k, v in final.items()]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag("skillopt.command", f"skillopt-train {' '.join(overrides)}")],
    )
    client.set_terminated(run_id, "FINISHED" if spec.finished else "FAILED", end_time=ts + 9)
    return run_id


@dataclass(frozen=True)
class Store:
    uri: str
    root: Path
    parent_id: str
    run_ids: tuple[str, ...]  # by job number
    reflect_id: str


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("train-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(root / "mlruns").as_uri()
    )
    parent = client.create_run(
        experiment_id,
        start_time=T0,
        run_name="sweep",
        tags={"skillopt.sweep_id": SWEEP, "skillopt.job": "train"},
    )
    run_ids = tuple(log_job(client, experiment_id, parent.info.run_id, spec) for spec in SPECS)
    client.set_terminated(parent.info.run_id, "FINISHED")
    # An older reflect run (no skillopt.job tag) for the mixed report.
    reflect_exp = client.create_experiment(
        "skillopt-reflect", artifact_location=(root / "mlruns-reflect").as_uri()
    )
    reflect = client.create_run(reflect_exp, start_time=T0, run_name="reflect-run")
    client.log_batch(
        reflect.info.run_id,
        metrics=[
            Metric(k, v, T0, 0)
            for k, v in {"payload.items": 6.0, "llm.prompt_tokens": 500.0}.items()
        ],
        params=[Param("reflect.minibatch_size", "4")],
    )
    client.set_terminated(reflect.info.run_id, "FINISHED")
    return Store(
        uri=uri,
        root=root,
        parent_id=parent.info.run_id,
        run_ids=run_ids,
        reflect_id=reflect.info.run_id,
    )


def report(store: Store, out: Path, *args: str) -> int:
    """`skillopt-report --tracking-uri <store> --out <out> <args>`, as the console script."""
    return main(["--tracking-uri", store.uri, "--out", str(out), *args])


@pytest.fixture(scope="module")
def sweep_report(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train-report") / "report"
    assert report(store, out, "--experiment", EXPERIMENT, "--sweep", SWEEP) == 0
    return out


def md_table(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the table right under `## <heading>` (header row first)."""
    lines = markdown.split(f"## {heading}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [
        [c.strip() for c in line.strip("|").split(" | ")] for i, line in enumerate(lines) if i != 1
    ]


def run_block(markdown: str, run_id: str) -> str:
    """The markdown of one training run's section."""
    details = markdown.split("## Training runs in detail\n", 1)[1]
    sections = details.split("\n### ")
    (block,) = [s for s in sections if f"Run `{run_id}`" in s]
    return block


def without_timestamp(path: Path) -> bytes:
    text = path.read_text(encoding="utf-8")
    assert len(GENERATED.findall(text)) == (0 if path.suffix == ".json" else 1), path
    return GENERATED.sub("Generated at: <removed>", text).encode("utf-8")


def near(image: np.ndarray, color: tuple[float, float, float], tol: float = 0.06) -> int:
    """How many pixels of `image` are within `tol` of `color` in every channel."""
    rgb = image[..., :3]
    return int(np.all(np.abs(rgb - np.array(color)) < tol, axis=-1).sum())


# -- the training runs table -----------------------------------------------------------------


def test_table_has_each_runs_baseline_best_and_step_counts(store, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    assert data["runs"] == [] and data["table"]["rows"] == []  # no reflect runs here
    table = data["training"]["table"]
    assert [c["key"] for c in table["columns"]] == [
        "job",
        "params.gate.enabled",
        "params.train.edit_budget",
        "status",
        "baseline.selection_score",
        "best.selection_score",
        "test.delta_hard",
        "steps.accepted",
        "steps.rejected",
        "steps.skipped",
        "tokens",
        "llm.cost_usd",
        "train.wall_s",
        "run_id",
    ]
    client = mlflow.MlflowClient(store.uri)
    rows = table["rows"]
    assert [r["run_id"] for r in rows] == list(store.run_ids)
    for row, spec in zip(rows, SPECS, strict=True):
        steps = simulate(spec)
        logged = client.get_run(row["run_id"]).data.metrics
        assert row["params.train.edit_budget"] == str(spec.edit_budget)
        assert row["baseline.selection_score"] == spec.baseline
        assert row["best.selection_score"] == max(s.best for s in steps)
        assert row["steps.accepted"] == sum("accept" in s.action for s in steps)
        assert row["steps.rejected"] == sum(s.action == "reject" for s in steps)
        assert row["steps.skipped"] == sum(s.action == "skip" for s in steps)
        if spec.finished:
            assert row["status"] == "FINISHED"
            assert row["best.selection_score"] == logged["best.selection_score"]
            assert row["test.delta_hard"] == logged["test.delta_hard"]
            assert row["tokens"] == logged["llm.prompt_tokens"] + logged["llm.completion_tokens"]
            assert row["train.wall_s"] == logged["train.wall_s"]
        else:  # read from the history, and said so
            assert row["status"] == "FAILED" and "best.selection_score" not in logged
            assert row["test.delta_hard"] is None and row["tokens"] is None
        assert row["llm.cost_usd"] == logged["llm.cost_usd"]
    (note,) = table["notes"]
    label = f"#2 {store.run_ids[2][:8]}"
    assert note.startswith(f"Run {label} ended FAILED; baseline.selection_score, ")
    assert "read from its step history" in note and "did not log llm.completion_tokens" in note
    # The same rows in report.md, formatted.
    markdown = (sweep_report / "report.md").read_text()
    header, *body = md_table(markdown, "Training runs")
    assert header[:3] == ["job", "gate.enabled", "train.edit_budget"]
    for line, row in zip(body, rows, strict=True):
        assert line[-1] == f"`{row['run_id']}`"
        assert line[header.index("baseline selection")] == f"{row['baseline.selection_score']:g}"
        assert line[header.index("best selection")] == f"{row['best.selection_score']:g}"
        assert line[header.index("accepted")] == str(int(row["steps.accepted"]))
    assert body[2][header.index("test Δ hard")] == "—"
    assert "## Runs\n" not in markdown and "## Reflect" not in markdown
    assert "All of them are training runs (skillopt-train)." in markdown
    html = (sweep_report / "report.html").read_text()
    assert '<table class="sortable" id="train-runs-table">' in html
    assert html.count('<tr data-run-id="') == 3


# -- plots -----------------------------------------------------------------------------------


def test_each_run_has_a_score_curve_with_accepts_and_rejects_marked(store, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    plots = sorted(p.name for p in (sweep_report / "plots").iterdir())
    curves = [f"train_curve_{run_id}.png" for run_id in store.run_ids]
    assert plots == sorted([*curves, "train_gate_best.png"])
    html = (sweep_report / "report.html").read_text()
    markdown = (sweep_report / "report.md").read_text()
    for run, name in zip(data["training"]["runs"], curves, strict=True):
        assert run["curve"] == f"plots/{name}"
        path = sweep_report / "plots" / name
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
        assert image.std() > 0.01  # not a blank canvas
        assert f"](plots/{name})" in run_block(markdown, run["run_id"])
        assert "data:image/png;base64," in html.split(f'id="run-{run["run_id"]}"', 1)[1]
    # Accepts are green triangles, rejects red crosses: job 0 has both, job 2 (gate off)
    # never rejects.
    job0 = matplotlib.image.imread(sweep_report / "plots" / curves[0])
    job2 = matplotlib.image.imread(sweep_report / "plots" / curves[2])
    assert near(job0, TAB_GREEN) > 30 and near(job0, TAB_RED) > 5
    assert near(job2, TAB_GREEN) > 30 and near(job2, TAB_RED) == 0
    overlay = matplotlib.image.imread(sweep_report / "plots" / "train_gate_best.png")
    assert overlay.std() > 0.01
    assert "![Best gate score against step, one line per training run]" in markdown
    assert html.count("<img ") == 4


# -- per-run steps and histories -------------------------------------------------------------


def test_step_lists_show_each_steps_action_and_scores(store, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    markdown = (sweep_report / "report.md").read_text()
    html = (sweep_report / "report.html").read_text()
    for run, spec in zip(data["training"]["runs"], SPECS, strict=True):
        expected = simulate(spec)
        assert [s["step"] for s in run["steps"]] == [s.step for s in expected]
        assert [s["action"] for s in run["steps"]] == [s.action for s in expected]
        for row, step in zip(run["steps"], expected, strict=True):
            assert row["selection_hard"] == step.hard
            assert row["gate_best"] == (None if step.action == "skip" else step.best)
        block = run_block(markdown, run["run_id"])
        assert f"**Steps (all {len(expected)}, from the run's step metrics)**" in block
        lines = [line for line in block.splitlines() if re.match(r"\| \d+ \|", line)]
        assert [line.split(" | ")[1] for line in lines] == [s.action for s in expected]
        if spec.candidates[0] is not None:
            edit_budget = lines[1].split(" | ")[2]
            assert edit_budget == str(spec.edit_budget)
        assert "skillopt-train train.edit_budget=" in block  # the re-run command
        # these synthetic runs logged no llm_calls/ (and one failed): no replay command to offer
        expected_blocker = (
            "the run recorded no calls" if run["status"] == "FINISHED" else "the run ended FAILED"
        )
        assert f"Nothing to replay: {expected_blocker}" in block
    assert markdown.count("| step | action | edit budget |") == 3
    section = html.split(f'id="run-{store.run_ids[0]}"', 1)[1].split("</section>", 1)[0]
    assert section.count('<tr class="accepted"') == 2
    assert section.count('<tr class="rejected"') == 2
    assert section.count('<tr class="skipped"') == 1


def test_json_holds_the_logged_histories(store, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    client = mlflow.MlflowClient(store.uri)
    for run in data["training"]["runs"]:
        logged = {}
        for name in run["history"]:
            points = client.get_metric_history(run["run_id"], name)
            logged[name] = sorted([m.step, m.value] for m in points)
        assert run["history"] == logged
        assert set(run["history"]) >= {"selection.hard", "gate.best", "gate.accepted"}
        assert "best.selection_score" not in run["history"]  # final metrics are not histories
    summary = data["training"]["summary"]
    assert summary == [
        f"Highest best selection score: run #1 {store.run_ids[1][:8]} (0.75).",
        f"Largest test delta (hard): run #1 {store.run_ids[1][:8]} (0.4).",
    ]


def test_histories_are_read_once_per_metric_and_training_run_only(store, tmp_path, monkeypatch):
    calls: list[tuple[str, str]] = []
    original = mlflow.MlflowClient.get_metric_history

    def counting(self, run_id, key):
        calls.append((run_id, key))
        return original(self, run_id, key)

    monkeypatch.setattr(mlflow.MlflowClient, "get_metric_history", counting)
    ids = [store.reflect_id, store.run_ids[1]]
    assert report(store, tmp_path / "r", "--runs", *ids) == 0
    # One call per step metric of the training run, none for the reflect run.
    assert sorted(calls) == sorted((store.run_ids[1], name) for name in STEP_METRICS)


# -- determinism, mixed reports, options -------------------------------------------------------


def test_same_runs_give_the_same_report_bytes_but_the_timestamp(store, sweep_report, tmp_path):
    again = tmp_path / "again"
    assert report(store, again, "--experiment", EXPERIMENT, "--sweep", SWEEP) == 0
    files = sorted(p.relative_to(sweep_report) for p in sweep_report.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert len(files) == 7
    for rel in files:
        if rel.suffix == ".png":
            assert (sweep_report / rel).read_bytes() == (again / rel).read_bytes(), rel
        else:
            assert without_timestamp(sweep_report / rel) == without_timestamp(again / rel), rel


def test_sweep_report_is_logged_to_the_parent_run(store, sweep_report):
    client = mlflow.MlflowClient(store.uri)
    plots = {a.path for a in client.list_artifacts(store.parent_id, "report/plots")}
    assert plots == {f"report/plots/{p.name}" for p in (sweep_report / "plots").iterdir()}


def test_a_mixed_report_has_a_reflect_part_and_a_training_part(store, tmp_path):
    out = tmp_path / "mixed"
    assert report(store, out, "--runs", store.reflect_id, store.run_ids[0]) == 0
    data = json.loads((out / "report.json").read_text())
    assert [r["run_id"] for r in data["runs"]] == [store.reflect_id]
    assert data["runs"][0]["reproduce"]["rerun"] == ["skillopt-reflect"]
    assert [r["run_id"] for r in data["training"]["runs"]] == [store.run_ids[0]]
    assert data["training"]["summary"] == []  # one training run: nothing to rank
    assert data["training"]["plots"] == [
        {
            "file": f"plots/train_curve_{store.run_ids[0]}.png",
            "title": data["training"]["plots"][0]["title"],
        }
    ]
    markdown = (out / "report.md").read_text()
    assert "1 of them is a training run (skillopt-train); 1 reflect run." in markdown
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == [
        "Reflect runs",
        "Reflect plots",
        "Reflect runs in detail",
        "Training runs",
        "Training runs in detail",
    ]
    (reflect_row,) = md_table(markdown, "Reflect runs")[1:]
    assert reflect_row[-1] == f"`{store.reflect_id}`"
    (train_row,) = md_table(markdown, "Training runs")[1:]
    assert train_row[-1] == f"`{store.run_ids[0]}`"
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "tokens_cost.png",
        f"train_curve_{store.run_ids[0]}.png",
    ]


def test_experiment_selection_and_step_limit(store, tmp_path):
    out = tmp_path / "exp"
    assert report(store, out, "--experiment", EXPERIMENT, "--steps", "2") == 0
    data = json.loads((out / "report.json").read_text())
    assert data["source"]["kind"] == "experiment"
    runs = data["training"]["runs"]
    assert [r["run_id"] for r in runs] == list(store.run_ids)  # the sweep parent is left out
    markdown = (out / "report.md").read_text()
    for run, spec in zip(runs, SPECS, strict=True):
        total = len(spec.candidates) + 1
        assert len(run["steps"]) == total  # report.json keeps every step
        block = run_block(markdown, run["run_id"])
        assert f"**Steps (first 2 of {total}; report.json holds all of them)**" in block
        assert len([line for line in block.splitlines() if re.match(r"\| \d+ \|", line)]) == 2


def test_verify_replay_skips_training_runs(store, tmp_path, capsys):
    out = tmp_path / "v"
    code = report(store, out, "--experiment", EXPERIMENT, "--sweep", SWEEP, "--verify-replay")
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("skipped: --verify-replay compares skillopt-reflect patches") == 3
    client = mlflow.MlflowClient(store.uri)
    for run_id in store.run_ids:
        assert "skillopt.replay_verified" not in client.get_run(run_id).data.tags


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "-1"], "--steps must be 0 or more, not -1"),
        (["--compare", "ID0", "ID1"], "--compare: run ID0 is a training run; --compare diffs"),
    ],
)
def test_bad_input_is_one_line(store, tmp_path, capsys, args, message):
    ids = {"ID0": store.run_ids[0], "ID1": store.run_ids[1]}
    args = [ids.get(a, a) for a in args]
    assert report(store, tmp_path / "r", "--experiment", EXPERIMENT, *args) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"skillopt-report: error: {message.replace('ID0', ids['ID0'])}")
    assert not (tmp_path / "r").exists()


def test_a_step_logged_twice_keeps_the_last_value(store, tmp_path):
    """A resumed run logs a step again: the report shows the value logged last."""
    client = mlflow.MlflowClient(store.uri)
    experiment_id = client.create_experiment(
        "resumed", artifact_location=(store.root / "mlruns-resumed").as_uri()
    )
    run_id = client.create_run(experiment_id, tags={"skillopt.job": "train"}).info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric("gate.best", 0.5, T0, 0),
            Metric("gate.best", 0.7, T0 + 20, 1),
            Metric("gate.best", 0.6, T0 + 10, 1),  # an earlier timestamp: the 0.7 was logged last
            Metric("gate.accepted", 1.0, T0 + 20, 1),
        ],
    )
    client.set_terminated(run_id, "FINISHED")
    assert report(store, tmp_path / "r", "--runs", run_id) == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    (run,) = data["training"]["runs"]
    assert run["history"]["gate.best"] == [[0, 0.5], [1, 0.7]]
    assert [(s["step"], s["action"], s["gate_best"]) for s in run["steps"]] == [
        (0, "baseline", 0.5),
        (1, "accept (new best)", 0.7),
    ]
    assert data["training"]["table"]["rows"][0]["best.selection_score"] == 0.7


@pytest.mark.slow
def test_training_page_renders_in_a_browser(sweep_report, tmp_path):
    """The training report in headless Chromium: every image decodes, no script error, no
    console output (the same check as the reflect report's browser test)."""
    from tests.test_report_browser import browse, console_lines

    page = sweep_report / "report.html"
    proc = browse(page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
    check = re.search(r'<div id="render-check"[^>]*>([^<]*)</div>', proc.stdout)
    assert check is not None and check.group(1) == "images-ok 4/4"


@pytest.mark.slow
def test_report_on_a_real_skillopt_train_sweep(tmp_path):
    """End to end with the real trainer (offline models): the report's numbers are each job's
    summary.json, and every step of its history is listed with a curve per job."""
    from tests.cli_helpers import run_reflect, run_sweep

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
    out = tmp_path / "report"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["--tracking-uri", uri, "--out", str(out), "--experiment", EXPERIMENT]
    assert main([*args, "--sweep", "sweep"]) == 0
    data = json.loads((out / "report.json").read_text())
    rows = data["training"]["table"]["rows"]
    assert [r["params.train.edit_budget"] for r in rows] == ["1", "4"]
    for row, section in zip(rows, data["training"]["runs"], strict=True):
        summary = json.loads((run.out_dir / str(row["job"]) / "summary.json").read_text())
        assert row["baseline.selection_score"] == pytest.approx(summary["baseline_selection_score"])
        assert row["best.selection_score"] == pytest.approx(summary["best_selection_score"])
        assert row["steps.accepted"] == summary["accepts"]
        actions = [s["action"] for s in section["steps"]]
        assert len(actions) == summary["total_steps"] + 1 and actions[0] == "baseline"
        assert sum(a.startswith("accept") for a in actions) == summary["accepts"]
        assert sum(a == "reject" for a in actions) == summary["rejects"]
        assert section["steps"][-1]["gate_best"] == pytest.approx(summary["best_selection_score"])
        image = matplotlib.image.imread(out / section["curve"])
        assert image.std() > 0.01
    assert (out / "plots" / "train_gate_best.png").is_file()

    # The Reproduce section's replay command re-creates the job from its recorded calls.
    first = data["training"]["runs"][0]
    replay = first["reproduce"]["replay"]
    assert replay[0] == "skillopt-train"
    assert {"model=replay", "target=replay", f"model.run_id={first['run_id']}"} <= set(replay)
    replayed = run_reflect(tmp_path, *replay[1:], out="replayed", app="train")
    assert replayed.returncode == 0, replayed.output
    original = run.out_dir / str(rows[0]["job"])
    assert (replayed.out_dir / "best_skill.md").read_text() == (
        original / "best_skill.md"
    ).read_text()
