"""`SkillOptPromptOptimizer`: skillopt's training loop as an optimizer for `mlflow.genai.optimize_prompts`.

MLflow gives an optimizer an `eval_fn` (candidate prompt texts and records in, scored evaluation
records out), the train records and the prompt texts, and expects the optimized texts back. Here
the prompt text is the skill and `eval_fn` is the target, and the loop is skillopt-train's:

    split the records (holdout, seed): records to learn from | held-out records (the gate)
    baseline: the prompt scored on the held-out records
    each epoch, each batch of batch_size records to learn from:
        rollout (eval_fn on the batch; each evaluation record becomes a trajectory)
        -> reflect (failure and success analysts, minibatch_size trajectories per call)
        -> aggregate (merge the patches) -> select (rank within edit_budget)
        -> update (apply the edits, or rewrite) -> gate (eval_fn on the held-out records;
           the candidate is kept only if its mean score is strictly higher)
    result: the best prompt, its held-out score and the initial prompt's

The optimizer's own calls go through skillopt's LLM client: the call cache (`work_dir`), the
ledger and the budget guards. The returned text is the best candidate exactly as the loop made
it, or the given text itself, untouched, when no candidate beat it; MLflow registers it as the
prompt's next version without going through `PromptVersion.format`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.genai.optimize.optimizers import BasePromptOptimizer
from mlflow.genai.optimize.types import PromptOptimizerOutput

from skillopt.base.atomic import write_json
from skillopt.base.checks import SettingError, check_number, check_text
from skillopt.base.errors import ConfigError
from skillopt.base.resources import prompts_dir
from skillopt.engine.ask import Asker
from skillopt.engine.environment import Splits
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.train import (
    GateSettings,
    NullTrainObserver,
    Trainer,
    TrainOutcome,
    TrainSettings,
)
from skillopt.engine.train.aggregate import MergeSettings
from skillopt.genai.candidates import PromptStepRunner, template_variables
from skillopt.genai.environment import EvalFn, EvalFnEnvironment, predict_fn_target
from skillopt.genai.runlog import ScoreLog, log_run_folder
from skillopt.llm.cache import CallCache
from skillopt.llm.client import LLMClient
from skillopt.llm.ledger import Budget, Ledger, Price
from skillopt.llm.openai_backend import OpenAIBackend, OpenAIOptions
from skillopt.llm.types import ChatBackend

log = logging.getLogger("skillopt.genai")

OFFLINE = "offline"
MERGE_BATCH_SIZE = 4  # patches per merge call, as skillopt-train's default


@dataclass(frozen=True, kw_only=True)
class SkillOptPromptOptimizer(BasePromptOptimizer):
    """Optimizes one text prompt with skillopt's reflect, aggregate, select, update and gate.

    Every value is checked here: a bad one raises `SettingError` with one line naming it.

    model: the optimizer model's name on an OpenAI-compatible endpoint, or "offline" for
        skillopt's deterministic stand-in (no network, no key; it only exercises the pipeline).
    base_url: the endpoint (None: api.openai.com, or the SDK's OPENAI_BASE_URL); must be None
        with "offline".
    api_key_env: the environment variable the API key is read from ("OPENAI_API_KEY"); the key
        itself is never an argument, and is never logged or stored.
    epochs: passes over the records to learn from (2).
    batch_size: records rolled out per step (8); steps per epoch = ceil(those records / 8).
    minibatch_size: trajectories per analyst call (4).
    edit_budget: edits (or suggestions) one step may apply (4); ranking picks them when more are
        proposed. Constant over the run.
    update_mode: patch | rewrite_from_suggestions | full_rewrite_minibatch, or a SkillOpt alias.
    holdout: the share of the train records held out for the gate (0.3), in (0, 1).
    pass_score: a record whose aggregated score is below it is a failure the failure analysts
        explain (1.0); the others go to the success analysts. The gate compares mean scores.
    seed: the holdout split, batch order and minibatch split (42).
    workers: concurrent optimizer calls (4).
    max_tokens: completion limit of every optimizer call (16384).
    max_calls / max_cost_usd: budget guards on the optimizer's calls (None = no limit); once
        reached no new call starts, the remaining steps propose nothing, and the best prompt so
        far is returned.
    input_per_mtok / output_per_mtok: US dollars per million tokens, for cost and max_cost_usd.
    use_slow_update / use_meta_skill: skillopt-train's epoch-level stages (both off): a guidance
        block appended to the prompt between HTML-comment markers, and lessons for the optimizer.
        Each epoch from the second on they roll out up to 20 records twice more.
    work_dir: where skillopt keeps its files: `llm_calls/`, the call cache every run in the folder
        shares (a request answered before is not paid again), and `runs/<time>-<id>/`, one
        folder per optimization (rollouts, prompts, patches, candidates, history). None: a
        temporary folder, removed at the end. With tracking on, the run folder is also logged.
    """

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    epochs: int = 2
    batch_size: int = 8
    minibatch_size: int = 4
    edit_budget: int = 4
    update_mode: str = "patch"
    holdout: float = 0.3
    pass_score: float = 1.0
    seed: int = 42
    workers: int = 4
    max_tokens: int = 16384
    max_calls: int | None = None
    max_cost_usd: float | None = None
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    use_slow_update: bool = False
    use_meta_skill: bool = False
    work_dir: str | os.PathLike[str] | None = None

    _openai: OpenAIOptions | None = field(init=False, repr=False, compare=False)
    _reflect: ReflectSettings = field(init=False, repr=False, compare=False)
    _train_settings: TrainSettings = field(init=False, repr=False, compare=False)
    _requests: RequestSettings = field(init=False, repr=False, compare=False)
    _budget: Budget = field(init=False, repr=False, compare=False)
    _price: Price = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text("model", self.model)
        if self.model == OFFLINE and self.base_url is not None:
            raise SettingError(
                "base_url", self.base_url, "expected null with model='offline' (it calls nothing)"
            )
        openai = OpenAIOptions(base_url=self.base_url, api_key_env=self.api_key_env)
        reflect = ReflectSettings(
            minibatch_size=self.minibatch_size,
            update_mode=self.update_mode,
            workers=self.workers,
            seed=self.seed,
        )
        train = TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            edit_budget=self.edit_budget,
            min_edit_budget=self.edit_budget,
            schedule="constant",
            merge_batch_size=MERGE_BATCH_SIZE,
            use_slow_update=self.use_slow_update,
            use_meta_skill=self.use_meta_skill,
            eval_test=False,
        )
        requests = RequestSettings(
            name=self.model, max_tokens=self.max_tokens, full_rewrite_max_tokens=self.max_tokens
        )
        budget = Budget(max_calls=self.max_calls, max_cost_usd=self.max_cost_usd)
        price = Price(input_per_mtok=self.input_per_mtok, output_per_mtok=self.output_per_mtok)
        holdout = self.holdout
        if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
            raise SettingError("holdout", holdout, "expected a number > 0 and < 1")
        check_number("pass_score", self.pass_score)
        if self.work_dir is not None and (
            not isinstance(self.work_dir, str | os.PathLike) or not str(self.work_dir).strip()
        ):
            raise SettingError("work_dir", self.work_dir, "expected a folder path (or null)")
        object.__setattr__(self, "update_mode", reflect.update_mode)
        object.__setattr__(self, "_openai", None if self.model == OFFLINE else openai)
        for name, value in (
            ("_reflect", reflect),
            ("_train_settings", train),
            ("_requests", requests),
            ("_budget", budget),
            ("_price", price),
        ):
            object.__setattr__(self, name, value)

    def _settings(self) -> dict[str, Any]:
        """The constructor's values (what `settings.json` and the run's fingerprint hold)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        values["work_dir"] = None if self.work_dir is None else str(self.work_dir)
        return values

    def optimize(
        self,
        eval_fn: EvalFn | None,
        train_data: list[dict[str, Any]],
        target_prompts: dict[str, str],
        enable_tracking: bool = True,
    ) -> PromptOptimizerOutput:
        """Optimize the one text prompt in `target_prompts` on `train_data` (see the module
        docstring). Initial and final scores, overall and per scorer, are means over the
        held-out records. `eval_fn` is called from this thread only, one call at a time."""
        name, template = _one_text_prompt(target_prompts)
        if eval_fn is None or not train_data:
            raise MlflowException.invalid_parameter_value(
                "SkillOptPromptOptimizer learns from scored records: pass train_data and scorers "
                "to optimize_prompts"
            )
        env = EvalFnEnvironment(
            eval_fn=eval_fn,
            prompt_name=name,
            records=train_data,
            holdout=self.holdout,
            seed=self.seed,
            pass_score=self.pass_score,
        )
        splits = env.splits()  # too few records are refused before anything is built
        backend = self._backend()  # so is a missing key
        tracking = enable_tracking and mlflow.active_run() is not None
        with self._folder() as root:
            outcome, best = self._train(env, splits, backend, root, template, tracking=tracking)
        log.info(
            "prompt %r: held-out score %.4f -> %.4f (%d accepted, %d rejected, %d skipped steps; "
            "%d optimizer calls)",
            name,
            outcome.baseline_selection_score,
            outcome.best_selection_score,
            outcome.accepts,
            outcome.rejects,
            outcome.skips,
            outcome.usage["optimizer"].calls,
        )
        return PromptOptimizerOutput(
            optimized_prompts={name: best},
            initial_eval_score=outcome.baseline_selection_score,
            final_eval_score=outcome.best_selection_score,
            initial_eval_score_per_scorer=env.scorer_means(template, splits.selection),
            final_eval_score_per_scorer=env.scorer_means(best, splits.selection),
        )

    def _train(
        self,
        env: EvalFnEnvironment,
        splits: Splits,
        backend: ChatBackend,
        root: Path,
        template: str,
        *,
        tracking: bool,
    ) -> tuple[TrainOutcome, str]:
        """Run the loop into a new run folder under `root`; its outcome and the best text."""
        client = LLMClient(
            backend=backend,
            ledger=Ledger(price=self._price, budget=self._budget),
            cache=CallCache(root / "llm_calls"),
        )
        run_dir = root / "runs" / _run_name()
        settings = {"prompt": env.prompt_name, **self._settings()}
        write_json(run_dir / "settings.json", settings)
        trainer = Trainer(
            runner=self._runner(env, client, template),
            splits=splits,
            initial_skill=template,
            out_dir=run_dir,
            settings=self._train_settings,
            gate=GateSettings(metric="soft"),
            fingerprint=settings,
            observer=ScoreLog() if tracking else NullTrainObserver(),
        )
        log.info(
            "optimizing prompt %r with skillopt (%s): %d records to learn from, %d held out, "
            "%d epochs x %d steps, into %s",
            env.prompt_name,
            self.model,
            len(splits.train),
            len(splits.selection),
            self.epochs,
            trainer.steps_per_epoch,
            run_dir,
        )
        outcome = trainer.run()
        write_json(run_dir / "summary.json", outcome.to_json())
        if tracking:
            log_run_folder(run_dir, outcome)
        if outcome.best_origin == "initial":
            return outcome, template
        return outcome, _read(run_dir / "best_skill.md")

    def _backend(self) -> ChatBackend:
        """The offline stand-in, or the OpenAI-compatible endpoint (its key read from the
        environment now, before anything is evaluated)."""
        if self._openai is None:
            from skillopt.sim import OfflineOptimizer

            return OfflineOptimizer()
        if not os.environ.get(self.api_key_env):
            raise ConfigError(
                f"environment variable {self.api_key_env} is not set; export the API key there "
                "(or name another variable with api_key_env)"
            )
        return OpenAIBackend(**asdict(self._openai))

    def _runner(self, env: EvalFnEnvironment, client: LLMClient, template: str) -> PromptStepRunner:
        prompts = PromptLibrary(builtin_dir=prompts_dir())
        return PromptStepRunner(
            env=env,
            target=predict_fn_target(),
            optimizer=client,
            asker=Asker(client=client, prompts=prompts, model=self.model),
            prompts=prompts,
            reflect=self._reflect,
            requests=self._requests,
            merge=MergeSettings(
                merge_batch_size=MERGE_BATCH_SIZE,
                workers=self.workers,
                max_tokens=self.max_tokens,
                full_rewrite_max_tokens=self.max_tokens,
            ),
            variables=template_variables(template),
        )

    @contextmanager
    def _folder(self) -> Iterator[Path]:
        if self.work_dir is not None:
            root = Path(self.work_dir).expanduser()
            root.mkdir(parents=True, exist_ok=True)
            yield root
            return
        with TemporaryDirectory(prefix="skillopt-optimize-") as tmp:
            yield Path(tmp)


def _one_text_prompt(target_prompts: dict[str, str]) -> tuple[str, str]:
    """The name and text of the only prompt; several prompts or a chat prompt are refused."""
    if len(target_prompts) != 1:
        names = ", ".join(sorted(target_prompts)) or "none"
        raise MlflowException.invalid_parameter_value(
            f"SkillOptPromptOptimizer optimizes one prompt per run, got {len(target_prompts)} "
            f"({names}): call optimize_prompts once per prompt"
        )
    ((name, text),) = target_prompts.items()
    if _is_chat(text):
        raise MlflowException.invalid_parameter_value(
            f"prompt {name!r} is a chat prompt; SkillOptPromptOptimizer edits one markdown text: "
            "register the prompt as a text template"
        )
    return name, text


def _is_chat(text: str) -> bool:
    """Whether `text` is a chat template as `optimize_prompts` passes one: a JSON list of
    messages."""
    if not text.lstrip().startswith("["):
        return False
    try:
        messages = json.loads(text)
    except ValueError:
        return False
    return bool(messages) and all(isinstance(m, dict) and "role" in m for m in messages)


def _run_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.urandom(3).hex()}"


def _read(path: Path) -> str:
    """A file's text exactly as written (no newline translation)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()
