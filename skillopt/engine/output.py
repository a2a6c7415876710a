"""Write a reflect outcome as files: patches, prompts, trajectories and `summary.json`.

These folders are derived from the outcome and rewritten on every run; stale files from an
earlier run with another plan are removed so no old patch can pass for a new one. The call
records in `llm_calls/` are the resume state and are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.modes import ModeSpec
from skillopt.engine.outcome import MinibatchResult, NullObserver, PreparedMinibatch, ReflectOutcome
from skillopt.llm.ledger import Price

DERIVED_DIRS = ("patches", "prompts", "trajectories")


def _prompt_markdown(system: str, user: str) -> str:
    return f"# System message\n\n{system.rstrip()}\n\n# User message\n\n{user.rstrip()}\n"


def summarize(
    outcome: ReflectOutcome, *, price: Price, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `summary.json` document: counts, failures with reasons, usage, and the minibatch plan."""
    results = outcome.results
    summary: dict[str, Any] = {
        "update_mode": outcome.spec.mode.value,
        "dry_run": outcome.dry_run,
        "trajectories": {
            "total": outcome.trajectories_total,
            "failures": outcome.failures,
            "successes": outcome.successes,
            "skipped": len(outcome.missing_conversation),
            "skipped_ids": outcome.missing_conversation,
            "bad_records": outcome.bad_records,
        },
        "minibatches": {
            "total": len(results),
            "failure": sum(r.minibatch.kind == "failure" for r in results),
            "success": sum(r.minibatch.kind == "success" for r in results),
            "ok": len(outcome.by_status("ok")),
            "failed": len(outcome.by_status("failed")),
            "empty": len(outcome.by_status("empty")),
            "resumed": sum(r.resumed for r in results),
        },
        "failed_minibatches": [
            {"minibatch": r.name, "reason": r.failure_reason, "error": r.error}
            for r in outcome.by_status("failed")
        ],
        "payload": {
            "key": outcome.spec.key,
            "items": sum(len(r.items) for r in results),
            "dropped": sum(len(r.dropped) for r in results),
            "truncated_by_budget": sum(r.truncated for r in results),
            "by_kind": outcome.op_counts(),
        },
        "llm": outcome.llm,
        "wall_s": round(outcome.wall_s, 4),
        "plan": [
            {
                "minibatch": r.name,
                "kind": r.minibatch.kind,
                "ids": list(r.minibatch.ids),
                "skipped_ids": list(r.skipped_ids),
                "status": r.status,
                "payload_items": len(r.items),
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "latency_s": round(r.latency_s, 4),
            }
            for r in results
        ],
    }
    if outcome.dry_run:
        prompt_tokens = sum(r.estimated_prompt_tokens for r in results)
        summary["dry_run_estimate"] = {
            "requests": sum(r.status == "dry_run" for r in results),
            "prompt_tokens": prompt_tokens,
            "input_cost_usd": round(price.cost(prompt_tokens, 0), 6),
            "note": "tokens estimated as characters / 4; output tokens are unknown until a call is made",
        }
    if extra:
        summary.update(extra)
    return summary


class OutputWriter(NullObserver):
    """Writes each minibatch's files as soon as they exist, then the summary at the end.

    As an observer it writes prompts and trajectories when a request is built and the patch when
    the reply is validated, so file I/O overlaps with calls in flight. `finish` removes files
    that this run did not produce and writes `summary.json`.
    """

    def __init__(self, out_dir: str | Path, *, spec: ModeSpec) -> None:
        self.out = Path(out_dir)
        self.spec = spec
        self._written: dict[str, set[str]] = {d: set() for d in DERIVED_DIRS}

    def on_minibatch_ready(self, prepared: PreparedMinibatch) -> None:
        name = prepared.name
        write_text(self.out / "trajectories" / f"{name}.md", prepared.trajectories_text + "\n")
        write_text(
            self.out / "prompts" / f"{name}.md", _prompt_markdown(prepared.system, prepared.user)
        )
        system = f"system/{prepared.template}.md"
        if system not in self._written["prompts"]:
            write_text(self.out / "prompts" / system, prepared.system)
        self._written["trajectories"].add(f"{name}.md")
        self._written["prompts"].update({f"{name}.md", system})

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        if result.status == "ok":
            write_json(
                self.out / "patches" / f"{result.name}.json", result.patch_document(self.spec)
            )
            self._written["patches"].add(f"{result.name}.json")

    def finish(self, summary: dict[str, Any]) -> None:
        for folder, names in self._written.items():
            root = self.out / folder
            if not root.is_dir():
                continue
            for path in root.rglob("*"):
                if path.is_file() and path.relative_to(root).as_posix() not in names:
                    path.unlink()
        write_json(self.out / "summary.json", summary)


def write_outputs(outcome: ReflectOutcome, out_dir: str | Path, *, summary: dict[str, Any]) -> None:
    """Write a finished outcome in one go (what OutputWriter does during a run)."""
    writer = OutputWriter(out_dir, spec=outcome.spec)
    for result in outcome.results:
        writer.on_minibatch_ready(result.prepared)
        writer.on_minibatch_done(result)
    writer.finish(summary)
