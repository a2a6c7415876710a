"""Every name skillopt writes into MLflow, and the files it keeps beside a run's outputs.

Tags, params, metrics and artifact paths are a contract: the MLflow UI, `skillopt-report`,
`skillopt-sync` and users' own scripts read them. They are spelled here once; everything that
writes or reads a run imports them from this module (nothing else spells them).
"""

from __future__ import annotations

from pathlib import Path

REFLECT_EXPERIMENT = "skillopt-reflect"
TRAIN_EXPERIMENT = "skillopt-train"

JOB_REFLECT = "reflect"
JOB_TRAIN = "train"


class Tag:
    """Run tags. Those of MLflow's own are marked; every other one starts with `skillopt.`."""

    PARENT = "mlflow.parentRunId"  # MLflow's: the sweep's parent run
    NOTE = "mlflow.note.content"  # MLflow's: the run description shown in the UI
    JOB = "skillopt.job"  # reflect | train (runs without it are reflect runs)
    SWEEP_ID = "skillopt.sweep_id"  # the sweep directory as given (parent and children)
    SWEEP_DIR = "skillopt.sweep_dir"  # the sweep directory, absolute (parent)
    JOB_NUM = "skillopt.job_num"  # Hydra's job number in the sweep
    OVERRIDES = "skillopt.overrides"  # the job's overrides as a JSON list, secrets redacted
    COMMAND = "skillopt.command"  # the command as typed, secrets redacted
    GIT_COMMIT = "skillopt.git_commit"
    GIT_DIRTY = "skillopt.git_dirty"
    VERSION = "skillopt.version"
    MLFLOW_VERSION = "skillopt.mlflow_version"
    OUTPUT_DIR = "skillopt.output_dir"  # the job's output directory, absolute
    SEED = "skillopt.seed"
    FAILURE_SEED = "skillopt.failure_seed"
    SUCCESS_SEED = "skillopt.success_seed"
    SPLIT_SEED = "skillopt.split_seed"
    REPLAY_OF = "skillopt.replay_of"  # the run a replay answers from
    REPLAY_VERIFIED = "skillopt.replay_verified"  # true | false, set by skillopt-report
    REPLAY_DETAIL = "skillopt.replay_detail"
    ERROR = "skillopt.error"  # why a run ended FAILED or KILLED
    JOBS = "skillopt.jobs"  # parent: number of jobs
    FAILED_JOBS = "skillopt.failed_jobs"  # parent: number of failed jobs
    BEST_PARAMS = "skillopt.best_params"  # parent of a search sweep: the best params as JSON
    VERDICT = "skillopt.verdict"  # parent: the report's verdict across seeds, one sentence


class Param:
    """The curated params of each job kind (every overridden key is a param too)."""

    REFLECT = (
        "reflect.minibatch_size",
        "reflect.edit_budget",
        "reflect.update_mode",
        "reflect.seed",
        "reflect.failure_seed",
        "reflect.success_seed",
        "reflect.failure_only",
        "reflect.workers",
        "reflect.max_trajectory_chars",
        "model.backend",
        "model.name",
        "data.rollout_dir",
        "data.skill_path",
    )
    TRAIN = (
        "train.epochs",
        "train.batch_size",
        "train.accumulation",
        "train.seed",
        "train.edit_budget",
        "train.min_edit_budget",
        "train.schedule",
        "train.merge_batch_size",
        "train.use_slow_update",
        "train.pair_policy",
        "train.use_meta_skill",
        "reflect.minibatch_size",
        "reflect.update_mode",
        "reflect.failure_only",
        "reflect.skill_aware",
        "gate.metric",
        "gate.enabled",
        "model.backend",
        "model.name",
        "target.backend",
        "target.name",
        "env.name",
        "env.split_seed",
    )
    # Seed keys: runs that differ only in these are one setting with several seeds.
    SEEDS = ("reflect.seed", "reflect.failure_seed", "reflect.success_seed", "train.seed")
    MAX_CHARS = 6000  # MLflow's limit; longer values go to `params/<key>.txt` artifacts
    # Single keys that readers of runs (skillopt-report) look up by name.
    UPDATE_MODE = "reflect.update_mode"
    REFLECT_SEED = "reflect.seed"
    FAILURE_SEED = "reflect.failure_seed"  # follows from reflect.seed unless overridden
    SUCCESS_SEED = "reflect.success_seed"  # follows from reflect.seed unless overridden
    GATE_METRIC = "gate.metric"
    GATE_ENABLED = "gate.enabled"
    SPLIT_SEED = "env.split_seed"  # a seed key too: the data split, not the setting
    # What `skillopt-report` groups settings by: runs that differ only in these are one
    # setting run with several seeds.
    SETTING_SEEDS = (*SEEDS, SPLIT_SEED)


class Metric:
    """Metric names. Reflect runs log the first group once; training runs log the step metrics
    with `step=<global step>` (step 0 is the initial skill) and the final ones at the end."""

    # reflect
    TRAJECTORIES = "trajectories.{}"  # total, failures, successes, skipped
    MINIBATCHES = "minibatches.{}"  # total, failure, success, failed, resumed
    MINIBATCHES_FAILED = "minibatches.failed"
    PAYLOAD_ITEMS = "payload.items"
    PAYLOAD_DROPPED = "payload.dropped"
    PAYLOAD_TRUNCATED = "payload.truncated"
    PAYLOAD_KIND = "payload.{}.{}"  # payload key, item kind: payload.edits.append
    REFLECT_WALL_S = "reflect.wall_s"
    REPLIES_REPAIRED = "replies.repaired"  # replies used after repairing near-JSON

    # the LLM ledger (both jobs; training also per role: llm.optimizer.calls, llm.target.calls)
    LLM = "llm.{}"  # calls, prompt_tokens, completion_tokens, cost_usd, retries, cache_hits
    LLM_ROLE = "llm.{}.{}"  # role, name
    LLM_CALLS = "llm.calls"
    LLM_PROMPT_TOKENS = "llm.prompt_tokens"
    LLM_COMPLETION_TOKENS = "llm.completion_tokens"
    LLM_COST_USD = "llm.cost_usd"
    LLM_LATENCY_P50_S = "llm.latency_p50_s"
    LLM_LATENCY_MAX_S = "llm.latency_max_s"

    # training, per step
    SELECTION_HARD = "selection.hard"
    SELECTION_SOFT = "selection.soft"
    GATE_SCORE = "gate.score"
    GATE_CURRENT = "gate.current"
    GATE_BEST = "gate.best"
    GATE_ACCEPTED = "gate.accepted"
    STEP_SKIPPED = "step.skipped"
    TRAIN_HARD = "train.hard"
    TRAIN_SOFT = "train.soft"
    TRAIN_BATCHES = "train.batches"  # batches rolled out and reflected on (train.accumulation)
    EDIT_BUDGET = "select.edit_budget"
    LR_DECISION = "select.lr_decision"  # the autonomous schedule's decision (items applied)
    LR_FALLBACK = "select.lr_fallback"  # 1 when no usable decision came (then 0 items)
    ITEMS_SELECTED = "select.items"
    ITEMS_MERGED = "aggregate.items"
    MERGE_FALLBACKS = "aggregate.fallbacks"
    EDITS_APPLIED = "update.edits_applied"
    EDITS_SKIPPED = "update.edits_skipped"
    APPENDIX_NOTES = "appendix.notes_{}"  # proposed | added | total (reflect.skill_aware)
    APPENDIX_CONSOLIDATED = "appendix.consolidated"
    STAGE_TOKENS = "tokens.{}.{}"  # stage, prompt | completion
    STAGE_COST = "cost.{}"  # stage
    EPOCH = "epoch"
    SLOW_UPDATE_SCORE = "slow_update.gate_score"
    SLOW_UPDATE_ACCEPTED = "slow_update.accepted"
    TOPUP = "slow_update.topup_{}"  # tasks | pairs: the changed pair policy's top-up

    # training, at the end
    BASELINE_SELECTION = "baseline.selection_score"
    BEST_SELECTION = "best.selection_score"
    FINAL_SELECTION = "final.selection_score"
    BEST_STEP = "best.step"
    STEPS_TOTAL = "steps.total"
    STEPS_ACCEPTED = "steps.accepted"
    STEPS_REJECTED = "steps.rejected"
    STEPS_SKIPPED = "steps.skipped"
    TEST_HARD = "test.{}_hard"  # baseline | best | final
    TEST_SOFT = "test.{}_soft"
    TEST_DELTA_HARD = "test.delta_hard"
    TEST_FINAL_DELTA_HARD = "test.final_delta_hard"
    TRAIN_WALL_S = "train.wall_s"

    # the parent run of a sweep
    SWEEP_JOBS = "sweep.jobs"
    SWEEP_JOBS_FAILED = "sweep.jobs_failed"
    SWEEP_JOBS_KILLED = "sweep.jobs_killed"
    SWEEP_BEST_VALUE = "sweep.best_value"
    # and, written there by skillopt-report: per setting (a stable key, `s1a2b3c4d`) and
    # metric, its statistics across seeds; per setting, baseline setting and metric, the
    # paired comparison over their shared seeds.
    SETTING_STAT = "settings.{}.{}.{}"  # setting, metric, one of SETTING_STATS
    SETTING_STATS = ("n", "mean", "sd", "ci_low", "ci_high")
    SETTING_VS = "settings.{}.vs.{}.{}.{}"  # setting, baseline, metric, one of SETTING_VS_STATS
    SETTING_VS_STATS = ("pairs", "diff_mean", "ci_low", "ci_high", "wilcoxon_p")

    # The per-step metrics whose whole history a report reads.
    STEP_HISTORY = (
        SELECTION_HARD,
        SELECTION_SOFT,
        GATE_SCORE,
        GATE_CURRENT,
        GATE_BEST,
        GATE_ACCEPTED,
        TRAIN_HARD,
        TRAIN_SOFT,
        EDIT_BUDGET,
        EDITS_APPLIED,
        LLM_COST_USD,
    )


class Artifact:
    """Artifact paths inside a run."""

    PATCHES = "patches"
    PROMPTS = "prompts"
    TRAJECTORIES = "trajectories"
    LLM_CALLS = "llm_calls"
    SKILL = "skill"  # skill/skill.md: the skill a reflect run read
    SKILLS = "skills"  # skills/skill_vNNNN.md: a training run's skill after each step
    STEPS = "steps"
    SLOW_UPDATE = "slow_update"
    HYDRA = "hydra"  # the composed config, secrets redacted
    LOGS = "logs"
    PARAMS = "params"  # params too long (or too structured) for MLflow
    SUMMARY = "summary.json"
    HISTORY = "history.json"
    BEST_SKILL = "best_skill.md"
    FINAL_SKILL = "final_skill.md"
    SPLIT_MANIFEST = "split_manifest.json"
    LR_HISTORY = "lr_history.jsonl"  # the autonomous schedule's decisions, one per step
    TABLES = "tables"
    MINIBATCH_TABLE = "tables/minibatches.json"
    STEP_TABLE = "tables/steps.json"
    REPORT = "report"  # a sweep's report, on its parent run
    SETTINGS_TABLE = "tables/settings.json"  # parent: statistics per setting and metric
    COMPARISONS_TABLE = "tables/comparisons.json"  # parent: paired comparisons
    SWEEP = "sweep"  # a search sweep's result file, on its parent run
    MULTIRUN_CONFIG = "hydra/multirun.yaml"  # on the parent run
    HYDRA_SETTINGS = "hydra/hydra.yaml"  # Hydra's own settings (hydra.runtime.cwd: where it ran)


class RunFolder:
    """Files skillopt keeps in a job's output directory (and a sweep's directory) for tracking."""

    # The run journal, written whether or not the job is tracked; a run is uploaded from it.
    IDENTITY = Path(".skillopt") / "run_identity.json"  # experiment, name, params, tags, data
    METRICS = Path(".skillopt") / "metrics.jsonl"  # every metric batch, with its step and time
    END = Path(".skillopt") / "run_end.json"  # how the job ended: status, time, final tags
    SPANS = Path(".skillopt") / "spans.jsonl"  # the span journal: every span and trace
    SKILL_VERSIONS = Path(".skillopt") / "skill_versions.jsonl"  # skills for the registry
    # How far the upload got: the run id at its tracking URI, and what it holds already.
    RUN = Path(".skillopt") / "mlflow_run.json"
    PARENT = Path(".skillopt") / "parent_run.json"  # in a sweep dir: the sweep's parent run
    SWEEP = Path(".skillopt") / "sweep_identity.json"  # in a sweep dir: the parent's identity
    LONG_PARAMS = Path(".skillopt") / "params"  # params written as files before upload
    TABLES = Path(".skillopt") / "tables"  # the run's tables, written before upload
    SEARCH_RESULT = "optimization_results.yaml"  # written by hydra-optuna-sweeper
