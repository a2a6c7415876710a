"""The pure engine: no Hydra, no MLflow. The reflect step (plan minibatches, format, ask,
validate, summarize), the environment protocol and rollout runner it trains against, and the
training loop (`skillopt.engine.train`)."""

from skillopt.engine.environment import Environment, Grade, Grader, Splits, TargetModel, Task
from skillopt.engine.formatting import ClipLimits, FormatSettings, format_block, format_conversation
from skillopt.engine.jsonx import Extracted, extract_json
from skillopt.engine.minibatch import Minibatch, plan_minibatches
from skillopt.engine.outcome import (
    MinibatchResult,
    NullObserver,
    Observers,
    ReflectObserver,
    ReflectOutcome,
    summarize,
)
from skillopt.engine.output import OutputWriter
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.rollouts import run_rollout
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.splits import split_by_ratio
from skillopt.engine.summary import ReflectSummary

__all__ = [
    "ClipLimits",
    "Environment",
    "Extracted",
    "FormatSettings",
    "Grade",
    "Grader",
    "Minibatch",
    "MinibatchResult",
    "NullObserver",
    "Observers",
    "OutputWriter",
    "PromptLibrary",
    "ReflectObserver",
    "ReflectOutcome",
    "ReflectSettings",
    "ReflectSummary",
    "RequestSettings",
    "Splits",
    "TargetModel",
    "Task",
    "extract_json",
    "format_block",
    "format_conversation",
    "plan_minibatches",
    "run_reflect",
    "run_rollout",
    "split_by_ratio",
    "summarize",
]
