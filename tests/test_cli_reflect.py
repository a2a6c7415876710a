"""`skillopt-reflect` as a subprocess: real Hydra composition, real files, real HTTP for `openai`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from skillopt.engine.formatting import TRUNCATION_MARKER
from skillopt.testing import ChatServer, offline_responder
from tests.cli_helpers import run_reflect
from tests.conftest import scored_rows, write_rollout

KEY_ENV = "SKILLOPT_CLI_TEST_KEY"
KEY = "sk-cli-test-0000"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(offline_responder()) as srv:
        yield srv


def openai_overrides(server: ChatServer) -> list[str]:
    return [
        "model=openai",
        f"model.base_url={server.base_url}",
        f"model.api_key_env={KEY_ENV}",
        "model.json_schema=true",
        "model.max_retries=0",
    ]


def test_quickstart_runs_offline_on_the_bundled_example(tmp_path):
    run = run_reflect(tmp_path)
    assert run.returncode == 0, run.output
    summary = run.summary
    assert summary["trajectories"] == {
        "total": 28,
        "failures": 16,
        "successes": 12,
        "skipped": 1,
        "skipped_ids": ["qa-027"],
        "bad_records": [],
    }
    assert summary["minibatches"]["total"] == 4 and summary["minibatches"]["ok"] == 4
    assert summary["settings"]["success_seed"] == 43
    names = ["minibatch_fail_000", "minibatch_fail_001", "minibatch_succ_000", "minibatch_succ_001"]
    assert sorted(p.stem for p in (run.out_dir / "patches").glob("*.json")) == names
    assert sorted(p.stem for p in (run.out_dir / "trajectories").glob("*.md")) == names
    assert sorted(p.stem for p in (run.out_dir / "prompts" / "system").glob("*.md")) == [
        "analyst_error",
        "analyst_success",
    ]
    assert len(list((run.out_dir / "llm_calls").glob("*.json"))) == 4
    holding_long = [e["minibatch"] for e in summary["plan"] if "qa-013" in e["ids"]]
    assert (
        TRUNCATION_MARKER.strip()
        in (run.out_dir / "trajectories" / f"{holding_long[0]}.md").read_text()
    )
    assert "stand-in, not an optimizer" in run.output
    assert "done: 4 minibatches (4 ok" in run.output


def test_resume_repeats_only_the_missing_call_and_a_new_plan_reuses_nothing(
    tmp_path, server, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, KEY)
    first = run_reflect(tmp_path, *openai_overrides(server))
    assert first.returncode == 0, first.output
    assert server.request_count == 4
    old_plan = {tuple(e["ids"]) for e in first.summary["plan"]}
    before = {p.name: json.loads(p.read_text()) for p in (first.out_dir / "patches").glob("*.json")}

    victim = sorted((first.out_dir / "llm_calls").glob("*.json"))[0]
    victim.unlink()
    second = run_reflect(tmp_path, *openai_overrides(server))
    assert second.returncode == 0, second.output
    assert server.request_count == 5  # exactly one new request
    assert second.summary["minibatches"]["resumed"] == 3
    assert second.summary["llm"]["cache_hits"] == 3 and second.summary["llm"]["calls"] == 1
    after = {p.name: json.loads(p.read_text()) for p in (second.out_dir / "patches").glob("*.json")}
    assert after == before

    third = run_reflect(tmp_path, *openai_overrides(server), "reflect.minibatch_size=4")
    assert third.returncode == 0, third.output
    # 16 failures -> 4 minibatches, 12 successes -> 3. The last success chunk holds the same four
    # trajectories in the same order as M=8's last chunk, so its request is identical and reusing
    # that record is correct; every other request is new.
    reused = [e for e in third.summary["plan"] if tuple(e["ids"]) in old_plan]
    assert [e["minibatch"] for e in reused] == ["minibatch_succ_002"]
    assert (
        third.summary["minibatches"]["resumed"] == len(reused) == third.summary["llm"]["cache_hits"]
    )
    assert server.request_count == 5 + 7 - len(reused)
    patches = {
        p.stem: json.loads(p.read_text()) for p in (third.out_dir / "patches").glob("*.json")
    }
    assert len(patches) == 7 and all(len(p["ids"]) <= 4 for p in patches.values())
    planned = {e["minibatch"]: e["ids"] for e in third.summary["plan"]}
    assert all(
        patches[name]["ids"] == [i for i in ids if i != "qa-027"] for name, ids in planned.items()
    )


def test_api_key_never_reaches_the_output(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    run = run_reflect(tmp_path, *openai_overrides(server))
    assert run.returncode == 0, run.output
    assert KEY not in run.output
    for path in run.out_dir.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was really used


def test_a_failing_call_fails_its_minibatch_only(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    from skillopt.testing import Reply, error_body

    answer = offline_responder()

    def flaky(body, index):
        if "minibatch" in str(body) and "(id=qa-020)" in body["messages"][-1]["content"]:
            return Reply(status=400, error_body=error_body(400, "context too long"))
        return answer(body, index)

    server.responder = flaky
    run = run_reflect(tmp_path, *openai_overrides(server))
    assert run.returncode == 0, run.output
    failed = run.summary["failed_minibatches"]
    assert len(failed) == 1 and failed[0]["reason"] == "llm_error"
    assert "HTTP 400" in failed[0]["error"] and "context too long" in failed[0]["error"]
    assert failed[0]["minibatch"] not in {p.stem for p in (run.out_dir / "patches").glob("*.json")}
    assert run.summary["minibatches"]["ok"] == 3
    assert f"failed: {failed[0]['minibatch']} (llm_error)" in run.output


def test_call_budget_from_config(tmp_path):
    run = run_reflect(tmp_path, "model.max_calls=1", "reflect.workers=1")
    assert run.returncode == 0, run.output
    reasons = [f["reason"] for f in run.summary["failed_minibatches"]]
    assert reasons == ["budget"] * 3 and run.summary["llm"]["calls"] == 1


def test_dry_run_writes_requests_and_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    run = run_reflect(
        tmp_path, "model=openai", "reflect.dry_run=true", "reflect.update_mode=full_rewrite"
    )
    assert run.returncode == 0, run.output
    estimate = run.summary["dry_run_estimate"]
    assert estimate["requests"] == 4 and estimate["prompt_tokens"] > 1000
    assert estimate["input_cost_usd"] == pytest.approx(
        estimate["prompt_tokens"] * 0.4 / 1e6, abs=1e-6
    )
    assert not (run.out_dir / "llm_calls").exists() and not (run.out_dir / "patches").exists()
    assert "## Update Format" in (run.out_dir / "prompts" / "minibatch_fail_000.md").read_text()
    assert "nothing was called" in run.output


def test_prompt_override_dir_and_context_files(tmp_path):
    overrides = tmp_path / "my_prompts"
    overrides.mkdir()
    (overrides / "analyst_error.md").write_text("CUSTOM ERROR ANALYST")
    (tmp_path / "buffer.md").write_text("Step 3 rejected: adding a units rule.")
    run = run_reflect(
        tmp_path,
        f"prompts.dirs=[{overrides}]",
        "context.step_buffer_file=buffer.md",
        "context.meta_skill='Prefer one precise rule over two vague ones.'",
    )
    assert run.returncode == 0, run.output
    assert (
        run.out_dir / "prompts" / "system" / "analyst_error.md"
    ).read_text() == "CUSTOM ERROR ANALYST"
    sent = (run.out_dir / "prompts" / "minibatch_fail_000.md").read_text()
    assert sent.startswith("# System message\n\nCUSTOM ERROR ANALYST")
    assert "## Previous Steps in This Epoch\nStep 3 rejected: adding a units rule." in sent
    assert "## Optimizer Meta Skill" in sent and "Prefer one precise rule" in sent
    assert "CUSTOM" not in (run.out_dir / "prompts" / "minibatch_succ_000.md").read_text()


def test_bad_results_line_names_file_and_line_then_skip_lists_it(tmp_path):
    skill = tmp_path / "skill.md"
    skill.write_text("# Skill\n")
    root = write_rollout(tmp_path / "rollout", scored_rows(3, 2), raw_lines=["{broken"])
    args = ["data=custom", f"data.rollout_dir={root}", f"data.skill_path={skill}"]
    run = run_reflect(tmp_path, *args)
    assert run.returncode == 1
    assert f"{root}/results.jsonl:6: not valid JSON" in run.output and "Traceback" not in run.output
    run = run_reflect(tmp_path, *args, "data.on_bad_record=skip")
    assert run.returncode == 0, run.output
    assert run.summary["trajectories"]["bad_records"][0]["location"] == f"{root}/results.jsonl:6"
    assert "skipped bad record" in run.output
