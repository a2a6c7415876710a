"""Shared fixtures: small rollout directories written on the fly, and the bundled example."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skillopt.base.resources import resource_path

REPO = Path(__file__).resolve().parent.parent

RolloutFactory = Callable[..., Path]


def write_rollout(
    root: Path,
    rows: list[dict[str, Any]],
    *,
    conversations: dict[str, Any] | None = None,
    raw_lines: list[str] | None = None,
) -> Path:
    """A rollout dir: `rows` as results.jsonl (plus `raw_lines` verbatim), one conversation each.

    A row's conversation is `conversations[id]` when given (None = no file), else a short chat.
    """
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in rows] + list(raw_lines or [])
    (root / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    conversations = conversations or {}
    for row in rows:
        rid = str(row.get("id"))
        if "/" in rid or rid in {"", ".", ".."}:
            continue
        conv = conversations.get(
            rid,
            [
                {"role": "user", "content": f"question {rid}"},
                {"role": "assistant", "content": f"answer {rid}"},
            ],
        )
        if conv is None:
            continue
        folder = root / "predictions" / rid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "conversation.json").write_text(json.dumps(conv), encoding="utf-8")
    return root


def scored_rows(n_fail: int, n_succ: int) -> list[dict[str, Any]]:
    rows = [
        {
            "id": f"f{i:03d}",
            "hard": 0,
            "soft": 0.2,
            "task_type": "qa",
            "fail_reason": f"kind{i % 3}: wrong answer {i}",
        }
        for i in range(n_fail)
    ]
    rows += [
        {"id": f"s{i:03d}", "hard": 1, "soft": 1.0, "task_type": f"type{i % 3}"}
        for i in range(n_succ)
    ]
    return rows


@pytest.fixture
def make_rollout(tmp_path: Path) -> RolloutFactory:
    counter = iter(range(1000))

    def factory(rows: list[dict[str, Any]], **kwargs: Any) -> Path:
        return write_rollout(tmp_path / f"rollout{next(counter)}", rows, **kwargs)

    return factory


@pytest.fixture(scope="session")
def example_rollout() -> Path:
    return Path(resource_path("examples/qa/rollout"))


@pytest.fixture(scope="session")
def example_skill() -> str:
    return Path(resource_path("examples/qa/skill.md")).read_text(encoding="utf-8")
