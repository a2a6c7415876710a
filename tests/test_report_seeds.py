"""`skillopt-report` across seeds: settings, means, intervals, paired comparisons and the
verdict, checked against numbers computed here from MLflow's `search_runs`.

Two stores per module:
- a real offline `skillopt-train` sweep (slow, ~40 s): `train.edit_budget=4,0` (0 at every
  step: the skill never changes, a setting made worse on purpose) x `reflect.workers=8,2`
  (thread count only: the two worker counts are identical settings) x `train.seed=1,2,3,4`;
- a store logged through `MlflowClient` (fast) for the edge cases: a setting with one run, a
  failed run, five pairs with a spread, zero variance, derived reflect seeds, a replay, and a
  sweep id held by both job experiments.

The intervals are recomputed here from the method the README states (percentile bootstrap,
expanded for small samples, 9999 resamples, random state 0, values in job order).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric, Param, RunTag
from scipy import stats as scipy_stats

from skillopt.cli.report import main
from skillopt.report import stats
from tests.cli_helpers import run_sweep

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # NaN, 0/0, degenerate data

TRAIN = "skillopt-train"
REFLECT = "skillopt-reflect"
GENERATED = re.compile(r"Generated at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NAN = re.compile(r"\bnan\b", re.IGNORECASE)
# The metrics of a training setting, spelled out here: key -> the logged metrics summed.
TRAIN_METRICS = {
    "best.selection_score": ("best.selection_score",),
    "test.delta_hard": ("test.delta_hard",),
    "test.final_hard": ("test.final_hard",),
    "steps.accepted": ("steps.accepted",),
    "tokens": ("llm.prompt_tokens", "llm.completion_tokens"),
    "llm.cost_usd": ("llm.cost_usd",),
}
BASELINE = "train.edit_budget=4,reflect.workers=8"


def expected_interval(values: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """The README's interval of the mean, computed with scipy directly."""
    if len(values) < 2:
        return None
    if len(set(values)) == 1:
        return values[0], values[0]
    n = len(values)
    z = math.sqrt(n / (n - 1)) * scipy_stats.t.ppf(1 - (1 - level) / 2, n - 1)
    result = scipy_stats.bootstrap(
        (np.array(values),),
        np.mean,
        confidence_level=1 - 2 * scipy_stats.norm.sf(z),
        n_resamples=9999,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def check_sample(reported: dict, values: list[float]) -> None:
    """`reported` (a report.json sample) holds n, mean, sd and interval of `values`."""
    assert reported["values"] == pytest.approx(values)
    assert reported["n"] == len(values)
    assert reported["mean"] == pytest.approx(float(np.mean(values)))
    if len(values) > 1:
        assert reported["sd"] == pytest.approx(float(np.std(values, ddof=1)), abs=1e-12)
    else:
        assert reported["sd"] is None
    bounds = expected_interval(values)
    if bounds is None:
        assert reported["ci_low"] is None and reported["ci_high"] is None
    else:
        assert (reported["ci_low"], reported["ci_high"]) == pytest.approx(bounds)
        assert reported["ci_low"] <= reported["mean"] <= reported["ci_high"]


def without_timestamp(path: Path) -> bytes:
    return GENERATED.sub("Generated at: <removed>", path.read_text(encoding="utf-8")).encode()


def md_section(markdown: str, heading: str) -> str:
    """The markdown after the line starting with `heading` (a `## ` or `### ` line), up to the
    next heading of level 2."""
    after = markdown.split(f"\n{heading}", 1)[1].split("\n", 1)[1]
    return after.split("\n## ", 1)[0].lstrip("\n")


def md_rows(block: str, first_header: str) -> list[list[str]]:
    """The cells of the first table in `block` whose header starts with `first_header`."""
    lines = block.split(f"| {first_header} |", 1)[1].split("\n\n", 1)[0].splitlines()
    header = f"| {first_header} |{lines[0]}"
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in [header, *lines[2:]]]


# -- the real sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    cwd: Path
    uri: str


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Sweep:
    cwd = tmp_path_factory.mktemp("seeds-sweep")
    run = run_sweep(
        cwd,
        "tracking=local",
        "tracking.trace_llm_calls=false",
        "train.edit_budget=4,0",
        "train.min_edit_budget=0",
        "reflect.workers=8,2",
        "train.seed=1,2,3,4",
        app="train",
    )
    assert run.returncode == 0, run.output
    return Sweep(cwd=cwd, uri=f"sqlite:///{cwd / 'mlflow.db'}")


def report_on(where: Sweep | Path, out: Path, *args: str) -> int:
    uri = where.uri if isinstance(where, Sweep) else f"sqlite:///{where / 'mlflow.db'}"
    return main(["--tracking-uri", uri, "--out", str(out), *args])


@pytest.fixture(scope="module")
def sweep_report(sweep) -> Path:
    """`--sweep` alone finds a training sweep (no --experiment)."""
    out = sweep.cwd / "report"
    assert report_on(sweep, out, "--sweep", "sweep", "--baseline", BASELINE) == 0
    return out


def searched(uri: str) -> list[dict]:
    """The sweep's jobs from `mlflow.search_runs`, in job order: params and metrics by name."""
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[TRAIN])
    df = df[df["tags.mlflow.parentRunId"].notna()].copy()
    df["job"] = df["tags.skillopt.job_num"].astype(int)
    rows = []
    for _, row in df.sort_values("job").iterrows():
        rows.append(
            {
                "run_id": row["run_id"],
                "status": row["status"],
                "budget": row["params.train.edit_budget"],
                "workers": row["params.reflect.workers"],
                "seed": row["params.train.seed"],
                "values": {
                    key: float(sum(row[f"metrics.{n}"] for n in names))
                    for key, names in TRAIN_METRICS.items()
                },
            }
        )
    return rows


def settings_by_params(data: dict) -> dict[tuple[str, str], dict]:
    seeds = data["training"]["seeds"]
    return {
        (s["params"]["train.edit_budget"], s["params"]["reflect.workers"]): s
        for s in seeds["settings"]
    }


@pytest.mark.slow
def test_setting_statistics_equal_those_computed_from_search_runs(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    seeds = data["training"]["seeds"]
    assert seeds["setting_params"] == ["reflect.workers", "train.edit_budget"]
    assert seeds["varying_seeds"] == ["train.seed"] and seeds["left_out"] == []
    assert [(m["key"], tuple(m["names"])) for m in seeds["metrics"]] == list(TRAIN_METRICS.items())
    better = ["higher", "higher", "higher", None, "lower", "lower"]
    assert [m["better"] for m in seeds["metrics"]] == better
    runs = searched(sweep.uri)
    assert len(runs) == 16 and {r["status"] for r in runs} == {"FINISHED"}
    reported = settings_by_params(data)
    assert sorted(reported) == [("0", "2"), ("0", "8"), ("4", "2"), ("4", "8")]
    for (budget, workers), setting in reported.items():
        mine = [r for r in runs if (r["budget"], r["workers"]) == (budget, workers)]
        assert setting["runs"] == [r["run_id"] for r in mine]
        assert setting["seeds"] == [r["seed"] for r in mine] == ["1", "2", "3", "4"]
        assert re.fullmatch(r"s[0-9a-f]{8}", setting["key"])
        for key in TRAIN_METRICS:
            check_sample(setting["metrics"][key], [r["values"][key] for r in mine])
    # Budget 0 never changes the skill: the same selection score for every seed.
    zero = reported[("0", "8")]["metrics"]["best.selection_score"]
    assert zero["sd"] == 0 and zero["ci_low"] == zero["ci_high"] == zero["mean"]

    # report.md: a row per setting, each cell mean ± sd [interval].
    markdown = (sweep_report / "report.md").read_text()
    section = md_section(markdown, "## Training settings across seeds")
    header, *rows = md_rows(section, "setting")
    assert header[:5] == ["setting", "reflect.workers", "train.edit_budget", "seeds", "n"]
    assert header[5] == "best selection score ↑" and header[-2:] == ["tokens ↓", "cost (USD) ↓"]
    assert [row[0] for row in rows] == [f"`{s['key']}`" for s in seeds["settings"]]
    for row, setting in zip(rows, seeds["settings"], strict=True):
        tokens = setting["metrics"]["tokens"]
        low, high = (f"{v:.0f}" for v in (tokens["ci_low"], tokens["ci_high"]))
        assert row[header.index("tokens ↓")].endswith(f" [{low}, {high}]")
        assert row[3:5] == ["1, 2, 3, 4", "4"]
    assert "![Each metric per setting" in section and "](plots/seeds_train.png)" in section
    image = matplotlib.image.imread(sweep_report / "plots" / "seeds_train.png")
    assert image.shape[1] >= 750 and image.std() > 0.01
    assert not NAN.search(markdown) and "NaN" not in (sweep_report / "report.json").read_text()


@pytest.mark.slow
def test_budget_zero_is_worse_and_identical_settings_are_no_evidence(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    seeds = data["training"]["seeds"]
    reported = settings_by_params(data)
    baseline = reported[("4", "8")]
    assert seeds["baseline"] == baseline["key"] and seeds["baseline_asked"] is True
    runs = searched(sweep.uri)

    def per_seed(budget: str, workers: str, key: str) -> dict[str, float]:
        return {
            r["seed"]: r["values"][key]
            for r in runs
            if (r["budget"], r["workers"]) == (budget, workers)
        }

    expected = {("4", "2"): "no evidence", ("0", "8"): "worse", ("0", "2"): "worse"}
    chosen = [c for c in seeds["comparisons"] if c["metric"] == "best.selection_score"]
    assert [c["setting"] for c in chosen] == [reported[p]["key"] for p in expected]
    base = per_seed("4", "8", "best.selection_score")
    for comparison, (params, verdict) in zip(chosen, expected.items(), strict=True):
        mine = per_seed(*params, "best.selection_score")
        differences = [mine[s] - base[s] for s in ["1", "2", "3", "4"]]
        assert comparison["baseline"] == baseline["key"] and comparison["pairs"] == 4
        assert comparison["differences"] == pytest.approx(differences)
        assert comparison["diff_mean"] == pytest.approx(np.mean(differences))
        assert (comparison["ci_low"], comparison["ci_high"]) == pytest.approx(
            expected_interval(differences)
        )
        assert comparison["verdict"] == verdict
        if verdict == "worse":
            assert max(differences) < 0  # a constant difference, not an error
            p = scipy_stats.wilcoxon(differences, method="exact").pvalue
            assert comparison["wilcoxon_p"] == pytest.approx(p) == 0.125
        else:
            assert differences == [0.0] * 4 and comparison["wilcoxon_p"] is None
    # Every metric is compared; fewer tokens with budget 0 is better (lower is better).
    tokens = {c["setting"]: c["verdict"] for c in seeds["comparisons"] if c["metric"] == "tokens"}
    assert tokens == {
        reported[("4", "2")]["key"]: "no evidence",
        reported[("0", "8")]["key"]: "better",
        reported[("0", "2")]["key"]: "better",
    }
    accepted = [c for c in seeds["comparisons"] if c["metric"] == "steps.accepted"]
    assert {c["verdict"] for c in accepted} <= {"lower", "no evidence"}  # no better direction

    markdown = (sweep_report / "report.md").read_text()
    section = md_section(markdown, "### Paired comparisons: best selection score")
    assert section.startswith("Each setting against reflect.workers=8, train.edit_budget=4 (")
    header, *rows = md_rows(section, "setting")
    assert header[-5:] == [
        "difference per seed",
        "mean difference",
        "95% interval",
        "Wilcoxon p",
        "verdict",
    ]
    assert [row[-1] for row in rows] == list(expected.values())
    assert rows[1][header.index("difference per seed")].startswith("1: -0.8889; 2: -0.8889")
    assert [row[header.index("Wilcoxon p")] for row in rows] == ["n/a", "0.125", "0.125"]
    html = (sweep_report / "report.html").read_text()
    table = html.split('<table class="comparisons" id="train-comparisons-table">', 1)[1]
    assert table.split("</table>", 1)[0].count('<tr class="worse">') == 2


@pytest.mark.slow
def test_the_verdict_is_at_the_top_and_says_whether_the_runner_up_differs(sweep, sweep_report):
    markdown = (sweep_report / "report.md").read_text()
    data = json.loads((sweep_report / "report.json").read_text())
    verdict = data["training"]["seeds"]["verdict"]
    top = markdown.split("## ", 1)[0]
    assert f"Verdict: {verdict}\n" in top
    # The two worker counts tie for the best; the runner-up is not distinguishable from it.
    assert verdict == (
        "Best setting by best selection score (higher is better): reflect.workers=8, "
        "train.edit_budget=4, mean 1 (95% CI 1 to 1, n = 4); it is not distinguishable from "
        "the runner-up reflect.workers=2, train.edit_budget=4 (mean 1): paired difference 0 "
        "(95% CI 0 to 0, 4 pairs, no Wilcoxon p: every difference is 0)."
    )
    # The old per-run summary no longer names one of eight tied runs as if it were alone.
    assert "Highest best selection score: run #0 " in markdown
    assert "tied with 7 other runs)" in markdown


@pytest.mark.slow
def test_seed_keys_merge_settings_and_the_verdict_finds_the_difference(sweep, tmp_path):
    """`--seed-keys reflect.workers`: the worker count becomes part of the seed, so there are
    two settings of 8 runs, paired over 8 seeds (seed 1/8, 1/2, ...)."""
    out = tmp_path / "r"  # (the experiment, not the sweep: nothing is logged to its parent)
    args = ("--experiment", TRAIN, "--seed-keys", "reflect.workers")
    assert report_on(sweep, out, *args) == 0
    seeds = json.loads((out / "report.json").read_text())["training"]["seeds"]
    assert seeds["setting_params"] == ["train.edit_budget"]
    assert seeds["varying_seeds"] == ["train.seed", "reflect.workers"]
    assert [len(s["runs"]) for s in seeds["settings"]] == [8, 8]
    assert seeds["settings"][0]["seeds"][:2] == ["1/8", "2/8"]
    assert seeds["baseline"] == seeds["ranked"][0] and seeds["baseline_asked"] is False
    (chosen,) = [c for c in seeds["comparisons"] if c["metric"] == "best.selection_score"]
    assert chosen["pairs"] == 8 and chosen["verdict"] == "worse"
    assert chosen["wilcoxon_p"] == pytest.approx(2 / 2**8)
    assert seeds["verdict"].startswith(
        "Best setting by best selection score (higher is better): train.edit_budget=4, mean 1 "
        "(95% CI 1 to 1, n = 8); it is distinguishable from the runner-up train.edit_budget=0 "
        "(mean 0.1111): paired difference +0.8889 (95% CI +0.8889 to +0.8889, 8 pairs, "
        "Wilcoxon p 0.007812)."
    )


@pytest.mark.slow
def test_the_parent_run_gets_the_numbers_the_tables_and_the_verdict(sweep, sweep_report):
    data = json.loads((sweep_report / "report.json").read_text())
    seeds = data["training"]["seeds"]
    parent_id = data["source"]["parent_run_id"]
    client = mlflow.MlflowClient(sweep.uri)
    parent = client.get_run(parent_id)
    logged = parent.data.metrics
    for setting in seeds["settings"]:
        for key, sample in setting["metrics"].items():
            for stat in ("n", "mean", "sd", "ci_low", "ci_high"):
                name = f"settings.{setting['key']}.{key}.{stat}"
                assert logged[name] == pytest.approx(sample[stat]), name
    for comparison in seeds["comparisons"]:
        head = (
            f"settings.{comparison['setting']}.vs.{comparison['baseline']}.{comparison['metric']}"
        )
        assert logged[f"{head}.pairs"] == comparison["pairs"]
        assert logged[f"{head}.diff_mean"] == pytest.approx(comparison["diff_mean"])
        if comparison["wilcoxon_p"] is None:
            assert f"{head}.wilcoxon_p" not in logged  # undefined: not logged
        else:
            assert logged[f"{head}.wilcoxon_p"] == pytest.approx(comparison["wilcoxon_p"])
    assert parent.data.tags["skillopt.verdict"] == seeds["verdict"]
    experiment_id = parent.info.experiment_id
    table = client.load_table(experiment_id, "tables/settings.json", run_ids=[parent_id])
    assert len(table) == 4 * 6  # a row per setting and metric
    row = table[(table["setting"] == seeds["baseline"]) & (table["metric"] == "tokens")].iloc[0]
    assert str(row["params.train.edit_budget"]) == "4" and str(row["params.reflect.workers"]) == "8"
    assert row["label"] == "reflect.workers=8, train.edit_budget=4"
    compared = client.load_table(experiment_id, "tables/comparisons.json", run_ids=[parent_id])
    assert len(compared) == 3 * 6
    assert sorted(compared[compared["metric"] == "best.selection_score"]["verdict"]) == [
        "no evidence",
        "worse",
        "worse",
    ]


@pytest.mark.slow
def test_a_second_report_gives_the_same_bytes_and_replaces_the_parents_tables(
    sweep, sweep_report, tmp_path
):
    again = tmp_path / "again"
    assert report_on(sweep, again, "--sweep", "sweep", "--baseline", BASELINE) == 0
    files = sorted(p.relative_to(sweep_report) for p in sweep_report.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert Path("plots/seeds_train.png") in files
    for rel in files:
        if rel.suffix == ".png":
            assert (sweep_report / rel).read_bytes() == (again / rel).read_bytes(), rel
        else:
            assert without_timestamp(sweep_report / rel) == without_timestamp(again / rel), rel
    data = json.loads((again / "report.json").read_text())
    client = mlflow.MlflowClient(sweep.uri)
    parent = client.get_run(data["source"]["parent_run_id"])
    table = client.load_table(
        parent.info.experiment_id, "tables/settings.json", run_ids=[parent.info.run_id]
    )
    assert len(table) == 4 * 6  # replaced, not appended to


@pytest.mark.slow
def test_the_settings_table_and_plot_render_in_a_browser(sweep_report, tmp_path):
    """Headless Chromium: every image decodes (the settings plot among them), no console
    output, both new tables are there, and clicking the tokens header sorts the settings."""
    from tests.test_report_browser import browse, console_lines

    page = sweep_report / "report.html"
    html = page.read_text()
    probe = """
<script>
window.addEventListener("load", function () {
  var head = document.querySelector('#train-settings-table th[data-key="tokens"]');
  head.click();
  var order = Array.prototype.map.call(
    document.querySelectorAll("#train-settings-table tbody tr"),
    function (row) { return row.cells[0].textContent; }).join(",");
  var out = document.createElement("div");
  out.id = "sort-probe";
  out.textContent = order;
  document.body.appendChild(out);
});
</script>
"""
    copy = tmp_path / "probe.html"
    copy.write_text(html.replace("</body>", probe + "</body>"))
    proc = browse(copy, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
    dom = proc.stdout
    images = html.count("<img ")
    check = re.search(r'<div id="render-check"[^>]*>([^<]*)</div>', dom)
    assert check is not None and check.group(1) == f"images-ok {images}/{images}"
    assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="Each metric per setting', dom)
    assert '<table class="sortable seeds" id="train-settings-table">' in dom
    assert '<table class="comparisons" id="train-comparisons-table">' in dom
    settings = json.loads((sweep_report / "report.json").read_text())["training"]["seeds"]
    by_tokens = sorted(settings["settings"], key=lambda s: s["metrics"]["tokens"]["mean"])
    found = re.search(r'<div id="sort-probe">([^<]*)</div>', dom)
    assert found is not None
    assert found.group(1).split(",") == [s["key"] for s in by_tokens]


# -- a store logged by hand: the edge cases ------------------------------------------------------

T0 = 1_760_000_000_000
# best.selection_score per seed 1..5 of budget 2; budget 8 adds these differences.
BUDGET2 = [0.50, 0.60, 0.70, 0.55, 0.65]
DIFFERENCES = [0.10, 0.05, 0.20, 0.10, 0.15]


@dataclass(frozen=True)
class Built:
    root: Path
    ids: dict[str, str]  # name -> run id


def log_run(
    client: mlflow.MlflowClient,
    experiment_id: str,
    *,
    name: str,
    tags: dict[str, str],
    params: dict[str, str],
    metrics: dict[str, float],
    status: str = "FINISHED",
    start: int = 0,
) -> str:
    run = client.create_run(experiment_id, start_time=T0 + start, run_name=name, tags=tags)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, T0, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag("skillopt.overrides", "[]")],
    )
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def child_of(parent_id: str, sweep_id: str, job: int | None = None) -> dict[str, str]:
    """The tags of a job of the sweep whose parent run is `parent_id`."""
    tags = {"mlflow.parentRunId": parent_id, "skillopt.sweep_id": sweep_id}
    return tags | ({"skillopt.job_num": str(job)} if job is not None else {})


def parent(client: mlflow.MlflowClient, experiment_id: str, sweep_id: str) -> str:
    run = client.create_run(experiment_id, start_time=T0, tags={"skillopt.sweep_id": sweep_id})
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    root = tmp_path_factory.mktemp("seeds-built")
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    train = client.create_experiment(TRAIN, artifact_location=(root / "train").as_uri())
    reflect = client.create_experiment(REFLECT, artifact_location=(root / "reflect").as_uri())
    ids: dict[str, str] = {}
    grid = parent(client, train, "grid")
    job = 0

    def train_job(budget: int, seed: int, best: float | None, status: str = "FINISHED") -> str:
        nonlocal job
        metrics = {}
        if best is not None:
            metrics = {
                "best.selection_score": best,
                "test.delta_hard": round(best - 0.4, 6),
                "test.final_hard": best,
                "steps.accepted": float(seed % 2),
                "llm.prompt_tokens": 1000.0 * budget + 10 * seed,
                "llm.completion_tokens": 100.0,
                "llm.cost_usd": 0.0,
            }
        run_id = log_run(
            client,
            train,
            name=f"job{job}",
            tags=child_of(grid, "grid", job) | {"skillopt.job": "train"},
            params={
                "train.edit_budget": str(budget),
                "train.seed": str(seed),
                "env.split_seed": "42",
                "train.schedule": "cosine",
            },
            metrics=metrics,
            status=status,
            start=job,
        )
        job += 1
        return run_id

    for seed, best in enumerate(BUDGET2, 1):
        ids[f"b2s{seed}"] = train_job(2, seed, best)
    for seed, (best, d) in enumerate(zip(BUDGET2, DIFFERENCES, strict=True), 1):
        ids[f"b8s{seed}"] = train_job(8, seed, round(best + d, 6))
    ids["failed"] = train_job(8, 6, None, status="FAILED")
    ids["b16s1"] = train_job(16, 1, 0.9)
    # A replay of budget 2, seed 1: outside the sweep, a run of its own.
    ids["replay"] = log_run(
        client,
        train,
        name="replay",
        tags={"skillopt.job": "train", "skillopt.replay_of": ids["b2s1"]},
        params={"train.edit_budget": "2", "train.seed": "1", "env.split_seed": "42"},
        metrics={"best.selection_score": BUDGET2[0]},
        start=100,
    )
    # A reflect sweep: minibatch size x reflect.seed (and the seeds derived from it).
    mb = parent(client, reflect, "mb")
    for index, (size, seed) in enumerate((s, r) for s in (4, 8) for r in (1, 2, 3, 4)):
        log_run(
            client,
            reflect,
            name=f"mb{index}",
            tags=child_of(mb, "mb", index),
            params={
                "reflect.minibatch_size": str(size),
                "reflect.seed": str(seed),
                "reflect.failure_seed": str(seed),
                "reflect.success_seed": str(seed + 1),
            },
            metrics={
                "payload.items": float(2 * size + seed),
                "minibatches.failed": 0.0,
                "llm.prompt_tokens": 50.0 * size,
                "llm.completion_tokens": 5.0,
                "llm.cost_usd": 0.0,
            },
            start=index,
        )
    # Sweep id "both" in both experiments.
    for experiment in (train, reflect):
        both = parent(client, experiment, "both")
        log_run(
            client,
            experiment,
            name="both",
            tags=child_of(both, "both"),
            params={"train.seed": "1"},
            metrics={},
        )
    return Built(root=root, ids=ids)


def built_report(built: Built, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "r"
    assert report_on(built.root, out, *args) == 0
    return json.loads((out / "report.json").read_text())


def test_few_pairs_one_run_a_failed_run_and_zero_variance(built, tmp_path):
    data = built_report(built, tmp_path, "--sweep", "grid", "--baseline", "train.edit_budget=2")
    seeds = data["training"]["seeds"]
    ids = built.ids
    assert [s["label"] for s in seeds["settings"]] == [
        "train.edit_budget=2",
        "train.edit_budget=8",
        "train.edit_budget=16",
    ]
    two, eight, sixteen = seeds["settings"]
    assert eight["runs"] == [ids[f"b8s{i}"] for i in range(1, 6)]  # the failed run is left out
    assert seeds["left_out"] == [
        {"run_id": ids["failed"], "status": "FAILED", "reason": "ended FAILED"}
    ]
    check_sample(two["metrics"]["best.selection_score"], BUDGET2)
    budget8 = [round(b + d, 6) for b, d in zip(BUDGET2, DIFFERENCES, strict=True)]
    check_sample(eight["metrics"]["best.selection_score"], budget8)
    check_sample(sixteen["metrics"]["best.selection_score"], [0.9])  # n = 1: no sd, no interval
    check_sample(two["metrics"]["llm.cost_usd"], [0.0] * 5)  # zero variance: a point interval
    by_setting = {
        c["setting"]: c for c in seeds["comparisons"] if c["metric"] == "best.selection_score"
    }
    better = by_setting[eight["key"]]
    assert better["pairs"] == 5 and better["verdict"] == "better"
    assert better["differences"] == pytest.approx(DIFFERENCES)
    assert (better["ci_low"], better["ci_high"]) == pytest.approx(expected_interval(DIFFERENCES))
    assert better["wilcoxon_p"] == pytest.approx(
        scipy_stats.wilcoxon(DIFFERENCES, method="exact").pvalue
    )
    # More tokens is worse: fewer is better.
    tokens = [c for c in seeds["comparisons"] if c["metric"] == "tokens"]
    assert [(c["setting"], c["verdict"]) for c in tokens] == [
        (eight["key"], "worse"),
        (sixteen["key"], "too few pairs"),
    ]
    few = by_setting[sixteen["key"]]
    assert few["pairs"] == 1 and few["verdict"] == "too few pairs"
    assert few["ci_low"] is None and few["sd"] is None
    # The verdict: budget 16's one run is the best mean, but one shared seed tells nothing.
    assert seeds["verdict"] == (
        "Best setting by best selection score (higher is better): train.edit_budget=16, mean "
        "0.9 (no interval from 1 run, n = 1); whether it differs from the runner-up "
        "train.edit_budget=8 (mean 0.72) cannot be told from 1 shared seed (4 needed)."
    )
    markdown = (tmp_path / "r" / "report.md").read_text()
    section = md_section(markdown, "## Training settings across seeds")
    assert (
        "1 run left out of the statistics (only finished runs count): "
        f"#10 {ids['failed'][:8]} (ended FAILED)."
    ) in section
    header, *rows = md_rows(section, "setting")
    assert rows[2][header.index("best selection score ↑")] == "0.9 ± — [—, —]"
    assert rows[0][header.index("cost (USD) ↓")] == "0 ± 0 [0, 0]"
    comparisons = md_section(markdown, "### Paired comparisons: best selection score")
    assert comparisons.count("| too few pairs |") == 1 and comparisons.count("| better |") == 1
    for name in ("report.md", "report.html", "report.json"):
        assert not NAN.search((tmp_path / "r" / name).read_text()), name


def test_a_replay_is_left_out_and_a_lone_pair_is_never_a_verdict(built, tmp_path):
    ids = built.ids
    runs = [ids["b2s1"], ids["b8s1"], ids["replay"]]
    data = built_report(built, tmp_path, "--runs", *runs, "--baseline", "train.edit_budget=2")
    seeds = data["training"]["seeds"]
    assert seeds["left_out"] == [
        {"run_id": ids["replay"], "status": "FINISHED", "reason": f"a replay of run {ids['b2s1']}"}
    ]
    assert [len(s["runs"]) for s in seeds["settings"]] == [1, 1]
    assert {c["verdict"] for c in seeds["comparisons"]} == {"too few pairs"}


def test_derived_reflect_seeds_are_one_seed_and_reflect_runs_rank_by_payload_items(built, tmp_path):
    data = built_report(built, tmp_path, "--sweep", "mb")
    seeds = data["seeds"]
    assert data["source"]["experiment"] == REFLECT
    assert seeds["metric"] == "payload.items" and seeds["setting_params"] == [
        "reflect.minibatch_size"
    ]
    assert seeds["varying_seeds"] == ["reflect.seed"]  # failure/success seeds follow from it
    assert [s["seeds"] for s in seeds["settings"]] == [["1", "2", "3", "4"]] * 2
    assert seeds["verdict"].startswith(
        "Best setting by payload items (higher is better): reflect.minibatch_size=8, mean 18.5 "
        "(95% CI 17 to 20, n = 4); it is distinguishable from the runner-up "
        "reflect.minibatch_size=4 (mean 10.5): paired difference +8"
    )
    markdown = (tmp_path / "r" / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["Runs", "Settings across seeds", "Plots", "Runs in detail"]
    assert (tmp_path / "r" / "plots" / "seeds_reflect.png").is_file()
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="settings-table"' in html and 'id="comparisons-table"' in html


def test_without_repeated_seeds_there_is_no_seed_section(built, tmp_path):
    ids = built.ids
    data = built_report(built, tmp_path, "--runs", ids["b2s1"], ids["b8s2"])
    assert data["training"]["seeds"] is None and data["seeds"] is None
    assert "across seeds" not in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "both"], "sweep 'both' is in experiments 'skillopt-reflect' and 'skillopt-"),
        (
            ["--sweep", "nope"],
            "no sweep with id 'nope' in experiments 'skillopt-reflect' or 'skillopt-train' "
            "(known: both, grid, mb)",
        ),
        (["--sweep", "grid", "--baseline", "train.edit_budget=3"], "no setting has it"),
        (["--sweep", "grid", "--baseline", "train.seed=1"], "train.seed is a seed key"),
        (["--sweep", "grid", "--baseline", "train.schedule=cosine"], "matches 3 settings"),
        (["--sweep", "grid", "--baseline", "edit_budget"], "--baseline: expected KEY=VALUE"),
        (["--sweep", "grid", "--metric", "payload.items"], "--metric payload.items: not a"),
        (["--sweep", "grid", "--level", "95"], "--level: the confidence level must be between"),
    ],
)
def test_bad_input_is_one_line(built, tmp_path, capsys, args, message):
    assert report_on(built.root, tmp_path / "r", *args) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("skillopt-report: error: ") and message in line, line
    assert not (tmp_path / "r").exists()


def test_the_sweep_is_found_in_either_experiment(built, tmp_path):
    data = built_report(built, tmp_path, "--sweep", "grid")
    assert data["source"]["experiment"] == TRAIN and data["source"]["sweep_id"] == "grid"
    data = built_report(built, tmp_path, "--sweep", "both", "--experiment", REFLECT)
    assert data["source"]["experiment"] == REFLECT


# -- the decision rule on its own ----------------------------------------------------------------


def test_a_verdict_needs_enough_pairs_all_on_one_side():
    assert stats.MIN_PAIRS == 4
    constant = stats.paired([-0.5] * 4, 0.95)  # a constant difference decides by its sign
    assert constant.side == -1 and constant.differences.low == constant.differences.high == -0.5
    assert constant.wilcoxon_p == pytest.approx(0.125)
    assert stats.paired([-0.5] * 3, 0.95).side == 0  # too few pairs
    assert stats.paired([0.0] * 6, 0.95).side == 0  # identical: never a verdict
    assert stats.paired([0.0] * 6, 0.95).wilcoxon_p is None
    assert stats.paired([0.1, 0.1, 0.1, 0.0], 0.95).side == 0  # a tied seed: the interval holds 0
    # Six pairs: one seed far on the other side keeps 0 in the interval; a small one does not.
    assert stats.paired([0.1, 0.2, 0.15, -0.3, 0.3, 0.25], 0.95).side == 0
    assert stats.paired([0.1, 0.2, 0.15, -0.05, 0.3, 0.25], 0.95).side == 1
    spread = [float(v) for v in np.random.default_rng(7).normal(size=20)]
    assert (stats.sample(spread, 0.9).low, stats.sample(spread, 0.9).high) == pytest.approx(
        expected_interval(spread, 0.9)
    )
    one = stats.sample([3.0], 0.95)
    assert (one.mean, one.sd, one.low, one.high) == (3.0, None, None, None)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stats.check_level(1.0)
