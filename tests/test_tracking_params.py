"""What becomes params, tags and logged config: pure functions, no MLflow."""

from __future__ import annotations

from skillopt.tracking.names import Param
from skillopt.tracking.params import (
    REDACTED,
    is_secret_key,
    job_params,
    override_key,
    redact,
    run_name,
)


def test_secret_keys():
    for key in [
        "api_key",
        "model.api_key",
        "openai_api_key",
        "hf_token",
        "db.password",
        "client_secret",
        "API-KEY",
    ]:
        assert is_secret_key(key), key
    for key in [
        "api_key_env",
        "max_tokens",
        "token_param",
        "model.name",
        "secretary",
        "passwords_file",
    ]:
        assert not is_secret_key(key), key


def test_redact_reaches_nested_values_and_override_strings():
    cfg = {
        "model": {"api_key": "sk-1", "api_key_env": "OPENAI_API_KEY", "max_tokens": 5},
        "hydra": {
            "overrides": {"task": ["model.api_key=sk-2", "+hf_token=abc", "model.max_tokens=5"]},
            "job": {"override_dirname": "model.api_key=sk-3,reflect.seed=1"},
        },
    }
    out = redact(cfg)
    assert out["model"] == {"api_key": REDACTED, "api_key_env": "OPENAI_API_KEY", "max_tokens": 5}
    assert out["hydra"]["overrides"]["task"] == [
        f"model.api_key={REDACTED}",
        f"+hf_token={REDACTED}",
        "model.max_tokens=5",
    ]
    assert out["hydra"]["job"]["override_dirname"] == f"model.api_key={REDACTED},reflect.seed=1"
    assert "sk-" not in str(out)


def test_override_keys_and_run_names():
    assert override_key("+reflect.x=1") == ("reflect.x", "1")
    assert override_key("~reflect.x") == ("reflect.x", "")
    assert override_key("model=openai") == ("model", "openai")
    assert run_name(
        ["reflect.minibatch_size=4", "reflect.seed=7", "model=openai", "hydra.run.dir=x"]
    ) == ("minibatch_size=4,model=openai")
    assert run_name(["reflect.seed=7", "tracking=local"]) == "default"


def _cfg(**reflect):
    base = {
        "reflect": {
            "minibatch_size": 8,
            "edit_budget": 4,
            "update_mode": "rewrite",
            "seed": 42,
            "failure_only": False,
            "workers": 8,
            "max_trajectory_chars": 12000,
            **reflect,
        },
        "model": {
            "backend": "offline",
            "name": "stand-in",
            "api_key": "sk-secret",
            "price": {"input_per_mtok": 1.0},
        },
        "data": {"rollout_dir": "r", "skill_path": "s.md"},
        "prompts": {"dirs": ["a", "b"]},
        "context": {"meta_skill": "x" * (Param.MAX_CHARS + 1)},
    }
    return base


def test_curated_params_plus_overridden_keys():
    params, too_long = job_params(
        _cfg(),
        [
            "reflect.seed=42",
            "model=openai",
            "model.price.input_per_mtok=1.0",
            "model.api_key=sk-secret",
            "prompts.dirs=[a,b]",
            "context.meta_skill=long",
            "hydra.run.dir=out",
        ],
    )
    assert set(Param.REFLECT) <= set(params)
    assert params["reflect.update_mode"] == "rewrite_from_suggestions"  # canonical name
    assert params["reflect.failure_seed"] == "42" and params["reflect.success_seed"] == "43"
    assert params["model"] == "openai"  # a group choice: the option's name
    assert params["model.price.input_per_mtok"] == "1.0"
    assert params["model.api_key"] == REDACTED
    assert "hydra.run.dir" not in params
    assert set(too_long) == {
        "prompts.dirs",
        "context.meta_skill",
    }  # a list, and a value over 6000 chars
    assert all(len(v) <= Param.MAX_CHARS for v in params.values())
