"""The pure reflect engine: no Hydra, no MLflow. Load, plan, format, ask, validate, return."""

from skillopt.base.modes import UpdateMode, mode_spec, normalize_update_mode
from skillopt.base.rollout import RolloutSet, TrajectoryRecord, load_rollout
from skillopt.engine.formatting import ClipLimits, FormatSettings, format_block, format_conversation
from skillopt.engine.jsonx import extract_json
from skillopt.engine.minibatch import Minibatch, plan_minibatches
from skillopt.engine.outcome import MinibatchResult, NullObserver, ReflectObserver, ReflectOutcome
from skillopt.engine.output import summarize, write_outputs
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import ReflectSettings, RequestSettings, run_reflect

__all__ = [
    "ClipLimits",
    "FormatSettings",
    "Minibatch",
    "MinibatchResult",
    "NullObserver",
    "PromptLibrary",
    "ReflectObserver",
    "ReflectOutcome",
    "ReflectSettings",
    "RequestSettings",
    "RolloutSet",
    "TrajectoryRecord",
    "UpdateMode",
    "extract_json",
    "format_block",
    "format_conversation",
    "load_rollout",
    "mode_spec",
    "normalize_update_mode",
    "plan_minibatches",
    "run_reflect",
    "summarize",
    "write_outputs",
]
