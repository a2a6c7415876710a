"""Stage AGGREGATE: merge the minibatch patches into one, hierarchically.

Failure and success patches are merged apart, level by level in groups of `merge_batch_size`,
then the two groups are combined by a final merge. Grouping follows minibatch-name order, so the
same patches always meet the same partners. A merge call that fails or returns nothing usable
falls back to concatenating its inputs, and that fallback is recorded with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from skillopt.base.checks import check_int
from skillopt.base.errors import ReplyError
from skillopt.base.modes import ModeSpec, UpdateMode, validate_items
from skillopt.engine.ask import Answer, Asker
from skillopt.engine.prompts import format_meta_skill
from skillopt.llm import tracing

STAGE = "merge"
Group = Literal["failure", "success", "final"]


@dataclass(frozen=True, kw_only=True)
class Patch:
    """One patch to merge: the payload items of a minibatch (or of an earlier merge)."""

    name: str
    source_type: Literal["failure", "success"]
    items: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class MergeRecord:
    """What one merge did. status: merged (a valid reply), fallback (concatenated, see error),
    passthrough (a single patch needs no call)."""

    group: Group
    level: int
    inputs: list[str]
    items_in: int
    items_out: int
    status: Literal["merged", "fallback", "passthrough"]
    dropped: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True, kw_only=True)
class MergeOutcome:
    """The merged items, the failure-only and success-only merges, and a record per merge."""

    items: list[dict[str, Any]]
    reasoning: str
    failure_items: list[dict[str, Any]]
    success_items: list[dict[str, Any]]
    records: list[MergeRecord] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        return sum(r.status == "fallback" for r in self.records)

    def to_json(self, spec: ModeSpec) -> dict[str, Any]:
        """`merged_patch.json`."""
        return {
            "reasoning": self.reasoning,
            spec.key: self.items,
            "merges": [r.to_json() for r in self.records],
        }


@dataclass(frozen=True, kw_only=True)
class MergeSettings:
    """merge_batch_size: patches per merge call (>= 2). workers: concurrent merge calls.
    max_tokens / full_rewrite_max_tokens: completion limits (full rewrites return whole skills)."""

    merge_batch_size: int = 8
    workers: int = 8
    max_tokens: int = 16384
    full_rewrite_max_tokens: int = 64000

    def __post_init__(self) -> None:
        check_int(
            "merge_batch_size", self.merge_batch_size, minimum=2, note="a merge combines patches"
        )
        check_int("workers", self.workers, minimum=1)


def _parse_merge(spec: ModeSpec):
    def parse(reply: object) -> tuple[str, list[dict[str, Any]], int]:
        if not isinstance(reply, dict):
            raise ReplyError(f"expected a JSON object, got {type(reply).__name__}")
        raw = reply.get(spec.key)
        if not isinstance(raw, list):
            raise ReplyError(f"'{spec.key}' must be a list (update mode {spec.mode.value})")
        items, dropped = validate_items(raw, spec)
        if raw and not items:
            reasons = "; ".join(d.reason for d in dropped[:3])
            raise ReplyError(f"no {spec.key} item is valid ({reasons})")
        return str(reply.get("reasoning") or ""), items, len(dropped)

    return parse


class _Merger:
    def __init__(
        self, *, asker: Asker, spec: ModeSpec, settings: MergeSettings, skill: str, meta_skill: str
    ) -> None:
        self.asker = asker
        self.spec = spec
        self.settings = settings
        self.skill = skill
        self.meta = format_meta_skill(meta_skill)

    @property
    def max_tokens(self) -> int:
        full = self.spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH
        return self.settings.full_rewrite_max_tokens if full else self.settings.max_tokens

    def _user(self, body: str) -> str:
        parts = [self.meta] if self.meta else []
        parts.append(f"## Current Skill\n{self.skill.rstrip()}")
        parts.append(body)
        return "\n\n".join(parts)

    def merge_group(
        self, group: Group, level: int, index: int, patches: list[Patch]
    ) -> tuple[Patch, MergeRecord]:
        """Merge one group; the result is named `<kind>_L<level>_<index>` (its place in the level)."""
        kind = patches[0].source_type
        name = f"{kind}_L{level}_{index:03d}"
        payload = [{"source_type": p.source_type, self.spec.key: p.items} for p in patches]
        body = (
            f"## Patches to merge ({len(patches)} total, merge level {level})\n"
            f"{json.dumps(payload, indent=2, ensure_ascii=False)}"
        )
        answer: Answer = self.asker.ask(
            template=f"merge_{kind}{self.spec.template_suffix}",
            user=self._user(body),
            max_tokens=self.max_tokens,
            reply_format=f"merge:{kind}:{self.spec.mode.value}",
            stage=STAGE,
            label=name,
            parse=_parse_merge(self.spec),
        )
        if answer.ok:
            _reasoning, merged, dropped = answer.value
            items = [
                {**it, "merge_level": level, "source_type": it.get("source_type") or kind}
                for it in merged
            ]
        else:
            dropped = 0
            items = [
                {**it, "merge_level": it.get("merge_level", level)}
                for p in patches
                for it in p.items
            ]
        record = MergeRecord(
            group=group,
            level=level,
            inputs=[p.name for p in patches],
            items_in=sum(len(p.items) for p in patches),
            items_out=len(items),
            status="merged" if answer.ok else "fallback",
            dropped=dropped,
            error=answer.error,
        )
        return Patch(name=name, source_type=kind, items=items), record

    def merge_kind(
        self, group: Group, patches: list[Patch]
    ) -> tuple[list[dict[str, Any]], list[MergeRecord]]:
        records: list[MergeRecord] = []
        if not patches:
            return [], records
        if len(patches) == 1:
            records.append(
                MergeRecord(
                    group=group,
                    level=0,
                    inputs=[patches[0].name],
                    items_in=len(patches[0].items),
                    items_out=len(patches[0].items),
                    status="passthrough",
                )
            )
            return list(patches[0].items), records
        size = self.settings.merge_batch_size
        level = 0
        current = list(patches)
        with ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            while len(current) > 1:
                level += 1
                groups = [current[i : i + size] for i in range(0, len(current), size)]
                futures = [
                    tracing.submit(pool, self.merge_group, group, level, i, g)
                    if len(g) > 1
                    else None
                    for i, g in enumerate(groups)
                ]
                merged: list[Patch] = []
                for g, future in zip(groups, futures, strict=True):
                    if future is None:
                        merged.append(g[0])
                        continue
                    patch, record = future.result()
                    merged.append(patch)
                    records.append(record)
                current = merged
        return list(current[0].items), records

    def final(
        self, failure: list[dict[str, Any]], success: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]], MergeRecord | None]:
        if not failure and not success:
            return "no updates from either group", [], None
        if not success:
            return "failure group only", failure, None
        if not failure:
            return "success group only", success, None
        full = self.spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH
        noun = "skill candidates" if full else self.spec.plural
        body = (
            "## Groups to combine\n"
            f"Group 1 (from failed trajectories, higher priority): {len(failure)} {noun}\n"
            f"Group 2 (from successful trajectories, lower priority): {len(success)} {noun}\n\n"
            + json.dumps(
                [
                    {"source_type": "failure", self.spec.key: failure},
                    {"source_type": "success", self.spec.key: success},
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        answer = self.asker.ask(
            template=f"merge_final{self.spec.template_suffix}",
            user=self._user(body),
            max_tokens=self.max_tokens,
            reply_format=f"merge:final:{self.spec.mode.value}",
            stage=STAGE,
            label="final",
            parse=_parse_merge(self.spec),
        )
        items_in = len(failure) + len(success)
        if answer.ok:
            reasoning, items, dropped = answer.value
            return (
                reasoning,
                items,
                MergeRecord(
                    group="final",
                    level=0,
                    inputs=["failure", "success"],
                    items_in=items_in,
                    items_out=len(items),
                    status="merged",
                    dropped=dropped,
                ),
            )
        return (
            "fallback: failure items first, then success items",
            failure + success,
            MergeRecord(
                group="final",
                level=0,
                inputs=["failure", "success"],
                items_in=items_in,
                items_out=items_in,
                status="fallback",
                error=answer.error,
            ),
        )


def merge_patches(
    *,
    skill: str,
    patches: Sequence[Patch],
    spec: ModeSpec,
    asker: Asker,
    settings: MergeSettings,
    meta_skill: str = "",
) -> MergeOutcome:
    """Merge failure and success patches apart, then together. `patches` may come in any order;
    they are grouped by name."""
    merger = _Merger(asker=asker, spec=spec, settings=settings, skill=skill, meta_skill=meta_skill)
    ordered = sorted(patches, key=lambda p: p.name)
    failure, f_records = merger.merge_kind(
        "failure", [p for p in ordered if p.source_type == "failure" and p.items]
    )
    success, s_records = merger.merge_kind(
        "success", [p for p in ordered if p.source_type == "success" and p.items]
    )
    reasoning, items, final = merger.final(failure, success)
    records = f_records + s_records + ([final] if final is not None else [])
    return MergeOutcome(
        items=items,
        reasoning=reasoning,
        failure_items=failure,
        success_items=success,
        records=records,
    )
