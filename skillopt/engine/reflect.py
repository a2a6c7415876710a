"""The reflect step: plan minibatches, ask the analysts, validate what they return.

Requests are built first, in plan order; only the calls run in a thread pool. Results are
ordered by minibatch name, so the outcome never depends on which call finished first.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from skillopt.base.errors import BudgetExhausted, ConfigError, LLMError, ReplyError
from skillopt.base.modes import (
    ModeSpec,
    UpdateMode,
    apply_budget,
    check_reply,
    mode_spec,
    reply_model,
)
from skillopt.base.rollout import RolloutSet
from skillopt.engine.ask import followup_request
from skillopt.engine.formatting import format_block
from skillopt.engine.jsonx import extract_json
from skillopt.engine.minibatch import Minibatch, plan_minibatches
from skillopt.engine.outcome import (
    CallInfo,
    MinibatchResult,
    NullObserver,
    PreparedMinibatch,
    ReflectObserver,
    ReflectOutcome,
)
from skillopt.engine.prompts import PromptLibrary, build_user_message, template_name
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.skillaware import ADDENDUM, take_notes
from skillopt.llm import tracing
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Price, Usage
from skillopt.llm.types import ChatRequest

STAGE = "analyst"


class _Analyst:
    """Turns one prepared minibatch into a result: call, parse, validate, ask again if needed."""

    def __init__(
        self,
        *,
        client: LLMClient,
        spec: ModeSpec,
        settings: ReflectSettings,
        requests: RequestSettings,
    ):
        self.client = client
        self.spec = spec
        self.settings = settings
        self.requests = requests

    def run(self, job: PreparedMinibatch) -> MinibatchResult:
        """The minibatch's result, as a span of the current trace (its calls are its children)."""
        attributes = {
            "skillopt.minibatch": job.name,
            "skillopt.source_type": job.minibatch.kind,
            "skillopt.trajectories": len(job.shown_ids),
        }
        with tracing.span(job.name, attributes=attributes) as span:
            result = self._run(job)
            if span is not None:
                span.end(
                    outputs={"status": result.status, "items": len(result.items)},
                    error=result.error if result.status == "failed" else None,
                )
        return result

    def _run(self, job: PreparedMinibatch) -> MinibatchResult:
        assert job.request is not None
        calls: list[CallInfo] = []
        request = job.request
        error = ""
        for _attempt in range(self.requests.parse_retries + 1):
            try:
                result = self.client.complete(request, stage=STAGE, label=job.name)
            except BudgetExhausted as exc:
                return MinibatchResult(
                    prepared=job,
                    status="failed",
                    failure_reason="budget",
                    error=str(exc),
                    calls=calls,
                )
            except LLMError as exc:
                return MinibatchResult(
                    prepared=job,
                    status="failed",
                    failure_reason="llm_error",
                    error=str(exc),
                    calls=calls,
                )
            response = result.response
            calls.append(
                CallInfo(
                    key=result.key,
                    cached=result.cached,
                    prompt_tokens=response.prompt_tokens,
                    completion_tokens=response.completion_tokens,
                    latency_s=response.latency_s,
                    retries=response.retries,
                )
            )
            aware = self.settings.skill_aware_active and job.minibatch.kind == "failure"
            try:
                extracted = extract_json(response.text)
                value, notes = extracted.value, None
                if aware:
                    value, notes = take_notes(value, self.spec)
                checked = check_reply(value, self.spec)
            except ReplyError as exc:
                error = str(exc)
                request = followup_request(request, response.text, error)
                continue
            if extracted.repaired:
                self.client.ledger.record_repair(stage=STAGE)
            kept = apply_budget(
                checked.items, spec=self.spec, edit_budget=self.settings.edit_budget
            )
            support = len(job.shown_ids)
            items = [
                {**item, "source_type": job.minibatch.kind, "support_count": support}
                for item in kept
            ]
            return MinibatchResult(
                prepared=job,
                status="ok",
                items=items,
                dropped=checked.dropped,
                truncated=len(checked.items) - len(kept),
                reply=checked.reply,
                calls=calls,
                repaired=extracted.repaired,
                appendix_notes=notes,
            )
        return MinibatchResult(
            prepared=job,
            status="failed",
            failure_reason="invalid_reply",
            error=f"no usable reply after {len(calls)} attempts: {error}",
            calls=calls,
        )


def _prepare(
    minibatch: Minibatch,
    *,
    rollout: RolloutSet,
    skill: str,
    spec: ModeSpec,
    settings: ReflectSettings,
    requests: RequestSettings,
    prompts: PromptLibrary,
    step_context: str,
    meta_skill: str,
) -> PreparedMinibatch:
    shown = [rollout.trajectories[i] for i in minibatch.ids if i in rollout.trajectories]
    skipped = tuple(i for i in minibatch.ids if i not in rollout.trajectories)
    template = prompts.get(template_name(spec, minibatch.kind))
    template_label, system = template.name, template.text
    if settings.skill_aware_active and minibatch.kind == "failure":
        template_label = f"{template.name}+{ADDENDUM}"
        system = f"{template.text.rstrip()}\n\n{prompts.get(ADDENDUM).text}"
    block = format_block(shown, settings.formatting)
    user = build_user_message(
        skill=skill,
        spec=spec,
        kind=minibatch.kind,
        edit_budget=settings.edit_budget,
        trajectories_block=block,
        trajectory_count=len(shown),
        step_context=step_context,
        meta_skill=meta_skill,
    )
    request = None
    if shown:
        schema = None
        if requests.json_schema:
            model = reply_model(spec, minibatch.kind)
            schema = {
                "name": f"{minibatch.kind}_{spec.mode.value}",
                "schema": model.model_json_schema(),
                "strict": False,
            }
        full = spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH
        request = ChatRequest(
            model=requests.name,
            messages=(
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ),
            max_tokens=requests.full_rewrite_max_tokens if full else requests.max_tokens,
            reply_format=f"{minibatch.kind}:{spec.mode.value}",
            temperature=requests.temperature,
            response_schema=schema,
        )
    return PreparedMinibatch(
        minibatch=minibatch,
        shown_ids=tuple(t.id for t in shown),
        skipped_ids=skipped,
        template=template_label,
        system=system,
        user=user,
        trajectories_text=block,
        request=request,
    )


def run_reflect(
    *,
    rollout: RolloutSet,
    skill: str,
    settings: ReflectSettings,
    requests: RequestSettings,
    prompts: PromptLibrary,
    client: LLMClient | None,
    step_context: str = "",
    meta_skill: str = "",
    observer: ReflectObserver | None = None,
    price: Price | None = None,
) -> ReflectOutcome:
    """Run the analysts over every minibatch of `rollout` and return validated payloads.

    `client` may be None only for a dry run. A minibatch whose call fails is recorded as failed
    with its reason; the others go on. `price` (default: the client's) turns a dry run's
    estimated prompt tokens into cost in the summary, which the observer is told at the end.
    """
    if client is None and not settings.dry_run:
        raise ConfigError("an LLM client is required unless reflect.dry_run=true")
    observer = observer or NullObserver()
    started = time.perf_counter()
    spec = mode_spec(settings.update_mode)
    plan = plan_minibatches(
        rollout.records,
        minibatch_size=settings.minibatch_size,
        seed=settings.seed,
        failure_only=settings.failure_only,
    )
    observer.on_start(plan)
    results: dict[str, MinibatchResult] = {}

    def finish(result: MinibatchResult) -> None:
        results[result.name] = result
        observer.on_minibatch_done(result)

    analyst = None
    if client is not None and not settings.dry_run:
        analyst = _Analyst(client=client, spec=spec, settings=settings, requests=requests)
    # Each call is submitted as soon as its request is built; the observer's work on a built
    # request (writing prompts, say) then overlaps with the calls already in flight.
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        futures = []
        for minibatch in plan:
            job = _prepare(
                minibatch,
                rollout=rollout,
                skill=skill,
                spec=spec,
                settings=settings,
                requests=requests,
                prompts=prompts,
                step_context=step_context,
                meta_skill=meta_skill,
            )
            if job.request is not None and analyst is not None:
                futures.append(tracing.submit(pool, analyst.run, job))
            observer.on_minibatch_ready(job)
            if job.request is None or analyst is None:
                status = "empty" if job.request is None else "dry_run"
                finish(MinibatchResult(prepared=job, status=status))
        for future in as_completed(futures):
            finish(future.result())

    ordered = [results[name] for name in sorted(results)]
    outcome = ReflectOutcome(
        spec=spec,
        results=ordered,
        trajectories_total=len(rollout.records),
        failures=len(rollout.failures),
        successes=len(rollout.successes),
        missing_conversation=list(rollout.missing_conversation),
        bad_records=list(rollout.bad_records),
        llm=client.ledger.usage() if client is not None else Usage(),
        wall_s=time.perf_counter() - started,
        dry_run=settings.dry_run,
        price=price or (client.ledger.price if client is not None else Price()),
    )
    observer.on_finish(outcome.summary)
    return outcome
