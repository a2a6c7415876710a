"""`skillopt-report` end to end: real sweeps in SQLite stores, reports checked against MLflow.

Two sweeps per module (fixtures): four good jobs (minibatch size x update mode), and a sweep
whose second job fails (an unreadable rollout) for the gaps and bad-input tests.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import mlflow
import pytest

from skillopt.cli.report import main
from skillopt.report.replay import compare_patches
from skillopt.report.reproduce import replay_overrides
from skillopt.tracking.records import PatchFile
from tests.cli_helpers import REPO, run_sweep, sweep_parent

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPERIMENT = "skillopt-reflect"
GENERATED = re.compile(r"Generated at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def uri(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'mlflow.db'}"


def report(cwd: Path, out: Path, *args: str) -> int:
    """`skillopt-report --tracking-uri <cwd's store> --out <out> <args>` in this process."""
    return main(["--tracking-uri", uri(cwd), "--out", str(out), *args])


def children(cwd: Path, sweep_id: str = "sweep") -> list:
    client = mlflow.MlflowClient(uri(cwd))
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`skillopt.sweep_id` = '{sweep_id}'"
    )
    return sorted(
        (r for r in runs if "mlflow.parentRunId" in r.data.tags),
        key=lambda r: int(r.data.tags["skillopt.job_num"]),
    )


def md_table(markdown: str) -> list[list[str]]:
    """The cells of the runs table in report.md (header first)."""
    lines = markdown.split("## Runs\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [line for i, line in enumerate(lines) if i != 1]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in rows]


def without_timestamp(path: Path) -> bytes:
    text = path.read_text(encoding="utf-8")
    assert len(GENERATED.findall(text)) == (0 if path.suffix == ".json" else 1), path
    return GENERATED.sub("Generated at: <removed>", text).encode("utf-8")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("report-sweep")
    run = run_sweep(
        cwd,
        "tracking=local",
        "reflect.minibatch_size=4,8",
        "reflect.update_mode=patch,rewrite_from_suggestions",
    )
    assert run.returncode == 0, run.output
    return cwd


@pytest.fixture(scope="module")
def compared(sweep) -> tuple[str, str]:
    """Job 0 (M=4, patch) and job 2 (M=8, patch), as 8-character id prefixes."""
    runs = children(sweep)
    return runs[0].info.run_id[:8], runs[2].info.run_id[:8]


@pytest.fixture(scope="module")
def sweep_report(sweep, compared) -> Path:
    out = sweep / "report"
    assert report(sweep, out, "--sweep", "sweep", "--compare", *compared) == 0
    return out


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> Path:
    """A sweep whose job 1 fails before any metric is logged (its results.jsonl cannot be
    read), plus an empty sweep parent."""
    cwd = tmp_path_factory.mktemp("report-failing")
    skill = REPO / "skillopt" / "examples" / "qa" / "skill.md"
    rollout = REPO / "skillopt" / "examples" / "qa" / "rollout"
    (cwd / "missing").mkdir()
    (cwd / "missing" / "results.jsonl").write_text("{not json\n")
    run = run_sweep(
        cwd,
        "tracking=local",
        "data=custom",
        f"data.skill_path={skill}",
        f"data.rollout_dir={rollout},{cwd / 'missing'}",
    )
    assert run.returncode != 0  # Hydra reports the failed job after the sweep
    client = mlflow.MlflowClient(uri(cwd))
    exp = client.get_experiment_by_name(EXPERIMENT)
    empty = client.create_run(exp.experiment_id, tags={"skillopt.sweep_id": "empty"})
    client.set_terminated(empty.info.run_id, "FINISHED")
    return cwd


# -- the runs table ------------------------------------------------------------------------


def test_table_matches_mlflow_search_runs(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    table = data["table"]
    assert [c["key"] for c in table["columns"]] == [
        "job",
        "params.reflect.minibatch_size",
        "params.reflect.update_mode",
        "status",
        "payload.items",
        "minibatches.failed",
        "tokens",
        "llm.cost_usd",
        "reflect.wall_s",
        "run_id",
    ]
    mlflow.set_tracking_uri(uri(sweep))
    df = mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string="tags.`skillopt.sweep_id` = 'sweep'"
    )
    df = df[df["tags.mlflow.parentRunId"].notna()].copy()
    df["job"] = df["tags.skillopt.job_num"].astype(int)
    df = df.sort_values("job")
    rows = table["rows"]
    assert [r["run_id"] for r in rows] == list(df["run_id"])
    for row, (_, expected) in zip(rows, df.iterrows(), strict=True):
        assert row["job"] == expected["job"]
        assert row["status"] == expected["status"] == "FINISHED"
        for param in ["reflect.minibatch_size", "reflect.update_mode"]:
            assert row[f"params.{param}"] == expected[f"params.{param}"]
        for key in ["payload.items", "minibatches.failed", "llm.cost_usd", "reflect.wall_s"]:
            assert row[key] == expected[f"metrics.{key}"], key
        assert (
            row["tokens"]
            == expected["metrics.llm.prompt_tokens"] + expected["metrics.llm.completion_tokens"]
        )
    # report.md shows the same rows, formatted.
    cells = md_table((sweep_report / "report.md").read_text())
    header, body = cells[0], cells[1:]
    assert header[:3] == ["job", "reflect.minibatch_size", "reflect.update_mode"]
    assert header[-1] == "run id"
    for line, row in zip(body, rows, strict=True):
        assert line[-1] == f"`{row['run_id']}`"
        assert line[1:4] == [
            row["params.reflect.minibatch_size"],
            row["params.reflect.update_mode"],
            "FINISHED",
        ]
        assert line[header.index("payload items")] == str(int(row["payload.items"]))
        assert line[header.index("tokens")] == str(int(row["tokens"]))


def test_html_table_is_sortable_and_self_contained(sweep_report):
    html = (sweep_report / "report.html").read_text()
    assert html.count('<tr data-run-id="') == 4
    assert 'class="sortable"' in html and 'addEventListener("click", sort)' in html
    assert "Content-Security-Policy" in html
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)  # no external resources
    assert '<link rel="stylesheet"' not in html and "<script src" not in html


# -- plots -----------------------------------------------------------------------------------


def test_plots_are_valid_pngs_written_beside_and_embedded(sweep_report):
    plots = sorted(p.name for p in (sweep_report / "plots").iterdir())
    assert plots == [
        "metrics_vs_reflect.minibatch_size.png",
        "metrics_vs_reflect.update_mode.png",
        "tokens_cost.png",
    ]
    html = (sweep_report / "report.html").read_text()
    markdown = (sweep_report / "report.md").read_text()
    for name in plots:
        path = sweep_report / "plots" / name
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert b"Software" not in data  # no version string: same bytes on every render
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 0.01  # not a blank canvas
        assert f"](plots/{name})" in markdown
        assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in html


# -- determinism -----------------------------------------------------------------------------


def test_same_runs_give_the_same_report_bytes_but_the_timestamp(sweep, compared, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert report(sweep, out, "--sweep", "sweep", "--compare", *compared) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len(files) == 6
    for rel in files:
        if rel.suffix == ".png":
            assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
        else:
            assert without_timestamp(first / rel) == without_timestamp(second / rel), rel


# -- per-run content -------------------------------------------------------------------------


def test_items_and_failure_types_come_from_the_patches(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    for run in data["runs"]:
        patches = sweep / "sweep" / str(run["job_num"]) / "patches"
        documents = [json.loads(p.read_text()) for p in sorted(patches.glob("*.json"))]
        key = "edits" if run["params"]["reflect.update_mode"] == "patch" else "revise_suggestions"
        assert run["payload_key"] == key
        expected = [(d["minibatch"], item) for d in documents for item in d["patch"][key]]
        assert run["items_total"] == len(expected) == run["metrics"]["payload.items"]
        assert [i["minibatch"] for i in run["items"]] == [m for m, _ in expected[:5]]
        for shown, (_, item) in zip(run["items"], expected, strict=False):
            words = item.get("content") or item.get("instruction")
            assert words.split("(")[0].strip() in shown["text"]
        counts: dict[str, int] = {}
        for document in documents:
            for entry in document.get("failure_summary", []):
                counts[entry["failure_type"]] = (
                    counts.get(entry["failure_type"], 0) + entry["count"]
                )
        assert run["failure_types"] == counts and counts
    markdown = (sweep_report / "report.md").read_text()
    assert markdown.count("**Proposed edits (first 5 of") == 2
    assert markdown.count("**Proposed suggestions (first 5 of") == 2
    assert markdown.count("| failure type | count |") == 4


def test_reproduce_section_has_command_provenance_and_replay(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    markdown = (sweep_report / "report.md").read_text()
    for run, child in zip(data["runs"], children(sweep), strict=True):
        rep = run["reproduce"]
        tags = child.data.tags
        assert rep["recorded_command"] == tags["skillopt.command"]
        assert rep["overrides"] == json.loads(tags["skillopt.overrides"])
        assert rep["git_commit"] == tags["skillopt.git_commit"]
        assert rep["git_dirty"] == tags["skillopt.git_dirty"]
        assert rep["skillopt_version"] == tags["skillopt.version"]
        assert rep["mlflow_version"] == tags["skillopt.mlflow_version"] == mlflow.__version__
        assert rep["cwd"] == str(sweep)
        assert rep["rerun"] == ["skillopt-reflect", *rep["overrides"]]
        assert rep["replay"][:3] == [
            "skillopt-reflect",
            "model=replay",
            f"model.run_id={run['run_id']}",
        ]
        assert rep["replay"][-1] == f"tracking.uri={uri(sweep)}"
        for line in [rep["rerun_shell"], rep["replay_shell"], tags["skillopt.command"]]:
            assert line in markdown
        assert f"`{rep['git_commit']}` (dirty: {rep['git_dirty']})" in markdown


def test_printed_commands_reproduce_the_patches(sweep, sweep_report, tmp_path):
    """The report's replay and re-run commands, run as printed (from the run's directory),
    write the original run's patches byte for byte."""
    data = json.loads((sweep_report / "report.json").read_text())
    run = data["runs"][1]  # M=4, rewrite_from_suggestions
    original = sweep / "sweep" / str(run["job_num"]) / "patches"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for kind in ["replay", "rerun"]:
        argv = shlex.split(run["reproduce"][f"{kind}_shell"].split(" && ", 1)[1])
        assert argv[0] == "skillopt-reflect"
        out = tmp_path / kind
        proc = subprocess.run(
            [sys.executable, "-m", "skillopt.cli.reflect", f"hydra.run.dir={out}", *argv[1:]],
            cwd=run["reproduce"]["cwd"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        names = sorted(p.name for p in original.iterdir())
        assert names == sorted(p.name for p in (out / "patches").iterdir()) and names
        for name in names:
            assert (original / name).read_bytes() == (out / "patches" / name).read_bytes(), name


# -- compare ---------------------------------------------------------------------------------


def test_compare_puts_both_runs_patches_side_by_side(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    left, right = (data["runs"][i] for i in (0, 2))
    comparison = data["compare"]
    assert (comparison["left"], comparison["right"]) == (left["run_id"], right["run_id"])
    job = {r["run_id"]: r["job_num"] for r in data["runs"]}
    patches = {
        side: {
            p.stem: json.loads(p.read_text())
            for p in (sweep / "sweep" / str(job[comparison[side]]) / "patches").glob("*.json")
        }
        for side in ("left", "right")
    }
    names = sorted(set(patches["left"]) | set(patches["right"]))
    assert [m["minibatch"] for m in comparison["minibatches"]] == names
    assert len(patches["left"]) == 7 and len(patches["right"]) == 4
    markdown = (sweep_report / "report.md").read_text()
    section = markdown.split("## Compare ", 1)[1]
    for entry in comparison["minibatches"]:
        for side in ("left", "right"):
            document = patches[side].get(entry["minibatch"])
            if document is None:
                assert entry[side] is None
                continue
            assert len(entry[side]) == len(document["patch"]["edits"])
            for item, text in zip(document["patch"]["edits"], entry[side], strict=True):
                assert item["content"][:40] in text
        block = section.split(f"### {entry['minibatch']}", 1)[1].split("\n### ", 1)[0]
        for text in (entry["left"] or []) + (entry["right"] or []):
            assert text.replace("|", "\\|") in block
        if entry["left"] is None or entry["right"] is None:
            assert "(no patch)" in block
    html = (sweep_report / "report.html").read_text()
    assert html.count('<table class="compare">') == len(names)


# -- sweep parent ----------------------------------------------------------------------------


def test_sweep_report_is_logged_to_the_parent_run(sweep, sweep_report):
    client = mlflow.MlflowClient(uri(sweep))
    parent = sweep_parent(uri(sweep), experiment=EXPERIMENT)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert logged == {
        "report/report.md",
        "report/report.html",
        "report/report.json",
        "report/plots",
    }
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "report/plots")}
    assert plots == {f"report/plots/{p.name}" for p in (sweep_report / "plots").iterdir()}
    local = mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="report/report.json", tracking_uri=uri(sweep)
    )
    assert Path(local).read_bytes() == (sweep_report / "report.json").read_bytes()


# -- verify replay ---------------------------------------------------------------------------


def test_verify_replay_marks_every_run_and_tags_it(sweep, tmp_path, capsys):
    assert report(sweep, tmp_path / "verified", "--sweep", "sweep", "--verify-replay") == 0
    data = json.loads((tmp_path / "verified" / "report.json").read_text())
    assert [r["replay_verified"] for r in data["runs"]] == [True] * 4
    assert all(r["replay_detail"].endswith("identical") for r in data["runs"])
    assert [row["replay_verified"] for row in data["table"]["rows"]] == ["✓"] * 4
    markdown = (tmp_path / "verified" / "report.md").read_text()
    assert markdown.count("- Replay verified: ✓ ") == 4
    for child in children(sweep):
        assert child.data.tags["skillopt.replay_verified"] == "true"
    err = capsys.readouterr().err
    assert err.count("verify-replay #") == 4 and "✗" not in err
    # The replays are runs of their own, marked as such, outside the sweep.
    client = mlflow.MlflowClient(uri(sweep))
    exp = client.get_experiment_by_name(EXPERIMENT)
    replays = client.search_runs(
        [exp.experiment_id], filter_string="tags.`skillopt.replay_of` != ''"
    )
    assert {r.data.tags["skillopt.replay_of"] for r in replays} >= {
        r["run_id"] for r in data["runs"]
    }
    assert all("skillopt.sweep_id" not in r.data.tags for r in replays)


def test_verify_replay_catches_a_patch_that_differs(failing, tmp_path, capsys):
    """Alter one recorded patch of the good job in the artifact store: the replay writes the
    original bytes, so the run is marked ✗ naming the file, tagged false, and the exit is 3."""
    good = next(c for c in children(failing) if c.info.status == "FINISHED")
    stored = Path(good.info.artifact_uri.removeprefix("file://")) / "patches"
    target = stored / "minibatch_fail_000.json"
    original = target.read_bytes()
    target.write_bytes(original.replace(b'"append"', b'"replace"', 1))
    try:
        code = report(failing, tmp_path / "r", "--sweep", "sweep", "--verify-replay")
    finally:
        target.write_bytes(original)
    assert code == 3
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    by_id = {r["run_id"]: r for r in data["runs"]}
    assert by_id[good.info.run_id]["replay_verified"] is False
    assert by_id[good.info.run_id]["replay_detail"] == "differ: minibatch_fail_000.json"
    failed = next(r for r in data["runs"] if r["status"] == "FAILED")
    assert failed["replay_verified"] is None  # a failed job is skipped, not marked
    client = mlflow.MlflowClient(uri(failing))
    tags = client.get_run(good.info.run_id).data.tags
    assert tags["skillopt.replay_verified"] == "false"
    assert "minibatch_fail_000.json" in tags["skillopt.replay_detail"]
    assert "skillopt.replay_verified" not in client.get_run(failed["run_id"]).data.tags
    err = capsys.readouterr().err
    assert "✗ differ: minibatch_fail_000.json" in err and "skipped: the run ended FAILED" in err
    assert "1 replay(s) did not reproduce" in err


def test_compare_patches_names_each_kind_of_difference(tmp_path):
    def patch(name: str, text: str) -> PatchFile:
        return PatchFile(name=name, text=text, document=None)

    (tmp_path / "a.json").write_text("same")
    (tmp_path / "b.json").write_text("new")
    (tmp_path / "d.json").write_text("extra")
    ok, detail = compare_patches(
        (patch("a.json", "same"), patch("b.json", "old"), patch("c.json", "gone")), tmp_path
    )
    assert not ok
    assert detail == "differ: b.json; only in the original: c.json; only in the replay: d.json"
    assert compare_patches((patch("a.json", "same"),), tmp_path)[0] is False
    (tmp_path / "b.json").unlink()
    (tmp_path / "d.json").unlink()
    assert compare_patches((patch("a.json", "same"),), tmp_path) == (True, "1 patch identical")


def test_replay_keeps_request_shaping_overrides_only():
    overrides = [
        "tracking=local",
        "tracking.uri=sqlite:///elsewhere.db",
        "model=openai",
        "model.name=gpt-4.1-mini",
        "model.base_url=http://127.0.0.1:8000/v1",
        "model.api_key_env=MY_KEY",
        "+model.api_key=***redacted***",
        "model.timeout_s=30",
        "model.max_retries=0",
        "model.token_param=max_tokens",
        "model.price.input_per_mtok=0.4",
        "model.max_tokens=2048",
        "model.full_rewrite_max_tokens=9000",
        "model.temperature=0.2",
        "model.json_schema=true",
        "model.parse_retries=1",
        "reflect.minibatch_size=4",
        "data.rollout_dir=runs/rollout",
    ]
    assert replay_overrides(overrides) == [
        "tracking=local",
        "model.max_tokens=2048",
        "model.full_rewrite_max_tokens=9000",
        "model.temperature=0.2",
        "model.json_schema=true",
        "model.parse_retries=1",
        "reflect.minibatch_size=4",
        "data.rollout_dir=runs/rollout",
    ]


# -- gaps and bad input ----------------------------------------------------------------------


def test_failed_job_is_marked_as_a_gap(failing, tmp_path):
    assert report(failing, tmp_path / "r", "--sweep", "sweep") == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    rows = data["table"]["rows"]
    assert [r["status"] for r in rows] == ["FINISHED", "FAILED"]
    assert [c["key"] for c in data["table"]["columns"]][:2] == ["job", "params.data.rollout_dir"]
    failed = rows[1]
    assert all(failed[k] is None for k in ["payload.items", "tokens", "llm.cost_usd"])
    (note,) = data["table"]["notes"]
    assert "ended FAILED" in note and "results.jsonl:1: not valid JSON" in note
    assert "logged no metrics" in note
    markdown = (tmp_path / "r" / "report.md").read_text()
    header, _, line = md_table(markdown)
    metrics = ["payload items", "failed minibatches", "tokens", "cost (USD)", "wall time (s)"]
    assert [line[header.index(h)] for h in metrics] == ["—"] * 5 and "FAILED" in line
    assert note in markdown
    assert "Nothing to replay: the run ended FAILED." in markdown
    assert data["runs"][1]["reproduce"]["replay_blocker"] == "the run ended FAILED"
    assert data["runs"][0]["reproduce"]["replay_blocker"] is None
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count('class="num gap" data-sort="">—</td>') == 5
    assert [p.name for p in (tmp_path / "r" / "plots").iterdir()] == ["tokens_cost.png"]
    assert "No metric differs between the runs that logged it" in markdown


def test_experiment_and_run_id_inputs(failing, tmp_path):
    assert report(failing, tmp_path / "exp", "--experiment", EXPERIMENT) == 0
    data = json.loads((tmp_path / "exp" / "report.json").read_text())
    assert data["source"]["kind"] == "experiment"
    jobs = [r for r in data["runs"] if r["job_num"] is not None]  # (replays have none)
    assert [r["status"] for r in jobs] == ["FINISHED", "FAILED"]
    assert not any(r["params"] == {} for r in data["runs"])  # sweep parents are left out
    ids = [r["run_id"] for r in jobs]
    assert report(failing, tmp_path / "ids", "--runs", ids[1], ids[0], "--items", "2") == 0
    data = json.loads((tmp_path / "ids" / "report.json").read_text())
    assert [r["run_id"] for r in data["runs"]] == ids  # sorted by job number
    assert len(data["runs"][0]["items"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "nope"], "no experiment named 'nope' in sqlite:///"),
        (["--sweep", "nope"], "no sweep with id 'nope' in experiment 'skillopt-reflect' (known: "),
        (["--sweep", "empty"], "sweep 'empty' in experiment 'skillopt-reflect' has no job runs"),
        (["--runs", "0" * 32], f"no run '{'0' * 32}' in sqlite:///"),
        (["--sweep", "sweep", "--compare", "zzz", "zzz"], "--compare: no run 'zzz'"),
        (["--items", "-1"], "--items must be 0 or more"),
        # No arguments: the most recent sweep or run, leaving out the replays --verify-replay
        # made; here that is the empty sweep, made last.
        ([], "the most recent sweep of the store cannot be read: sweep 'empty' in experiment"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(failing, tmp_path, capsys, args, message):
    code = report(failing, tmp_path / "r", *args)
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skillopt-report: error: "), captured.err
    assert message in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "r").exists()


def test_unknown_sweep_lists_the_known_ones(failing, tmp_path, capsys):
    assert report(failing, tmp_path / "r", "--sweep", "nope") == 1
    assert "(known: empty, sweep)" in capsys.readouterr().err


def test_a_sweep_parent_given_as_a_run_points_to_sweep(failing, tmp_path, capsys):
    parent = sweep_parent(uri(failing), experiment=EXPERIMENT)
    assert report(failing, tmp_path / "r", "--runs", parent.info.run_id) == 1
    assert "use --sweep sweep" in capsys.readouterr().err


def test_console_script_default_store_and_missing_store(failing, tmp_path):
    """As a user runs it: the default store is ./mlflow.db; elsewhere there is none, and no
    empty store is created at the mistyped path."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "skillopt.cli.report",
            "--sweep",
            "sweep",
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=failing,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "report: " in ok.stdout and "Downloading artifacts" not in ok.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "skillopt.cli.report", "--sweep", "sweep"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"skillopt-report: error: no MLflow store at {tmp_path.resolve() / 'mlflow.db'} "
        "(tracking URI sqlite:///mlflow.db); run where your mlflow.db is or pass --tracking-uri"
    )
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "report").exists()


def test_help_says_what_the_report_holds(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in [
        "--sweep",
        "--runs",
        "--experiment",
        "--compare",
        "--verify-replay",
        "--items",
        "--metric",
        "--baseline",
        "--level",
        "--seed-keys",
    ]:
        assert option in text
    assert "report.html" in text and "exit status" in text
    flat = " ".join(text.split())
    assert "with no arguments the most recent sweep or run" in flat
    assert "settings across seeds" in flat and "too few pairs under 4 shared seeds" in flat
