"""The reflect engine end to end on the offline stand-in (no network): plan, call, validate, order."""

from __future__ import annotations

import json

import pytest

from skillopt.base.errors import ConfigError
from skillopt.base.modes import mode_spec
from skillopt.base.resources import prompts_dir
from skillopt.base.rollout import load_rollout
from skillopt.engine.output import OutputWriter
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.llm import CallCache, Ledger, LLMClient, Price
from skillopt.llm.ledger import Budget
from skillopt.sim.optimizer import OfflineOptimizer
from tests.conftest import scored_rows

SKILL = "# QA skill\n\n## Answer format\n- Answer briefly.\n"
PROMPTS = PromptLibrary(builtin_dir=prompts_dir())
REQUESTS = RequestSettings(name="offline-stand-in")


def reflect(rollout, *, client=None, out_dir=None, **settings):
    client = client or LLMClient(backend=OfflineOptimizer(), ledger=Ledger())
    settings = ReflectSettings(**settings)
    return run_reflect(
        rollout=rollout,
        skill=SKILL,
        settings=settings,
        requests=REQUESTS,
        prompts=PROMPTS,
        client=client,
        observer=None
        if out_dir is None
        else OutputWriter(out_dir, spec=mode_spec(settings.update_mode)),
    )


@pytest.mark.parametrize("mode", ["patch", "rewrite_from_suggestions", "full_rewrite_minibatch"])
def test_every_mode_yields_valid_items_within_budget(make_rollout, mode):
    rollout = load_rollout(make_rollout(scored_rows(9, 5)))
    outcome = reflect(rollout, minibatch_size=4, edit_budget=2, update_mode=mode, workers=3)
    assert [r.name for r in outcome.results] == [
        "minibatch_fail_000",
        "minibatch_fail_001",
        "minibatch_fail_002",
        "minibatch_succ_000",
        "minibatch_succ_001",
    ]
    assert all(r.status == "ok" for r in outcome.results)
    expected = 1 if mode == "full_rewrite_minibatch" else 2
    for result in outcome.results:
        proposed = result.reply["patch"][outcome.spec.key]
        assert len(result.items) == min(expected, len(proposed))
        assert result.truncated == len(proposed) - len(result.items)
        assert all(item["source_type"] == result.minibatch.kind for item in result.items)
        assert all(item["support_count"] == len(result.shown_ids) for item in result.items)
        document = result.patch_document(outcome.spec)
        assert document["patch"][outcome.spec.key] == result.items
        assert document["ids"] == list(result.minibatch.ids)
    assert outcome.llm.calls == 5
    if mode != "full_rewrite_minibatch":
        assert sum(r.truncated for r in outcome.results) > 0  # the budget really cut something


def test_aliases_are_normalised_and_unknown_modes_refused(make_rollout):
    assert ReflectSettings(update_mode="suggestions").update_mode == "rewrite_from_suggestions"
    with pytest.raises(ConfigError, match="update_mode=gradient: expected one of patch"):
        ReflectSettings(update_mode="gradient")
    with pytest.raises(ConfigError, match="workers"):
        ReflectSettings(workers=0)


def test_results_are_ordered_by_name_whatever_the_completion_order(make_rollout):
    rollout = load_rollout(make_rollout(scored_rows(40, 0)))
    outcome = reflect(rollout, minibatch_size=1, workers=8)
    names = [r.name for r in outcome.results]
    assert names == sorted(names) and len(names) == 40


def test_skipped_conversations_are_left_out_and_an_all_skipped_minibatch_makes_no_call(
    make_rollout,
):
    rows = scored_rows(4, 0)
    root = make_rollout(rows, conversations={"f000": None, "f001": [], "f002": None, "f003": None})
    rollout = load_rollout(root)
    outcome = reflect(rollout, minibatch_size=2, seed=None)
    assert [r.status for r in outcome.results] == ["empty", "empty"]
    assert outcome.llm.calls == 0
    root = make_rollout(scored_rows(3, 0), conversations={"f001": None})
    outcome = reflect(load_rollout(root), minibatch_size=3, seed=None)
    (result,) = outcome.results
    assert result.shown_ids == ("f000", "f002") and result.skipped_ids == ("f001",)
    assert "## Failed Trajectories (2 total)" in result.user
    assert "### Trajectory 2 (id=f002)" in result.user


def test_call_budget_fails_the_remaining_minibatches_with_reason_budget(make_rollout):
    rollout = load_rollout(make_rollout(scored_rows(6, 0)))
    client = LLMClient(backend=OfflineOptimizer(), ledger=Ledger(budget=Budget(max_calls=2)))
    outcome = reflect(rollout, client=client, minibatch_size=1, workers=1, seed=None)
    statuses = [(r.status, r.failure_reason) for r in outcome.results]
    assert statuses == [("ok", None)] * 2 + [("failed", "budget")] * 4
    assert "max_calls=2" in outcome.results[-1].error
    assert client.ledger.calls == 2


def test_cost_budget_stops_new_calls(make_rollout):
    rollout = load_rollout(make_rollout(scored_rows(5, 0)))
    ledger = Ledger(price=Price(input_per_mtok=1000.0), budget=Budget(max_cost_usd=0.01))
    outcome = reflect(
        rollout,
        client=LLMClient(backend=OfflineOptimizer(), ledger=ledger),
        minibatch_size=1,
        workers=1,
    )
    assert [r.status for r in outcome.results][:1] == ["ok"]
    assert {r.failure_reason for r in outcome.results[1:]} == {"budget"}
    assert ledger.cost_usd >= 0.01


def test_dry_run_builds_requests_and_calls_nothing(make_rollout, tmp_path):
    rollout = load_rollout(make_rollout(scored_rows(5, 3)))
    outcome = run_reflect(
        rollout=rollout,
        skill=SKILL,
        settings=ReflectSettings(minibatch_size=4, dry_run=True),
        requests=REQUESTS,
        prompts=PROMPTS,
        client=None,
        observer=OutputWriter(tmp_path, spec=mode_spec("patch")),
        price=Price(input_per_mtok=2.0),
    )
    assert [r.status for r in outcome.results] == ["dry_run"] * 3
    assert all(
        r.estimated_prompt_tokens == -(-(len(r.system) + len(r.user)) // 4) for r in outcome.results
    )
    tokens = sum(r.estimated_prompt_tokens for r in outcome.results)
    estimate = outcome.summary.dry_run_estimate
    assert estimate is not None and estimate.prompt_tokens == tokens
    assert estimate.input_cost_usd == pytest.approx(tokens * 2.0 / 1e6, abs=1e-6)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["dry_run_estimate"]["prompt_tokens"] == tokens
    assert sorted(p.name for p in (tmp_path / "prompts").glob("*.md")) == [
        "minibatch_fail_000.md",
        "minibatch_fail_001.md",
        "minibatch_succ_000.md",
    ]
    assert not (tmp_path / "patches").exists()
    with pytest.raises(ConfigError, match="dry_run"):
        run_reflect(
            rollout=rollout,
            skill=SKILL,
            settings=ReflectSettings(),
            requests=REQUESTS,
            prompts=PROMPTS,
            client=None,
        )


def test_cache_makes_a_rerun_free_and_a_new_plan_misses(make_rollout, tmp_path):
    rollout = load_rollout(make_rollout(scored_rows(8, 4)))

    def run(size):
        client = LLMClient(
            backend=OfflineOptimizer(), ledger=Ledger(), cache=CallCache(tmp_path / "llm_calls")
        )
        return reflect(rollout, client=client, minibatch_size=size)

    first = run(4)
    assert first.llm.calls == 3 and first.llm.cache_hits == 0
    again = run(4)
    assert again.llm.calls == 0 and again.llm.cache_hits == 3
    assert all(r.resumed for r in again.results)
    assert [r.items for r in again.results] == [r.items for r in first.results]
    other = run(3)
    assert other.llm.calls == 5 and other.llm.cache_hits == 0  # 3 failure + 2 success minibatches
    assert len(list((tmp_path / "llm_calls").glob("*.json"))) == 8


def test_write_outputs_removes_stale_patches(make_rollout, tmp_path):
    rollout = load_rollout(make_rollout(scored_rows(8, 0)))
    reflect(rollout, minibatch_size=2, out_dir=tmp_path)
    assert len(list((tmp_path / "patches").glob("*.json"))) == 4
    reflect(rollout, minibatch_size=8, out_dir=tmp_path)
    assert [p.name for p in (tmp_path / "patches").glob("*.json")] == ["minibatch_fail_000.json"]
    assert [p.name for p in (tmp_path / "trajectories").glob("*.md")] == ["minibatch_fail_000.md"]
    patch = json.loads((tmp_path / "patches" / "minibatch_fail_000.json").read_text())
    assert len(patch["ids"]) == 8
    assert (tmp_path / "prompts" / "system" / "analyst_error.md").read_text() == PROMPTS.get(
        "analyst_error"
    ).text
