"""Write a reflect outcome as files: patches, prompts, trajectories and `summary.json`.

These folders are derived from the outcome and rewritten on every run; files an earlier run
with another plan left are removed first, so no old patch can pass for a new one. The call
records in `llm_calls/` are the resume state and are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.modes import ModeSpec
from skillopt.engine.minibatch import Minibatch
from skillopt.engine.outcome import MinibatchResult, NullObserver, PreparedMinibatch
from skillopt.engine.summary import ReflectSummary

DERIVED_DIRS = ("patches", "prompts", "trajectories")


def _prompt_markdown(system: str, user: str) -> str:
    return f"# System message\n\n{system.rstrip()}\n\n# User message\n\n{user.rstrip()}\n"


class OutputWriter(NullObserver):
    """Writes each minibatch's files as soon as they exist, then the summary at the end.

    When the run starts it removes the files an earlier run into the same folder derived (they
    are rewritten from this run's outcome, so no old patch can pass for a new one, even while
    the run is going); the call records in `llm_calls/`, the resume state, stay. It writes
    prompts and trajectories when a request is built and the patch when the reply is validated,
    so file I/O overlaps with calls in flight, and `summary.json` at the end (the summary, plus
    `extra`: what the caller knows about the job, such as where its inputs came from).
    """

    essential = True  # the files are the job's result: a failure to write them stops the job

    def __init__(
        self, out_dir: str | Path, *, spec: ModeSpec, extra: dict[str, Any] | None = None
    ) -> None:
        self.out = Path(out_dir)
        self.spec = spec
        self.extra = dict(extra or {})
        self._systems: set[str] = set()

    def on_start(self, plan: list[Minibatch]) -> None:
        for folder in DERIVED_DIRS:
            root = self.out / folder
            if root.is_dir():
                for path in root.rglob("*"):
                    if path.is_file():
                        path.unlink()

    def on_minibatch_ready(self, prepared: PreparedMinibatch) -> None:
        name = prepared.name
        write_text(self.out / "trajectories" / f"{name}.md", prepared.trajectories_text + "\n")
        write_text(
            self.out / "prompts" / f"{name}.md", _prompt_markdown(prepared.system, prepared.user)
        )
        if prepared.template not in self._systems:
            self._systems.add(prepared.template)
            write_text(self.out / "prompts" / "system" / f"{prepared.template}.md", prepared.system)

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        if result.status == "ok":
            write_json(
                self.out / "patches" / f"{result.name}.json", result.patch_document(self.spec)
            )

    def on_finish(self, summary: ReflectSummary) -> None:
        write_json(self.out / "summary.json", {**summary.to_json(), **self.extra})
