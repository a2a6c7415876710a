"""skillopt as an optimizer for `mlflow.genai.optimize_prompts`.

    from skillopt.mlflow import SkillOptPromptOptimizer

    result = mlflow.genai.optimize_prompts(
        predict_fn=predict_fn,
        train_data=records,
        prompt_uris=[prompt.uri],
        optimizer=SkillOptPromptOptimizer(model="gpt-4.1-mini"),
        scorers=[my_scorer],
    )

The implementation lives in `skillopt.genai`; the README's "Optimize an MLflow prompt" section
has a whole example that runs offline.
"""

from skillopt.genai import SkillOptPromptOptimizer

__all__ = ["SkillOptPromptOptimizer"]
