"""Answer from the call records of an earlier run, and fail loudly on anything else.

Records are keyed exactly as the original backend keyed them, so a replayed run sends the same
requests, gets the same replies and writes the same patches.
"""

from __future__ import annotations

import json
from pathlib import Path

from skillopt.base.errors import ConfigError, LLMError
from skillopt.llm.types import ChatRequest, ChatResponse


class ReplayBackend:
    """A backend over a folder of `llm_calls/<key>.json` records. Its `name` is the original
    backend's, so keys computed for a request match the recorded ones."""

    def __init__(self, *, records_dir: str | Path, source: str = "", model_name: str = "") -> None:
        folder = Path(records_dir)
        self._records: dict[str, ChatResponse] = {}
        backends: set[str] = set()
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                self._records[record["key"]] = ChatResponse.from_json(record["response"])
                backends.add(record["backend"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"replay: unreadable call record {path}: {exc}") from None
        if not self._records:
            raise ConfigError(
                f"replay: no call records in {folder}{f' ({source})' if source else ''}"
            )
        if len(backends) > 1:
            raise ConfigError(
                f"replay: records in {folder} come from several backends: {sorted(backends)}"
            )
        self.name = backends.pop()
        self.source = source
        self.model_name = model_name

    def __len__(self) -> int:
        return len(self._records)

    def complete(self, request: ChatRequest) -> ChatResponse:
        key = request.key(self.name)
        response = self._records.get(key)
        if response is None:
            origin = f" of {self.source}" if self.source else ""
            raise LLMError(f"replay: no recorded call{origin} for request {key}", retryable=False)
        return response
