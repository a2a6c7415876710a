"""Pathological optimizer replies cannot hurt a job.

The real `skillopt-reflect` and `skillopt-train` apps run as subprocesses against the local
OpenAI-compatible server, whose responder answers chosen calls with a pathology on chosen
attempts: JSON nested 5,000 levels deep, a 5,000-digit integer, `NaN`, an unpaired surrogate
escape, 2 MB of prose, two different objects, an empty string, and near-JSON (an invalid escape,
trailing commas, single quotes with a cut-off tail) that is repaired and used without a re-ask.
Every minibatch recovers or fails alone with its reason; merges and ranking fall back; the job
finishes, and again from its call cache.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt.base.rollout import load_rollout
from skillopt.engine.minibatch import plan_minibatches
from skillopt.testing import (
    ChatServer,
    RecordedRequest,
    Reply,
    Responder,
    simulation_responder,
    template_of,
)
from tests.cli_helpers import run_reflect
from tests.conftest import scored_rows, write_rollout

KEY_ENV = "SKILLOPT_PATHOLOGY_TEST_KEY"
ENV = {KEY_ENV: "sk-pathology-test-not-a-secret"}
PARSE_RETRIES = 2  # the default, spelled out: a first request and two follow-ups
ATTEMPTS = PARSE_RETRIES + 1
MINIBATCH_SIZE = 4
SEED = 42
FOLLOWUP = "That reply could not be used: "
TRAJECTORY_ID = re.compile(r"^### Trajectory \d+ \(id=([^)\n]+)\)", re.MULTILINE)


@dataclass(frozen=True)
class Pathology:
    """A bad reply made from the valid one; `reason` is what the job must say about it (None:
    near-JSON that must be repaired and used)."""

    make: Callable[[str], str]
    reason: str | None


def _changed(valid: str, bad: str) -> str:
    assert bad != valid, "the pathology did not change the valid reply"
    return bad


def _trailing_commas(valid: str) -> str:
    return re.sub(r"\n(\s*[}\]])", r",\n\1", json.dumps(json.loads(valid), indent=2))


def _two_objects(valid: str) -> str:
    other = {**json.loads(valid), "batch_size": 999}
    return f"{valid}\n\nOr, if you prefer:\n{json.dumps(other)}"


NESTED = Pathology(lambda _v: '{"a": ' * 4999 + "{}" + "}" * 4999, "nested 5000 levels deep")
HUGE_INT = Pathology(
    lambda _v: '{"batch_size": ' + "9" * 5000 + ', "patch": {"reasoning": "r", "edits": []}}',
    "integer of 5000 digits",
)
NAN = Pathology(
    lambda _v: '{"batch_size": NaN, "patch": {"reasoning": "r", "edits": []}}', "holds NaN"
)
SURROGATE = Pathology(
    lambda v: _changed(v, v.replace('"content": "', '"content": "\\ud800 ', 1)),
    "unpaired surrogate \\ud800",
)
PROSE = Pathology(  # about 2 MB
    lambda _v: "I looked at every trajectory and the skill reads well overall. " * 33_000,
    "no parseable JSON object",
)
TWO_OBJECTS = Pathology(_two_objects, "2 different JSON objects")
EMPTY = Pathology(lambda _v: "", "the reply is empty")
INVALID_ESCAPE = Pathology(
    lambda v: _changed(v, v.replace('"reasoning": "', '"reasoning": "\\q ', 1)), None
)
TRAILING_COMMAS = Pathology(_trailing_commas, None)
SINGLE_QUOTES_CUT = Pathology(lambda v: repr(json.loads(v))[:-2], None)

Script = Callable[[dict[str, Any]], Sequence[Pathology]]


def attempt_of(body: dict[str, Any]) -> int:
    """0 for a first request; each follow-up adds the unusable reply and a user turn."""
    return (len(body["messages"]) - 2) // 2


def pathological(script: Script) -> Responder:
    """Answer attempt n of a call with `script(body)[n]` made from the offline stand-in's valid
    reply, and with the valid reply once the script runs out."""
    valid = simulation_responder()

    def respond(body: dict[str, Any], index: int) -> Reply:
        reply = valid(body, index)
        bad = script(body)
        attempt = attempt_of(body)
        return (
            Reply(content=bad[attempt].make(reply.content or "")) if attempt < len(bad) else reply
        )

    return respond


def openai_overrides(server: ChatServer) -> tuple[str, ...]:
    return (
        "model=openai",
        f"model.base_url={server.base_url}",
        f"model.api_key_env={KEY_ENV}",
        "model.max_retries=0",
        f"model.parse_retries={PARSE_RETRIES}",
    )


def last_user_message(request: RecordedRequest) -> str:
    return request.body["messages"][-1]["content"]


# --- reflect: every minibatch recovers or fails alone -------------------------------------------

KEPT_BAD = {  # the same pathology on every attempt: the minibatch fails with its reason
    "minibatch_fail_000": NESTED,
    "minibatch_fail_002": NAN,
    "minibatch_succ_000": SURROGATE,
    "minibatch_succ_002": TWO_OBJECTS,
}
RECOVERS = {  # a pathology first, then a valid reply to the follow-up
    "minibatch_fail_001": HUGE_INT,
    "minibatch_fail_004": EMPTY,
    "minibatch_succ_001": PROSE,
}
REPAIRED = {  # near-JSON, repaired and used without a follow-up
    "minibatch_fail_003": TRAILING_COMMAS,
    "minibatch_succ_003": INVALID_ESCAPE,
    "minibatch_succ_004": SINGLE_QUOTES_CUT,
}


def minibatch_names(rollout_dir: Path) -> dict[frozenset[str], str]:
    """Trajectory ids -> minibatch name, as the job will plan them."""
    plan = plan_minibatches(
        load_rollout(rollout_dir).records, minibatch_size=MINIBATCH_SIZE, seed=SEED
    )
    return {frozenset(m.ids): m.name for m in plan}


def minibatch_of(body: dict[str, Any], names: dict[frozenset[str], str]) -> str:
    """The minibatch a request is about, from the trajectory ids in its first user message."""
    return names[frozenset(TRAJECTORY_ID.findall(body["messages"][1]["content"]))]


def test_pathological_analyst_replies_fail_their_minibatch_alone(tmp_path):
    rollout = write_rollout(tmp_path / "rollout", scored_rows(20, 20))
    (tmp_path / "skill.md").write_text("# Skill\n\n- Answer the question.\n", encoding="utf-8")
    names = minibatch_names(rollout)
    assert sorted(names.values()) == sorted({**KEPT_BAD, **RECOVERS, **REPAIRED})

    def script(body: dict[str, Any]) -> Sequence[Pathology]:
        name = minibatch_of(body, names)
        if name in KEPT_BAD:
            return [KEPT_BAD[name]] * ATTEMPTS
        return [{**RECOVERS, **REPAIRED}[name]]

    overrides = (
        "data=custom",
        "data.rollout_dir=rollout",
        "data.skill_path=skill.md",
        f"reflect.minibatch_size={MINIBATCH_SIZE}",
        f"reflect.seed={SEED}",
    )
    with ChatServer(pathological(script)) as server:
        run = run_reflect(tmp_path, *openai_overrides(server), *overrides, env=ENV)
        first = server.requests
        server.clear()
        again = run_reflect(tmp_path, *openai_overrides(server), *overrides, env=ENV)
        cached = server.requests

    assert run.returncode == 0, run.output
    summary = run.summary
    failed = {f["minibatch"]: f for f in summary["failed_minibatches"]}
    assert sorted(failed) == sorted(KEPT_BAD)
    for name, pathology in KEPT_BAD.items():
        assert failed[name]["reason"] == "invalid_reply"
        assert f"after {ATTEMPTS} attempts" in failed[name]["error"]
        assert pathology.reason in failed[name]["error"], failed[name]
    patches = {p.stem: json.loads(p.read_text()) for p in (run.out_dir / "patches").glob("*.json")}
    assert sorted(patches) == sorted({**RECOVERS, **REPAIRED})
    assert all(patch["patch"]["edits"] for patch in patches.values())

    by_minibatch: dict[str, list[RecordedRequest]] = defaultdict(list)
    for request in first:
        by_minibatch[minibatch_of(request.body, names)].append(request)
    counts = {name: len(requests) for name, requests in by_minibatch.items()}
    assert counts == {
        **dict.fromkeys(KEPT_BAD, ATTEMPTS),
        **dict.fromkeys(RECOVERS, 2),
        **dict.fromkeys(REPAIRED, 1),
    }
    for name, pathology in {**KEPT_BAD, **RECOVERS}.items():
        for followup in sorted(by_minibatch[name], key=lambda r: attempt_of(r.body))[1:]:
            assert FOLLOWUP in last_user_message(followup)
            assert pathology.reason in last_user_message(followup)
            # the unusable reply is quoted back, but never megabytes of it
            assert len(followup.body["messages"][-2]["content"]) < 10_000

    # again into the same directory: every call, bad replies included, comes from llm_calls/
    assert again.returncode == 0, again.output
    assert cached == []
    assert again.summary["failed_minibatches"] == summary["failed_minibatches"]
    assert {
        p.stem: json.loads(p.read_text()) for p in (again.out_dir / "patches").glob("*.json")
    } == patches


# --- train: merges and ranking fall back with their reasons ------------------------------------

MERGE_REPLIES = (NESTED, NAN, TWO_OBJECTS)  # one per attempt: the last one is the recorded reason
RANKING_REPLIES = (HUGE_INT, PROSE, EMPTY)


def optimizer_stage_script(body: dict[str, Any]) -> Sequence[Pathology]:
    template = template_of(body) or ""
    if template.startswith("merge_"):
        return MERGE_REPLIES
    if template.startswith("ranking"):
        return RANKING_REPLIES
    return ()  # analysts (and any other stage) get the offline stand-in's valid reply


def step_documents(out_dir: Path, name: str) -> dict[Path, dict[str, Any]]:
    """Step folder -> its document `name`, for the steps that wrote one."""
    return {p.parent: json.loads(p.read_text()) for p in sorted(out_dir.glob(f"steps/*/{name}"))}


def test_pathological_merge_and_ranking_replies_fall_back_and_the_run_finishes(tmp_path):
    with ChatServer(pathological(optimizer_stage_script)) as server:
        run = run_reflect(
            tmp_path, *openai_overrides(server), "train.epochs=1", env=ENV, app="train"
        )
        requests = server.requests
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output
    assert run.summary["best_selection_score"] is not None

    merged = step_documents(run.out_dir, "merged_patch.json")
    merges = [m for doc in merged.values() for m in doc["merges"] if m["status"] != "passthrough"]
    assert merges and all(m["status"] == "fallback" for m in merges)
    for merge in merges:
        assert merge["items_out"] == merge["items_in"]
        assert merge["error"].startswith(f"no usable merge reply after {ATTEMPTS} attempts")
        assert MERGE_REPLIES[-1].reason in merge["error"]
    for step_dir, doc in merged.items():
        # the concatenation of the analysts' patches, failures first, in minibatch-name order
        analysed = [
            item
            for path in sorted((step_dir / "patches").glob("*.json"))
            for item in json.loads(path.read_text())["patch"]["edits"]
        ]
        assert [{k: v for k, v in e.items() if k != "merge_level"} for e in doc["edits"]] == (
            analysed
        )

    ranked = step_documents(run.out_dir, "ranked.json").values()
    rankings = [r for r in ranked if r["status"] != "within_budget"]
    assert rankings and all(r["status"] == "fallback" for r in rankings)
    for ranking in rankings:
        assert ranking["error"].startswith(f"no usable ranking reply after {ATTEMPTS} attempts")
        assert RANKING_REPLIES[-1].reason in ranking["error"]
        assert ranking["selected_indices"] == list(range(ranking["budget"]))

    stages: dict[str, list[RecordedRequest]] = defaultdict(list)
    for request in requests:
        stages[(template_of(request.body) or "target").split("_")[0]].append(request)
    assert len(stages["merge"]) == ATTEMPTS * len(merges)
    assert len(stages["ranking"]) == ATTEMPTS * len(rankings)
    for stage, replies in (("merge", MERGE_REPLIES), ("ranking", RANKING_REPLIES)):
        for followup in (r for r in stages[stage] if attempt_of(r.body) > 0):
            message = last_user_message(followup)
            assert FOLLOWUP in message
            assert replies[attempt_of(followup.body) - 1].reason in message
