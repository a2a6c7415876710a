"""The training loop at engine level (no Hydra, no MLflow): `Trainer`, `TrainState`,
`plan_epoch` and the epoch-level calls, on the bundled offline simulation.

The optimizer is the offline stand-in, wrapped so a test can script some replies and see every
request; the target is the simulated `OfflineTarget`. A 3-epoch run takes well under a second.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from skillopt.base.errors import ConfigError, LLMError
from skillopt.base.resources import prompts_dir, resource_path
from skillopt.base.scores import Score, mean_score
from skillopt.base.skill import SLOW_UPDATE_END, SLOW_UPDATE_START, skill_hash
from skillopt.engine.ask import Asker
from skillopt.engine.environment import TargetModel
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.train import (
    BaselineRecord,
    EpochRecord,
    GateSettings,
    NullTrainObserver,
    StepRecord,
    StepRunner,
    StopRequested,
    Trainer,
    TrainSettings,
    TrainState,
    plan_epoch,
)
from skillopt.engine.train.aggregate import MergeSettings
from skillopt.engine.train.epoch import propose_meta_skill, propose_slow_update
from skillopt.envs.qa import QAEnvironment
from skillopt.llm.cache import CallCache
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Ledger
from skillopt.llm.types import ChatBackend, ChatRequest, ChatResponse
from skillopt.sim.optimizer import OfflineOptimizer
from skillopt.sim.target import OfflineTarget
from tests.scripted import make_asker

SIM_DATA = resource_path("examples/qa_sim/dataset.jsonl")
SIM_SKILL = Path(resource_path("examples/qa_sim/skill.md")).read_text(encoding="utf-8")
FINGERPRINT = {"env.name": "qa-sim", "train.seed": 42, "reflect.minibatch_size": 4}

Override = Callable[[ChatRequest], dict[str, Any] | None]


class Optimizer:
    """The offline stand-in, except where `override(request)` returns a reply; keeps requests."""

    name = "offline-scripted"

    def __init__(self, override: Override | None = None) -> None:
        self.offline = OfflineOptimizer()
        self.override = override
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.requests.append(request)
        reply = self.override(request) if self.override else None
        if reply is None:
            return self.offline.complete(request)
        return ChatResponse(
            text=json.dumps(reply), prompt_tokens=1, completion_tokens=1, latency_s=0
        )


class Recorder(NullTrainObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_baseline(self, record: BaselineRecord) -> None:
        self.events.append(("baseline", record))

    def on_step(self, record: StepRecord) -> None:
        self.events.append(("step", record))

    def on_epoch_end(self, record: EpochRecord) -> None:
        self.events.append(("epoch", record))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def make_trainer(
    out: Path,
    *,
    optimizer: Optimizer | None = None,
    mode: str = "patch",
    gate: GateSettings | None = None,
    fingerprint: dict[str, Any] | None = None,
    observer: NullTrainObserver | None = None,
    stop_after_step: int | None = None,
    target: ChatBackend | None = None,
    reflect: dict[str, Any] | None = None,
    **train: Any,
) -> Trainer:
    """A trainer wired like `skillopt.cli.train.train_job`, with 3 steps of 8 tasks per epoch
    (`target`: the target backend, default the simulated one; `reflect`: more analyst
    settings)."""
    env = QAEnvironment(data_path=SIM_DATA, name="qa-sim")
    opt = LLMClient(
        backend=optimizer or Optimizer(),
        ledger=Ledger(),
        cache=CallCache(out / "llm_calls" / "optimizer"),
    )
    target_client = LLMClient(
        backend=target or OfflineTarget(),
        ledger=Ledger(),
        cache=CallCache(out / "llm_calls" / "target"),
    )
    prompts = PromptLibrary(builtin_dir=prompts_dir())
    requests = RequestSettings(name="offline-stand-in")
    runner = StepRunner(
        env=env,
        target=TargetModel(client=target_client, name="offline-target"),
        optimizer=opt,
        asker=Asker(client=opt, prompts=prompts, model=requests.name),
        prompts=prompts,
        reflect=ReflectSettings(minibatch_size=4, update_mode=mode, **(reflect or {})),
        requests=requests,
        merge=MergeSettings(merge_batch_size=4),
    )
    settings = {"epochs": 2, "batch_size": 8, "slow_update_samples": 12, **train}
    return Trainer(
        runner=runner,
        splits=env.splits(),
        initial_skill=SIM_SKILL,
        out_dir=out / "run",
        settings=TrainSettings(**settings),
        gate=gate or GateSettings(),
        fingerprint=dict(FINGERPRINT if fingerprint is None else fingerprint),
        observer=observer or NullTrainObserver(),
        stop_after_step=stop_after_step,
    )


def user_part(prompt_file: Path) -> str:
    """The user message of a saved analyst prompt (the system prompt names the headings too)."""
    return prompt_file.read_text(encoding="utf-8").split("\n# User message\n", 1)[1]


def analyst_prompts(run: Path, step: int) -> list[str]:
    files = sorted((run / "steps" / f"step_{step:04d}" / "prompts").glob("minibatch_*.md"))
    assert files, f"no analyst prompts in step {step}"
    return [user_part(f) for f in files]


def has_heading(text: str, heading: str) -> bool:
    return f"\n{heading}\n" in f"\n{text}"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def rows_score(results: Path) -> Score:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return mean_score(rows)


def without_timing(history: list[StepRecord]) -> list[StepRecord]:
    return [replace(h, timing={}) for h in history]


# ------------------------------------------------------------------------ plan_epoch


def test_plan_epoch_is_a_seeded_shuffle_cut_into_batches():
    train = QAEnvironment(data_path=SIM_DATA).splits().train
    batches = plan_epoch(train, batch_size=10, seed=7, epoch=2)
    assert [len(b) for b in batches] == [10, 10, 4]
    assert batches == plan_epoch(train, batch_size=10, seed=7, epoch=2)
    order = list(train)
    random.Random(7 + 1000 * 2).shuffle(order)
    assert [t for b in batches for t in b] == order
    assert batches != plan_epoch(train, batch_size=10, seed=7, epoch=1)
    assert batches != plan_epoch(train, batch_size=10, seed=8, epoch=2)
    assert [len(b) for b in plan_epoch(train[:3], batch_size=8, seed=1, epoch=1)] == [3]


# ------------------------------------------------------------- one shared 3-epoch run


@pytest.fixture(scope="module")
def run3(tmp_path_factory):
    """An uninterrupted 3-epoch patch-mode run with a mixed gate (gate value != hard)."""
    optimizer = Optimizer()
    trainer = make_trainer(
        tmp_path_factory.mktemp("run3"),
        optimizer=optimizer,
        epochs=3,
        gate=GateSettings(metric="mixed", mixed_weight=0.5),
    )
    summary = trainer.run()
    return trainer, summary, optimizer


def test_the_run_completes_and_records_every_step(run3):
    trainer, summary, _ = run3
    history = trainer.history()
    assert [h.step for h in history] == list(range(1, 10))
    assert [h.epoch for h in history] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert summary.total_steps == 9 and summary.gate_metric == "mixed"
    assert summary.best_selection_score > summary.baseline_selection_score
    state = TrainState.load(trainer.out_dir / "state.json")
    assert state.finished and state.last_completed_step == 9 and state.epochs_done == [1, 2, 3]
    assert read_json(trainer.out_dir / "history.json") == [r.to_json() for r in state.history]


def test_the_step_buffer_reaches_the_next_steps_of_the_same_epoch_only(run3):
    trainer, _, _ = run3
    run = trainer.out_dir
    heading = "## Previous Steps in This Epoch"
    assert not any(has_heading(p, heading) for p in analyst_prompts(run, 1))
    for prompt in analyst_prompts(run, 2):
        assert has_heading(prompt, heading)
        assert "### Step 1 — " in prompt and "### Step 2 — " not in prompt
    assert all("### Step 2 — " in p for p in analyst_prompts(run, 3))
    # a new epoch starts with an empty buffer
    assert not any(has_heading(p, heading) for p in analyst_prompts(run, 4))
    assert all("### Step 4 — " in p and "### Step 1 — " not in p for p in analyst_prompts(run, 5))


def test_the_epoch_2_meta_skill_guides_epoch_3_and_never_enters_the_skill(run3):
    trainer, _, optimizer = run3
    run = trainer.out_dir
    meta = read_json(run / "slow_update" / "epoch_02" / "meta_skill_result.json")["content"]
    assert meta.strip()
    heading = "## Optimizer Meta Skill"
    for step in range(1, 7):
        assert not any(has_heading(p, heading) for p in analyst_prompts(run, step))
    for step in (7, 8, 9):
        for prompt in analyst_prompts(run, step):
            assert has_heading(prompt, heading) and meta in prompt
    # the optimizer saw it in analyst, merge and ranking calls, never in rewrite or slow update
    formats = {
        r.reply_format.split(":")[0]
        for r in optimizer.requests
        if meta in r.messages[-1]["content"]
    }
    assert {"failure", "merge"} <= formats
    assert formats <= {"failure", "success", "merge", "ranking", "meta_skill"}
    # ... and no skill the target ever saw holds it
    first_line = meta.splitlines()[0]
    skills = [
        *run.glob("skills/*.md"),
        *run.glob("steps/*/candidate_skill.md"),
        *run.glob("slow_update/*/candidate_skill.md"),
        run / "best_skill.md",
        run / "final_skill.md",
    ]
    assert len(skills) > 20
    assert not any(first_line in p.read_text() for p in skills)
    assert not any(first_line in p.read_text() for p in run.rglob("target_system_prompt.txt"))


@pytest.mark.parametrize("epoch", [2, 3])
def test_the_slow_update_is_force_accepted_and_measured(run3, epoch):
    trainer, _, _ = run3
    run = trainer.out_dir
    folder = run / "slow_update" / f"epoch_{epoch:02d}"
    record = read_json(folder / "epoch_record.json")
    assert record["action"] == "force_accept" and record["selection_cached"] is False
    measured = rows_score(folder / "selection_eval" / "results.jsonl")
    assert measured.n == len(trainer.selection)
    assert record["selection"] == {
        "hard": round(measured.hard, 6),
        "soft": round(measured.soft, 6),
        "n": measured.n,
    }
    gate_value = GateSettings(metric="mixed").value(measured)
    assert record["gate_score"] == pytest.approx(gate_value)
    assert record["current_score"] == pytest.approx(gate_value)  # not the stale step score
    candidate = (folder / "candidate_skill.md").read_text()
    assert candidate.count(SLOW_UPDATE_START) == 1 and candidate.rstrip().endswith(SLOW_UPDATE_END)
    last_step = 3 * epoch
    assert (run / "skills" / f"skill_v{last_step:04d}.md").read_text() == candidate
    state = TrainState.load(run / "state.json")
    assert state.selection_cache.get(skill_hash(candidate)) == measured


def test_the_selection_cache_holds_only_measured_scores(run3):
    trainer, _, _ = run3
    run = trainer.out_dir
    state = TrainState.load(run / "state.json")
    measured = {
        rows_score(results)
        for results in run.rglob("results.jsonl")
        if "selection_eval" in results.parent.name
    }
    assert len(state.selection_cache) >= 5
    for key in state.selection_cache:
        assert state.selection_cache.get(key) in measured  # never (gate value, 0.0)
    for h in trainer.history():
        if h.gate_score is not None:
            score = state.selection_cache.get(h.candidate_hash)
            assert h.gate_score == pytest.approx(0.5 * score.hard + 0.5 * score.soft)


def test_a_resumed_run_ends_exactly_like_the_uninterrupted_one(run3, tmp_path):
    uninterrupted, summary, _ = run3
    gate = GateSettings(metric="mixed", mixed_weight=0.5)
    first = make_trainer(tmp_path, epochs=3, gate=gate, stop_after_step=1)
    with pytest.raises(StopRequested):
        first.run()
    state = TrainState.load(first.out_dir / "state.json")
    assert state.last_completed_step == 1 and state.buffer_epoch == 1
    assert [e.step for e in state.step_buffer] == [1]  # persisted mid-epoch
    assert not (first.out_dir / "steps" / "step_0002").exists()
    recorder = Recorder()
    resumed = make_trainer(tmp_path, epochs=3, gate=gate, observer=recorder)
    again = resumed.run()
    assert "baseline" not in recorder.kinds()
    assert [r.step for kind, r in recorder.events if kind == "step"] == list(range(2, 10))
    # step 2 ran in a new trainer, yet its analysts saw step 1 (SkillOpt lost the buffer)
    for prompt in analyst_prompts(resumed.out_dir, 2):
        assert has_heading(prompt, "## Previous Steps in This Epoch") and "### Step 1 — " in prompt
    assert without_timing(resumed.history()) == without_timing(uninterrupted.history())
    for key in ("best_selection_score", "best_step", "best_origin", "test", "accepts"):
        assert getattr(again, key) == getattr(summary, key)
    for name in ("best_skill.md", "final_skill.md"):
        assert (resumed.out_dir / name).read_text() == (uninterrupted.out_dir / name).read_text()


# ------------------------------------------------------------------- resume and state


class StopAtBaseline(NullTrainObserver):
    def on_baseline(self, record: BaselineRecord) -> None:
        raise KeyboardInterrupt("stop right after the baseline")


def test_a_zero_baseline_survives_resume_and_is_not_measured_again(tmp_path):
    # the first five selection tasks all fail under the initial skill: hard = 0.0
    gate = GateSettings(selection_size=5)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, gate=gate, epochs=1, observer=StopAtBaseline()).run()
    state = TrainState.load(tmp_path / "run" / "state.json")
    assert state.current_score == 0.0 and state.best_score == 0.0
    assert state.baseline is not None and state.baseline.hard == 0.0 and state.baseline.n == 5
    recorder = Recorder()
    summary = make_trainer(tmp_path, gate=gate, epochs=1, observer=recorder).run()
    assert recorder.kinds()[0] == "step"  # SkillOpt read 0.0 as "no score" and re-ran it
    assert summary.baseline_selection_score == 0.0
    assert summary.baseline_selection.n == 5


def test_train_state_keeps_zero_scores_and_everything_else(tmp_path):
    state = TrainState(
        fingerprint={"a": 1},
        initial_skill="s0",
        current_skill="s1",
        best_skill="s0",
        current_score=0.0,
        best_score=0.0,
        baseline=Score(hard=0.0, soft=0.0, n=3),
        meta_skill="memo",
        step_buffer=[],
        buffer_epoch=2,
    )
    state.selection_cache.put("h", Score(hard=0.0, soft=0.25, n=3))
    state.save(tmp_path / "state.json")
    loaded = TrainState.load(tmp_path / "state.json")
    assert loaded.current_score == 0.0 and loaded.best_score == 0.0
    assert loaded.baseline == Score(hard=0.0, soft=0.0, n=3)
    assert loaded.selection_cache.get("h") == Score(hard=0.0, soft=0.25, n=3)
    assert loaded.to_json() == state.to_json()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{not json",
        "[]",
        '"a string"',
        '{"version": 1}',
        '{"version": 99}',
        "SELECTION_CACHE_LIST",
    ],
)
def test_a_state_file_that_cannot_be_used_is_a_config_error_naming_it(tmp_path, text):
    path = tmp_path / "state.json"
    if text == "SELECTION_CACHE_LIST":
        TrainState(fingerprint={}, initial_skill="", current_skill="", best_skill="").save(path)
        data = read_json(path)
        data["selection_cache"] = []
        text = json.dumps(data)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot resume from") as info:
        TrainState.load(path)
    assert str(path) in str(info.value)


def test_a_state_file_holding_no_object_says_so(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        TrainState.load(path)


def test_the_trainer_refuses_a_corrupt_state_file(tmp_path):
    state = tmp_path / "run" / "state.json"
    state.parent.mkdir()
    state.write_text('{"version": 1, "fingerprint": ', encoding="utf-8")
    with pytest.raises(ConfigError, match=str(state).replace(".", r"\.")):
        make_trainer(tmp_path).run()
    assert not (tmp_path / "run" / "history.json").exists()


def test_a_resume_with_other_settings_names_the_changed_keys(tmp_path):
    TrainState(
        fingerprint={"train.seed": 41, "reflect.minibatch_size": 4, "gone": 1},
        initial_skill=SIM_SKILL,
        current_skill=SIM_SKILL,
        best_skill=SIM_SKILL,
    ).save(tmp_path / "run" / "state.json")
    fingerprint = {"train.seed": 42, "reflect.minibatch_size": 4, "new": 2}
    with pytest.raises(ConfigError) as info:
        make_trainer(tmp_path, fingerprint=fingerprint).run()
    message = str(info.value)
    assert "(gone, new, train.seed)" in message
    assert "reflect.minibatch_size" not in message


def test_a_fingerprint_with_tuples_resumes(tmp_path):
    fingerprint = {**FINGERPRINT, "env.split_ratio": (4, 3, 3)}
    with pytest.raises(StopRequested):
        make_trainer(tmp_path, fingerprint=fingerprint, epochs=1, stop_after_step=1).run()
    summary = make_trainer(tmp_path, fingerprint=fingerprint, epochs=1).run()
    assert summary.total_steps == 3


# ------------------------------------------------------------------ gate and skips


def test_without_the_gate_every_candidate_is_force_accepted(tmp_path):
    trainer = make_trainer(tmp_path, gate=GateSettings(enabled=False), eval_test=False)
    summary = trainer.run()
    history = trainer.history()
    assert {h.action for h in history} == {"force_accept"}
    run = trainer.out_dir
    for h in history:  # each candidate became the current skill, scored
        candidate = (run / "steps" / f"step_{h.step:04d}" / "candidate_skill.md").read_text()
        version = (run / "skills" / f"skill_v{h.step:04d}.md").read_text()
        if h.step == 6:  # the epoch's last version also carries its slow update
            assert version.startswith(candidate.rstrip()) and SLOW_UPDATE_START in version
        else:
            assert version == candidate
        assert h.current_score == h.gate_score
    assert read_json(run / "slow_update" / "epoch_02" / "epoch_record.json")["action"] == (
        "force_accept"
    )
    best = max([summary.baseline_selection_score] + [h.gate_score for h in history])
    assert summary.best_selection_score == pytest.approx(best)
    assert summary.rejects == 0 and summary.test is None


def test_a_gated_slow_update_must_beat_the_current_score(tmp_path):
    trainer = make_trainer(tmp_path, slow_update_gate=True, eval_test=False)
    trainer.run()
    run = trainer.out_dir
    record = read_json(run / "slow_update" / "epoch_02" / "epoch_record.json")
    step6 = trainer.history()[5]
    # by then the skill scores 1.0 on selection, so the block cannot strictly improve it
    assert step6.current_score == 1.0 and record["gate_score"] == 1.0
    assert record["action"] == "reject" and record["current_score"] == 1.0
    assert (run / "slow_update" / "epoch_02" / "selection_eval" / "results.jsonl").is_file()
    final = (run / "final_skill.md").read_text()
    assert SLOW_UPDATE_START not in final
    assert final == (run / "skills" / "skill_v0006.md").read_text()


def test_a_step_without_patches_is_skipped_and_leaves_no_buffer_entry(tmp_path):
    empty = {"value": False}

    def override(request: ChatRequest) -> dict[str, Any] | None:
        kind = request.reply_format.split(":")[0]
        if not empty["value"] or kind not in ("failure", "success"):
            return None
        findings = {"failure_summary": []} if kind == "failure" else {"success_patterns": []}
        return {"patch": {"reasoning": "nothing generalises", "edits": []}, **findings}

    optimizer = Optimizer(override)
    seen: dict[int, list[str]] = {}

    class Flip(NullTrainObserver):
        def on_step(self, record: StepRecord) -> None:
            seen[record.step] = [r.reply_format for r in optimizer.requests]
            empty["value"] = record.step == 1  # step 2 gets no patches

    trainer = make_trainer(
        tmp_path, optimizer=optimizer, epochs=1, observer=Flip(), eval_test=False
    )
    trainer.run()
    run = trainer.out_dir
    history = trainer.history()
    skipped = history[1]
    assert skipped.action == "skip_no_patches" and skipped.n_patches == 0
    assert skipped.gate_score is None and skipped.candidate_hash is None
    assert {h.action for h in (history[0], history[2])} <= {
        "accept",
        "accept_new_best",
        "reject",
    }
    step2 = run / "steps" / "step_0002"
    assert (
        not (step2 / "merged_patch.json").exists() and not (step2 / "candidate_skill.md").exists()
    )
    step2_calls = seen[2][len(seen[1]) :]
    assert step2_calls and all(f.split(":")[0] in ("failure", "success") for f in step2_calls)
    skills = run / "skills"
    assert (skills / "skill_v0002.md").read_text() == (skills / "skill_v0001.md").read_text()
    for prompt in analyst_prompts(run, 3):
        assert "### Step 1 — " in prompt and "### Step 2 — " not in prompt
    state = TrainState.load(run / "state.json")
    assert [e.step for e in state.step_buffer] == [1, 3]
    assert trainer.run().skips == 1  # a finished run resumes to the same summary


# ------------------------------------------------------------------ rewrite modes


@pytest.mark.parametrize(
    ("mode", "result_file"),
    [
        ("rewrite_from_suggestions", "rewrite_result.json"),
        ("full_rewrite_minibatch", "full_rewrite_result.json"),
    ],
)
def test_the_rewrite_modes_complete_a_run_and_keep_the_slow_update_block(
    tmp_path, mode, result_file
):
    optimizer = Optimizer()
    trainer = make_trainer(
        tmp_path, optimizer=optimizer, mode=mode, epochs=3, eval_test=False, slow_update_samples=6
    )
    summary = trainer.run()
    run = trainer.out_dir
    history = trainer.history()
    assert summary.total_steps == 9
    gated = [h for h in history if h.gate_score is not None]
    assert gated, [h.action for h in history]
    for h in gated:
        assert (run / "steps" / f"step_{h.step:04d}" / result_file).is_file()
    if mode == "full_rewrite_minibatch":
        assert all(h.edit_budget is None for h in history)
        assert not any(r.reply_format.startswith("ranking") for r in optimizer.requests)
    else:
        assert any(r.reply_format == "rewrite_skill" for r in optimizer.requests)
    # the guidance written at the end of epoch 2 is in every epoch-3 candidate, once, verbatim
    guidance = read_json(run / "slow_update" / "epoch_02" / "slow_result.json")["content"]
    block = f"{SLOW_UPDATE_START}\n{guidance}\n{SLOW_UPDATE_END}"
    candidates = [run / "steps" / f"step_{h.step:04d}" / "candidate_skill.md" for h in history[6:]]
    assert any(c.exists() for c in candidates)
    for candidate in filter(Path.exists, candidates):
        text = candidate.read_text()
        assert text.count(SLOW_UPDATE_START) == 1 and block in text


# ------------------------------------------------------------- epoch-level calls


def test_the_slow_update_call_shows_both_skills_guidance_and_comparison():
    asker, backend = make_asker([{"reasoning": " r ", "slow_update_content": "  - Be exact.  "}])
    proposal = propose_slow_update(
        prev_skill="# Prev\n",
        curr_skill="# Curr\n",
        previous_guidance="- Old advice.",
        comparison="2 improved",
        n_tasks=7,
        asker=asker,
        max_tokens=555,
        epoch=2,
    )
    assert proposal.content == "- Be exact." and proposal.reasoning == "r"
    assert proposal.error is None
    request = backend.requests[0]
    assert request.reply_format == "slow_update" and request.max_tokens == 555
    assert request.messages[0]["content"] == asker.prompts.get("slow_update").text
    user = backend.user()
    order = [
        "## Previous Epoch's Skill\n# Prev",
        "## Current Epoch's Skill\n# Curr",
        "## Previous Slow Update Guidance\n- Old advice.",
        "## Longitudinal Comparison (7 tasks, two skill versions)\n2 improved",
    ]
    assert [user.index(part) for part in order] == sorted(user.index(part) for part in order)
    assert "Optimizer Meta Skill" not in user


def test_the_first_slow_update_says_there_is_no_previous_guidance():
    asker, backend = make_asker([{"slow_update_content": "x"}])
    propose_slow_update(
        prev_skill="a",
        curr_skill="b",
        previous_guidance="  ",
        comparison="c",
        n_tasks=1,
        asker=asker,
        max_tokens=1,
        epoch=2,
    )
    assert "## Previous Slow Update Guidance\n(No previous guidance" in backend.user()


def test_the_meta_skill_call_shows_the_previous_meta_skill():
    asker, backend = make_asker([{"meta_skill_content": "- Prefer format rules."}])
    proposal = propose_meta_skill(
        prev_skill="# Prev\n",
        curr_skill="# Curr\n",
        previous_meta="- Old lesson.",
        comparison="cmp",
        n_tasks=4,
        asker=asker,
        max_tokens=9,
        epoch=3,
    )
    assert proposal.content == "- Prefer format rules."
    request = backend.requests[0]
    assert request.reply_format == "meta_skill"
    user = backend.user()
    assert "## Previous Optimizer Meta Skill\n- Old lesson." in user
    assert "## Longitudinal Comparison (4 tasks, two last-step skills)\ncmp" in user
    asker, backend = make_asker([{"meta_skill_content": "y"}])
    propose_meta_skill(
        prev_skill="a",
        curr_skill="b",
        previous_meta="",
        comparison="c",
        n_tasks=1,
        asker=asker,
        max_tokens=1,
        epoch=2,
    )
    assert "(No previous optimizer meta skill" in backend.user()


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ([LLMError("down")], "meta_skill call failed: down"),
        ([{"meta_skill_content": ""}] * 3, "no usable meta_skill reply after 3 attempts"),
    ],
)
def test_a_failed_epoch_call_gives_no_content_and_the_error(script, error):
    asker, _ = make_asker(script)
    proposal = propose_meta_skill(
        prev_skill="a",
        curr_skill="b",
        previous_meta="",
        comparison="c",
        n_tasks=1,
        asker=asker,
        max_tokens=1,
        epoch=2,
    )
    assert proposal.content is None and proposal.error.startswith(error)
    assert proposal.to_json()["error"] == proposal.error
