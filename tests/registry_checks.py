"""What a training run with `registry.prompt` must leave in the Prompt Registry, checked the
same way against any store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_exact(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def check_registered_skills(client: Any, prompt: str, out_dir: Path, run_id: str) -> None:
    """The run's initial, accepted and final skills are versions of `prompt` (tags: run, step,
    role, gate metric and score, sha256); `best` points at best_skill.md's text; the versions
    are linked to the run."""
    versions = {int(v.version): v for v in client.search_prompt_versions(prompt, max_results=1000)}
    by_text = {v.template: v for v in versions.values()}
    history = json.loads((out_dir / "history.json").read_text())
    accepted = [h for h in history if h["action"] in ("accept", "accept_new_best", "force_accept")]
    assert accepted, "the run accepted nothing; the test needs a run that does"
    for record in accepted:
        text = read_exact(out_dir / "skills" / f"skill_v{record['step']:04d}.md")
        version = by_text[text]  # registered, byte for byte
        if (
            version.tags["skillopt.run_id"] == run_id
            and version.tags["skillopt.role"] == "accepted"
        ):
            assert version.tags["skillopt.step"] == str(record["step"])
            assert version.tags["skillopt.gate_metric"] == record["gate_metric"]
            assert float(version.tags["skillopt.gate_score"]) == pytest_approx(record["gate_score"])
    final = by_text[read_exact(out_dir / "final_skill.md")]
    assert final.tags["skillopt.sha256"]
    best_text = read_exact(out_dir / "best_skill.md")
    best = client.get_prompt_version_by_alias(prompt, "best")
    assert best.template == best_text
    linked = json.loads(client.get_run(run_id).data.tags["mlflow.linkedPrompts"])
    assert {"name": prompt, "version": str(final.version)} in linked


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=1e-9)
