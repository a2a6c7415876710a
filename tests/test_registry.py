"""Skills in MLflow's Prompt Registry (real SQLite store): the versions a training run
registers, their tags, the `best` alias, no duplicate texts, byte-exact round trips of
markdown with template syntax, `prompts:/` skill inputs for both apps, and the size limit
refused before training."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pytest

from tests.cli_helpers import run_reflect
from tests.registry_checks import check_registered_skills

PROMPT = "qa-skill"
# Template syntax MLflow would expand through PromptVersion.format, CRLF line ends and
# non-ASCII text: all must survive registration and loading untouched.
SKILL = (
    "# QA skill\r\n\r\n"
    "## Answer format\n"
    "- Answer with the number and its unit, e.g. {{value}} {{unit}}.\n"
    "- {% if date %}Dates as YYYY-MM-DD{% endif %}; never {{ raw }}.\n"
    "- Température: °C — keep the symbol.\n"
)


def store(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'mlflow.db'}"


def run_id_of(out_dir: Path) -> str:
    return json.loads((out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two training runs registering under one prompt name, from the same initial skill."""
    cwd = tmp_path_factory.mktemp("registry")
    skill = cwd / "skill.md"
    skill.write_bytes(SKILL.encode("utf-8"))
    runs = []
    for out in ("first", "second"):
        run = run_reflect(
            cwd,
            "tracking=local",
            f"registry.prompt={PROMPT}",
            f"env.skill_path={skill}",
            out=out,
            app="train",
        )
        assert run.returncode == 0, run.output
        runs.append(run)
    return cwd, runs


def test_training_registers_initial_accepted_and_final_skills(trained):
    cwd, (first, second) = trained
    client = mlflow.MlflowClient(store(cwd))
    check_registered_skills(client, PROMPT, first.out_dir, run_id_of(first.out_dir))
    versions = client.search_prompt_versions(PROMPT, max_results=1000)
    texts = [v.template for v in versions]
    assert len(texts) == len(set(texts))  # a text is registered once, across both runs
    (initial,) = [v for v in versions if v.template == SKILL]
    assert initial.tags["skillopt.role"] == "initial" and initial.tags["skillopt.step"] == "0"
    assert initial.tags["skillopt.run_id"] == run_id_of(first.out_dir)
    # The second run re-used the initial version and linked it to its own run.
    linked = json.loads(client.get_run(run_id_of(second.out_dir)).data.tags["mlflow.linkedPrompts"])
    assert {"name": PROMPT, "version": str(initial.version)} in linked


def test_prompt_uris_feed_both_apps_byte_for_byte(trained):
    cwd, _ = trained
    reflect = run_reflect(
        cwd, "tracking=local", f"data.skill_path=prompts:/{PROMPT}/1", out="from-version"
    )
    assert reflect.returncode == 0, reflect.output
    fetched = reflect.out_dir / "skill_source.md"
    assert fetched.read_bytes() == SKILL.encode("utf-8")
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id_of(reflect.out_dir),
        artifact_path="skill/skill.md",
        tracking_uri=store(cwd),
        dst_path=str(cwd / "dl"),
    )
    assert Path(downloaded).read_bytes() == SKILL.encode("utf-8")
    params = mlflow.MlflowClient(store(cwd)).get_run(run_id_of(reflect.out_dir)).data.params
    assert params["data.skill_path"] == f"prompts:/{PROMPT}/1"

    best = mlflow.MlflowClient(store(cwd)).get_prompt_version_by_alias(PROMPT, "best")
    train = run_reflect(
        cwd,
        "tracking=local",
        f"env.skill_path=prompts:/{PROMPT}@best",
        "train.epochs=1",
        out="from-alias",
        app="train",
    )
    assert train.returncode == 0, train.output
    assert (train.out_dir / "skills" / "skill_v0000.md").read_bytes() == best.template.encode()
    assert (train.out_dir / "skill_source.md").read_bytes() == best.template.encode("utf-8")


def test_missing_prompt_and_bad_uri_are_one_line_errors(trained):
    cwd, _ = trained
    missing = run_reflect(cwd, "tracking=local", f"data.skill_path=prompts:/{PROMPT}/999")
    assert missing.returncode == 1
    assert f"prompts:/{PROMPT}/999: not found" in missing.output
    bad = run_reflect(cwd, "tracking=local", "data.skill_path=prompts:/a b")
    assert bad.returncode == 1
    assert "data.skill_path=prompts:/a b: expected prompts:/NAME/VERSION" in bad.output


def test_a_skill_the_registry_would_refuse_stops_before_training(tmp_path):
    skill = tmp_path / "big.md"
    skill.write_text("# Skill\n" + "x" * 100_000, encoding="utf-8")
    run = run_reflect(
        tmp_path,
        "tracking=off",
        f"registry.prompt={PROMPT}",
        f"env.skill_path={skill}",
        app="train",
    )
    assert run.returncode == 1
    errors = [line for line in run.output.splitlines() if "error:" in line]
    assert len(errors) == 1 and "at most 100,000" in errors[0], run.output
    assert not (run.out_dir / "llm_calls").exists()  # no call was made


def test_sha256_tag_is_the_texts_digest(trained):
    cwd, _ = trained
    client = mlflow.MlflowClient(store(cwd))
    for version in client.search_prompt_versions(PROMPT, max_results=1000):
        digest = hashlib.sha256(version.template.encode("utf-8")).hexdigest()
        assert version.tags["skillopt.sha256"] == digest
