"""Content-addressed store of call records: `<dir>/<sha256>.json`.

A record is reused only when its request hashes the same (backend, model, messages and
parameters), so a changed skill, prompt or minibatch always misses. Records are written
atomically; they are also what replay answers from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json
from skillopt.llm.types import ChatRequest, ChatResponse

log = logging.getLogger(__name__)


class CallCache:
    """One folder of call records."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> ChatResponse | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            return ChatResponse.from_json(record["response"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "ignoring unreadable call record %s (%s); the call will be made again", path, exc
            )
            return None

    def put(
        self, *, key: str, backend: str, stage: str, request: ChatRequest, response: ChatResponse
    ) -> None:
        write_json(
            self.path(key),
            call_record(key=key, backend=backend, stage=stage, request=request, response=response),
        )


def call_record(
    *, key: str, backend: str, stage: str, request: ChatRequest, response: ChatResponse
) -> dict[str, Any]:
    return {
        "key": key,
        "backend": backend,
        "stage": stage,
        "request": request.to_json(),
        "response": response.to_json(),
    }
