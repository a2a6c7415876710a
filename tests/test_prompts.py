from __future__ import annotations

import pytest

from skillopt.base.errors import ConfigError
from skillopt.base.modes import SPECS, UpdateMode
from skillopt.base.resources import prompts_dir
from skillopt.engine.prompts import PromptLibrary, build_user_message, template_name

ALL_TEMPLATES = [
    template_name(spec, kind) for spec in SPECS.values() for kind in ("failure", "success")
]


def test_six_builtin_templates_exist_and_name_their_reply_key():
    library = PromptLibrary(builtin_dir=prompts_dir())
    assert sorted(ALL_TEMPLATES) == sorted(
        [
            "analyst_error",
            "analyst_success",
            "analyst_error_rewrite",
            "analyst_success_rewrite",
            "analyst_error_full_rewrite",
            "analyst_success_full_rewrite",
        ]
    )
    for spec in SPECS.values():
        for kind, findings in [("failure", "failure_summary"), ("success", "success_patterns")]:
            text = library.get(template_name(spec, kind)).text
            assert f'"{spec.key}"' in text and f'"{findings}"' in text
            assert "SLOW_UPDATE_START" in text


def test_override_dirs_win_in_order(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "analyst_error.md").write_text("from b")
    (first / "analyst_success.md").write_text("from a")
    (second / "analyst_success.md").write_text("from b")
    library = PromptLibrary(builtin_dir=prompts_dir(), override_dirs=[first, second])
    assert library.get("analyst_error").text == "from b"
    assert library.get("analyst_success").text == "from a"
    assert library.get("analyst_error_rewrite").path.parent == prompts_dir()


def test_missing_override_dir_and_template_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        PromptLibrary(builtin_dir=prompts_dir(), override_dirs=[tmp_path / "nope"])
    with pytest.raises(ConfigError, match="'analyst_missing.md' not found"):
        PromptLibrary(builtin_dir=prompts_dir()).get("analyst_missing")


def _sections(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("## ")]


def test_user_message_sections_in_order():
    message = build_user_message(
        skill="# Skill\n- rule",
        spec=SPECS[UpdateMode.PATCH],
        kind="failure",
        edit_budget=3,
        trajectories_block="### Trajectory 1 (id=a)",
        trajectory_count=1,
        step_context="step 1 rejected X",
        meta_skill="prefer small edits",
    )
    assert _sections(message) == [
        "## Current Skill",
        "## Edits Budget",
        "## Previous Steps in This Epoch",
        "## Optimizer Meta Skill",
        "## Failed Trajectories (1 total)",
    ]
    assert "Propose at most 3 edits" in message
    assert (
        message.index("step 1 rejected X")
        < message.index("prefer small edits")
        < message.index("id=a")
    )


def test_user_message_optional_sections_and_modes():
    rewrite = build_user_message(
        skill="S",
        spec=SPECS[UpdateMode.REWRITE_FROM_SUGGESTIONS],
        kind="success",
        edit_budget=1,
        trajectories_block="T",
        trajectory_count=5,
    )
    assert _sections(rewrite) == [
        "## Current Skill",
        "## Suggestions Budget",
        "## Successful Trajectories (5 total)",
    ]
    assert "at most 1 suggestion;" in rewrite
    full = build_user_message(
        skill="S",
        spec=SPECS[UpdateMode.FULL_REWRITE_MINIBATCH],
        kind="failure",
        edit_budget=4,
        trajectories_block="T",
        trajectory_count=2,
        step_context="  ",
    )
    assert _sections(full) == [
        "## Current Skill",
        "## Update Format",
        "## Failed Trajectories (2 total)",
    ]
    assert "exactly one skill candidate" in full
    unlimited = build_user_message(
        skill="S",
        spec=SPECS[UpdateMode.PATCH],
        kind="failure",
        edit_budget=-1,
        trajectories_block="T",
        trajectory_count=1,
    )
    assert "No fixed limit" in unlimited
