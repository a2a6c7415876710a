"""Skill-aware reflection (`reflect.skill_aware`, spec §2 and §7.4): failure analysts sort
failures into skill gaps (edits) and execution lapses (appendix notes); the notes are merged
after the gate into the skill's protected "Execution Notes Appendix" block."""

from __future__ import annotations

import json

import pytest

from skillopt.base.modes import mode_spec
from skillopt.base.resources import prompts_dir
from skillopt.base.rollout import load_rollout
from skillopt.base.skill import (
    APPENDIX_END,
    APPENDIX_START,
    appendix_notes,
    keep_protected,
    merge_notes,
    with_appendix,
    with_slow_update_block,
)
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.skillaware import take_notes
from skillopt.engine.train.appendix import update_appendix
from skillopt.engine.train.update import apply_edits
from skillopt.tracking.jobs import step_metrics
from tests.conftest import scored_rows
from tests.scripted import Scripted, make_asker
from tests.test_trainer import make_trainer, read_json

SKILL = "# Skill\n\n- Answer briefly.\n"


def test_notes_merge_without_duplicates_in_order():
    merged, added = merge_notes(
        ["Re-read the record."],
        ["re-read  the RECORD", "- Check the units!", "", "Check the units", "Copy exactly;"],
    )
    assert merged == ["Re-read the record.", "Check the units!", "Copy exactly;"]
    assert added == ["Check the units!", "Copy exactly;"]


def test_the_appendix_is_one_protected_block_at_the_end():
    skill = with_slow_update_block(SKILL, "- guidance")
    once = with_appendix(skill, ["Re-read the record.", "Copy <!-- APPENDIX_END --> exactly."])
    assert once.rstrip().endswith(APPENDIX_END) and once.count(APPENDIX_START) == 1
    assert "## Execution Notes Appendix\n- Re-read the record.\n- Copy exactly.\n" in once
    assert appendix_notes(once) == ["Re-read the record.", "Copy exactly."]
    # setting it again moves it to the end, never duplicates it
    moved = with_slow_update_block(once, "- new guidance")
    assert not moved.rstrip().endswith(APPENDIX_END)
    again = with_appendix(moved, [*appendix_notes(moved), "Third."])
    assert again.count(APPENDIX_START) == 1 and again.rstrip().endswith(APPENDIX_END)
    assert with_appendix(again, []).count(APPENDIX_START) == 0


def test_edits_and_rewrites_cannot_touch_the_appendix():
    skill = with_appendix(SKILL, ["Re-read the record."])
    result = apply_edits(
        skill,
        [
            {"op": "replace", "target": "- Re-read the record.", "content": "- gone"},
            {"op": "delete", "target": "## Execution Notes Appendix"},
            {"op": "append", "content": "- New rule."},
        ],
    )
    assert [r["status"] for r in result.to_json()["edits"]][:2] == ["skipped_protected_region"] * 2
    assert appendix_notes(result.skill) == ["Re-read the record."]
    assert result.skill.index("- New rule.") < result.skill.index(APPENDIX_START)
    rewritten, restored = keep_protected(skill, "# Rewritten\n\n- Everything new.\n")
    assert restored == 1 and appendix_notes(rewritten) == ["Re-read the record."]


def test_a_reply_with_only_notes_is_a_valid_empty_patch():
    spec = mode_spec("patch")
    reply, notes = take_notes({"appendix_notes": [" Re-read. ", 3, ""]}, spec)
    assert notes == ["Re-read."]
    assert reply["patch"] == {"reasoning": "execution lapses only", "edits": []}
    reply, notes = take_notes({"patch": {"edits": []}, "appendix_notes": "Copy exactly."}, spec)
    assert notes == ["Copy exactly."] and reply == {
        "patch": {"edits": []},
        "appendix_notes": "Copy exactly.",
    }
    assert take_notes("not a dict", spec) == ("not a dict", [])


def reflect(tmp_path, make_rollout, script, **settings):
    backend = Scripted(script)
    from skillopt.llm.client import LLMClient
    from skillopt.llm.ledger import Ledger

    return run_reflect(
        rollout=load_rollout(make_rollout(scored_rows(4, 4))),
        skill=SKILL,
        settings=ReflectSettings(minibatch_size=4, **settings),
        requests=RequestSettings(name="m"),
        prompts=PromptLibrary(builtin_dir=prompts_dir()),
        client=LLMClient(backend=backend, ledger=Ledger()),
    ), backend


def _answer(request):
    if request.reply_format.startswith("failure"):
        return {"patch": {"edits": []}, "appendix_notes": ["Re-read the record."]}
    return {"patch": {"edits": [{"op": "append", "content": "- Keep it."}]}}


def test_only_the_failure_analysts_are_asked_for_notes(tmp_path, make_rollout):
    outcome, backend = reflect(tmp_path, make_rollout, _answer, skill_aware=True)
    systems = {r.reply_format.split(":")[0]: r.messages[0]["content"] for r in backend.requests}
    assert "## Skill gaps and execution lapses" in systems["failure"]
    assert "appendix_notes" not in systems["success"]
    by_kind = {r.minibatch.kind: r for r in outcome.results}
    assert by_kind["failure"].appendix_notes == ["Re-read the record."]
    assert by_kind["success"].appendix_notes is None
    document = by_kind["failure"].patch_document(mode_spec("patch"))
    assert document["appendix_notes"] == ["Re-read the record."]


@pytest.mark.parametrize("mode", ["patch", "full_rewrite_minibatch"])
def test_without_the_setting_or_in_full_rewrite_no_notes_are_asked(tmp_path, make_rollout, mode):
    settings = {"update_mode": mode, "skill_aware": mode != "patch"}
    candidate = {"skill_candidates": [{"new_skill": "# New\n"}]}
    outcome, backend = reflect(
        tmp_path,
        make_rollout,
        lambda r: {"patch": candidate if mode != "patch" else {"edits": []}},
        **settings,
    )
    assert ReflectSettings(**settings).skill_aware_active is False
    assert all("appendix_notes" not in r.messages[0]["content"] for r in backend.requests)
    assert all(r.appendix_notes is None for r in outcome.results)


def test_consolidation_runs_past_the_threshold_and_is_kept_only_if_shorter():
    skill = with_appendix(SKILL, ["Re-read the record before a date answer.", "Copy it."])
    asker, backend = make_asker([{"reasoning": "merged", "notes": ["Re-read the record."]}])
    new_skill, update = update_appendix(skill, ["Check units twice."], threshold=2, asker=asker)
    assert backend.requests[0].reply_format == "appendix_consolidate"
    assert "## Execution Notes (3)\n- Re-read the record before" in backend.user()
    assert appendix_notes(new_skill) == ["Re-read the record."]
    assert update.added == ("Check units twice.",) and update.total == 1
    assert update.consolidation.after == ("Re-read the record.",)
    longer = {"notes": ["A much, much longer note than all of the notes that it replaces here."]}
    asker, _ = make_asker([longer])
    new_skill, update = update_appendix(skill, ["Check units."], threshold=2, asker=asker)
    assert update.consolidation.after is None and "longer" in update.consolidation.error
    assert len(appendix_notes(new_skill)) == 3
    asker, backend = make_asker([])
    _, update = update_appendix(skill, ["Check units."], threshold=3, asker=asker)
    assert backend.requests == [] and update.consolidation is None  # 3 notes: not past 3


def test_a_skill_aware_run_keeps_notes_in_the_current_skill(tmp_path):
    trainer = make_trainer(
        tmp_path,
        epochs=2,
        eval_test=False,
        reflect={"skill_aware": True},
        appendix_consolidate_threshold=1,
    )
    trainer.run()
    run = trainer.out_dir
    history = trainer.history()
    assert all(h.appendix is not None for h in history)
    assert sum(h.appendix.added for h in history) > 0
    assert any(h.appendix.consolidated for h in history)
    for h in history:
        saved = read_json(run / "steps" / f"step_{h.step:04d}" / "appendix_notes.json")
        assert (len(saved["proposed"]), len(saved["added"]), saved["total"]) == (
            h.appendix.proposed,
            h.appendix.added,
            h.appendix.total,
        )
        version = (run / "skills" / f"skill_v{h.step:04d}.md").read_text()
        assert len(appendix_notes(version)) == h.appendix.total
        metrics = step_metrics(h)
        assert metrics["appendix.notes_total"] == h.appendix.total
        assert metrics["appendix.notes_added"] == h.appendix.added
    # a lapse became a note, never the re-check edit the plain analyst would propose
    patches = [json.loads(p.read_text()) for p in run.glob("steps/*/patches/minibatch_fail_*.json")]
    assert any(p["appendix_notes"] for p in patches)
    assert all("Re-read the context once more" not in json.dumps(p["patch"]) for p in patches)
    assert APPENDIX_START in (run / "final_skill.md").read_text()
