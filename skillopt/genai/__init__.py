"""skillopt inside MLflow's GenAI API: `SkillOptPromptOptimizer`, an optimizer for
`mlflow.genai.optimize_prompts` (public as `skillopt.mlflow`).

`optimizer` the optimizer and its settings; `environment` the train records as an environment
answered through MLflow's `eval_fn`; `trajectory` one evaluation record as a trajectory;
`candidates` what a candidate prompt must keep; `runlog` what it adds to the MLflow run.
"""

from skillopt.genai.optimizer import SkillOptPromptOptimizer

__all__ = ["SkillOptPromptOptimizer"]
