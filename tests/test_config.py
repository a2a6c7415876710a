"""The config boundary: every config file composes against its schema, and every bad value is
one line and exit status 1, with no MLflow run and no LLM request (in-process, as
lightning-hydra-template's config tests compose the real configs)."""

from __future__ import annotations

import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from skillopt.base.resources import conf_dir
from skillopt.cli import reflect as reflect_app
from skillopt.cli import train as train_app
from skillopt.cli.schemas import ReflectConfig, TrainConfig, load
from skillopt.testing import ChatServer
from tests.conftest import REPO

KEY_ENV = "SKILLOPT_CONFIG_TEST_KEY"
APPS = {"reflect": reflect_app, "train": train_app}


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-config-test")
    GlobalHydra.instance().clear()


def composed(app: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(app, overrides=overrides, return_hydra_config=True)


# Every option of every group, with what it needs to be complete (a mandatory value, a key).
GROUP_OPTIONS = {
    "reflect": {
        "data": {
            "example": [],
            "custom": [
                f"data.rollout_dir={REPO / 'skillopt/examples/qa/rollout'}",
                f"data.skill_path={REPO / 'skillopt/examples/qa/skill.md'}",
            ],
        },
        "model": {
            "offline": [],
            "openai": [f"model.api_key_env={KEY_ENV}"],
            "azure_openai": [
                f"model.api_key_env={KEY_ENV}",
                "model.azure_endpoint=https://r.openai.azure.com",
                "model.deployment=d",
            ],
            "replay": ["model.run_id=0123abcd"],
        },
        "tracking": {"local": [], "server": ["tracking.uri=http://127.0.0.1:5000"], "off": []},
    },
    "train": {
        "env": {
            "qa_sim": [],
            "qa": [
                f"env.data_path={REPO / 'skillopt/examples/qa_sim/dataset.jsonl'}",
                f"env.skill_path={REPO / 'skillopt/examples/qa_sim/skill.md'}",
            ],
            "arithmetic": [],
        },
        "model": {
            "offline": [],
            "openai": [f"model.api_key_env={KEY_ENV}"],
            "azure_openai": [
                f"model.api_key_env={KEY_ENV}",
                "model.azure_endpoint=https://r.openai.azure.com",
                "model.deployment=d",
            ],
            "replay": ["model.run_id=0123abcd"],
        },
        "target": {
            "offline": [],
            "openai": [f"target.api_key_env={KEY_ENV}"],
            "azure_openai": [
                f"target.api_key_env={KEY_ENV}",
                "target.azure_endpoint=https://r.openai.azure.com",
                "target.deployment=d",
            ],
            "replay": ["target.run_id=0123abcd"],
        },
        "tracking": {"local": [], "server": ["tracking.uri=http://127.0.0.1:5000"], "off": []},
        "experiment": {"optuna_budget": []},
    },
}


def test_every_group_option_has_a_case_here():
    for app, groups in GROUP_OPTIONS.items():
        for group, options in groups.items():
            on_disk = {p.stem for p in (conf_dir() / group).glob("*.yaml")}
            assert set(options) == on_disk, (app, group)


@pytest.mark.parametrize(
    ("app", "group", "option"),
    [
        (app, group, option)
        for app, groups in GROUP_OPTIONS.items()
        for group, options in groups.items()
        for option in options
    ],
)
def test_every_config_file_composes_and_loads_checked(app, group, option):
    extra = GROUP_OPTIONS[app][group][option]
    cfg = composed(app, [f"{group}={option}", *extra])
    config = load(cfg)
    assert isinstance(config, TrainConfig if app == "train" else ReflectConfig)
    if group in ("model", "target"):
        role = config.model if group == "model" else config.target  # type: ignore[union-attr]
        assert role.backend == option


def test_a_config_file_value_of_the_wrong_type_fails_at_composition(tmp_path):
    overlay = tmp_path / "model"
    overlay.mkdir()
    (overlay / "broken.yaml").write_text(
        "defaults:\n  - /schema/model/offline@_here_\n  - _self_\nname: x\nmax_calls: many\n"
    )
    with pytest.raises(Exception, match="max_calls"):
        composed("reflect", [f"hydra.searchpath=[file://{tmp_path}]", "model=broken"])


# (app, overrides, what the one line must say). The key and the value given are in every line.
BAD = [
    ("reflect", ["reflect.minibatch_size=abc"], "reflect.minibatch_size=abc: expected an integer"),
    ("reflect", ["reflect.minibatch_size=0"], "reflect.minibatch_size=0: expected an integer >= 1"),
    ("reflect", ["reflect.edit_budget=-5"], "reflect.edit_budget=-5: expected an integer >= -1"),
    ("reflect", ["reflect.seed=1.5"], "reflect.seed=1.5: expected an integer"),
    (
        "reflect",
        ["reflect.max_trajectory_chars=-1"],
        "reflect.max_trajectory_chars=-1: expected an integer >= 0",
    ),
    ("reflect", ["reflect.workers=0"], "reflect.workers=0: expected an integer >= 1"),
    (
        "reflect",
        ["reflect.update_mode=gradient"],
        "reflect.update_mode=gradient: expected one of patch, rewrite_from_suggestions, full_rewrite_minibatch (aliases: edits->patch",
    ),
    (
        "reflect",
        ["reflect.failure_only=maybe"],
        "reflect.failure_only=maybe: expected true or false",
    ),
    ("reflect", ["reflect.clip.message=-3"], "reflect.clip.message=-3: expected an integer >= 0"),
    ("reflect", ["+reflect.minibatch=3"], "reflect.minibatch=3: no such key"),
    ("reflect", ["model.max_calls=-1"], "model.max_calls=-1: expected an integer >= 0 (or null)"),
    (
        "reflect",
        ["model.max_cost_usd=-2"],
        "model.max_cost_usd=-2.0: expected a number >= 0 (or null)",
    ),
    ("reflect", ["model.parse_retries=-1"], "model.parse_retries=-1: expected an integer >= 0"),
    ("reflect", ["model.temperature=3"], "model.temperature=3.0: expected a number >= 0 and <= 2"),
    ("reflect", ["model.max_tokens=0"], "model.max_tokens=0: expected an integer >= 1"),
    ("reflect", ["model.timeout_s=0"], "model.timeout_s=0.0: expected a number > 0"),
    (
        "reflect",
        ["model.token_param=max_len"],
        "model.token_param=max_len: expected one of max_completion_tokens, max_tokens",
    ),
    (
        "reflect",
        ["model.max_retries=-1"],
        "model.max_retries=-1: expected an integer >= 0 and <= 20",
    ),
    (
        "reflect",
        ["model.price.input_per_mtok=-1"],
        "model.price.input_per_mtok=-1.0: expected a number >= 0",
    ),
    (
        "reflect",
        [f"model.api_key_env={KEY_ENV}_UNSET"],
        f"model.api_key_env={KEY_ENV}_UNSET: names an environment variable that is not set",
    ),
    (
        "reflect",
        ["model=claude"],
        "model=claude: choose one of azure_openai, offline, openai, replay",
    ),
    (
        "reflect",
        ["model.backend=claude"],
        "model.backend=claude: expected one of azure_openai, offline, openai, replay",
    ),
    (
        "reflect",
        ["data.on_bad_record=ignore"],
        "data.on_bad_record=ignore: expected one of error, skip",
    ),
    ("reflect", ["data=custom"], "data.rollout_dir is required but not set"),
    (
        "reflect",
        ["data.skill_path=nowhere.md"],
        "data.skill_path=nowhere.md: expected an existing skill file",
    ),
    (
        "reflect",
        ["context.step_buffer=x", "context.step_buffer_file=f.md"],
        "context.step_buffer_file=f.md: give step_buffer or step_buffer_file, not both",
    ),
    (
        "reflect",
        ["tracking.trace_llm_calls=sometimes"],
        "tracking.trace_llm_calls=sometimes: expected true or false",
    ),
    (
        "reflect",
        ["tracking.uri=postgresql://u:hunter2@127.0.0.1/mlflow"],
        "tracking.uri=postgresql://u:***@127.0.0.1/mlflow: expected no password in the URI",
    ),
    ("train", ["tracking.timeout_s=0"], "tracking.timeout_s=0: expected an integer >= 1"),
    ("train", ["tracking.max_retries=-1"], "tracking.max_retries=-1: expected an integer >= 0"),
    (
        "train",
        ["tracking.flush_timeout_s=0"],
        "tracking.flush_timeout_s=0.0: expected a number >= 1",
    ),
    (
        "reflect",
        ["prompts.dirs=[nowhere]"],
        "prompts.dirs[0]=nowhere: expected an existing directory",
    ),
    (
        "train",
        ["train.pair_policy=bogus"],
        "train.pair_policy=bogus: expected one of mixed, unchanged, changed",
    ),
    (
        "train",
        ["train.schedule=exponential"],
        "train.schedule=exponential: expected one of constant, linear, cosine",
    ),
    ("train", ["train.epochs=0"], "train.epochs=0: expected an integer >= 1"),
    ("train", ["train.batch_size=-2"], "train.batch_size=-2: expected an integer >= 1"),
    (
        "train",
        ["train.min_edit_budget=5"],
        "train.min_edit_budget=5: expected at most train.edit_budget (4)",
    ),
    ("train", ["train.merge_batch_size=1"], "train.merge_batch_size=1: expected an integer >= 2"),
    (
        "train",
        ["train.slow_update_samples=0"],
        "train.slow_update_samples=0: expected an integer >= 1",
    ),
    ("train", ["train.seed=x"], "train.seed=x: expected an integer"),
    ("train", ["gate.metric=f1"], "gate.metric=f1: expected one of hard, soft, mixed"),
    ("train", ["gate.mixed_weight=1.5"], "gate.mixed_weight=1.5: expected a number >= 0 and <= 1"),
    ("train", ["gate.selection_size=-1"], "gate.selection_size=-1: expected an integer >= 0"),
    (
        "train",
        ["env.split_ratio=4:3"],
        "env.split_ratio=4:3: expected 'train:selection:test' weights",
    ),
    ("train", ["env.limit=-1"], "env.limit=-1: expected an integer >= 0"),
    ("train", ["env.split_seed=abc"], "env.split_seed=abc: expected an integer"),
    ("train", ["env=qa"], "env.data_path is required but not set"),
    ("train", ["target.workers=0"], "target.workers=0: expected an integer >= 1"),
    ("train", ["target.max_tokens=0"], "target.max_tokens=0: expected an integer >= 1"),
    ("train", ["reflect.minibatch_size=0"], "reflect.minibatch_size=0: expected an integer >= 1"),
    ("train", ["+reflect.edit_budget=2"], "reflect.edit_budget=2: no such key"),
    ("train", ["fault.stop_after_step=0"], "fault.stop_after_step=0: expected an integer >= 1"),
    ("train", ["train.accumulation=0"], "train.accumulation=0: expected an integer >= 1"),
    ("train", ["train.accumulation=two"], "train.accumulation=two: expected an integer"),
    (
        "train",
        ["train.schedule=self"],
        "train.schedule=self: expected one of constant, linear, cosine, autonomous",
    ),
    ("train", ["reflect.skill_aware=maybe"], "reflect.skill_aware=maybe: expected true or false"),
    ("reflect", ["reflect.skill_aware=1.5"], "reflect.skill_aware=1.5: expected true or false"),
    (
        "train",
        ["train.appendix_consolidate_threshold=-1"],
        "train.appendix_consolidate_threshold=-1: expected an integer >= 0",
    ),
]


@pytest.fixture(scope="module")
def chat_server():
    with ChatServer() as server:
        yield server


@pytest.mark.parametrize(("app", "overrides", "message"), BAD, ids=[" ".join(o) for _, o, _ in BAD])
def test_a_bad_value_is_one_line_exit_1_no_run_no_call(
    app, overrides, message, tmp_path, monkeypatch, capsys, chat_server
):
    chat_server.clear()
    monkeypatch.chdir(tmp_path)
    # Real endpoints for both roles, so an LLM request would reach the server; tracking is the
    # default local store in this directory, so an MLflow run would leave mlflow.db behind.
    roles = [
        "model=openai",
        f"model.base_url={chat_server.base_url}",
        f"model.api_key_env={KEY_ENV}",
    ]
    if app == "train":
        roles += [
            "target=openai",
            f"target.base_url={chat_server.base_url}",
            f"target.api_key_env={KEY_ENV}",
        ]
    argv = [f"skillopt-{app}", "hydra.run.dir=out", *roles, *overrides]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        APPS[app].main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"skillopt-{app}: error: {lines[0].split('error: ', 1)[1]}"], err
    assert message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "out" / "llm_calls").exists()
    assert chat_server.request_count == 0


# Bad Azure values (the role groups are chosen here, so no openai roles are prepended).
BAD_AZURE = [
    (
        "train",
        ["model=azure_openai", "model.deployment=d"],
        "model.azure_endpoint is required but not set",
    ),
    (
        "train",
        [
            "model=azure_openai",
            "model.azure_endpoint=https://r.openai.azure.com",
            "model.deployment=d",
            "model.auth=password",
        ],
        "model.auth=password: expected one of key, entra_id",
    ),
    (
        "train",
        [
            "target=azure_openai",
            "target.azure_endpoint=https://r.openai.azure.com",
            "target.deployment=d",
            "target.api_key_env=SKILLOPT_UNSET_AZURE_KEY",
        ],
        "target.api_key_env=SKILLOPT_UNSET_AZURE_KEY: names an environment variable that is not set",
    ),
]


@pytest.mark.parametrize(
    ("app", "overrides", "message"), BAD_AZURE, ids=[o[-1] for _, o, _ in BAD_AZURE]
)
def test_a_bad_azure_value_is_one_line_exit_1_and_no_run(
    app, overrides, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"skillopt-{app}", "hydra.run.dir=out", *overrides])
    with pytest.raises(SystemExit) as exited:
        APPS[app].main()
    assert exited.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "out" / "llm_calls").exists()


def test_a_bad_value_in_any_job_of_a_sweep_stops_it_before_the_first(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["skillopt-reflect", "-m", "hydra.sweep.dir=sweep", "reflect.minibatch_size=4,8,0"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        reflect_app.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == "skillopt-reflect: error: reflect.minibatch_size=0: expected an integer >= 1"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "sweep").exists()


def test_help_names_the_apps_groups_and_the_schemas(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["skillopt-train", "--help"])
    with pytest.raises(SystemExit) as exited:
        train_app.main()
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "skillopt-train: train a skill document" in out
    assert (
        "env: arithmetic, qa, qa_sim" in out
        and "target: azure_openai, offline, openai, replay" in out
    )
