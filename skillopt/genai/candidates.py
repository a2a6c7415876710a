"""What a candidate prompt must keep to be worth scoring: the template variables of the prompt it
came from, and a length MLflow's Prompt Registry accepts.

The analysts edit the prompt as a markdown document and know nothing of `{{ variables }}`: an
edit can drop `{{ question }}` (predict_fn's `format()` then silently leaves the input out) or
add one predict_fn never fills. Such a candidate is refused before `eval_fn` sees it, as a skipped
step (`skip_template_variables`), like a step that proposed nothing; so is one longer than the
registry takes (`skip_too_long`), since `optimize_prompts` could not register it. Variables are
found with MLflow's own pattern. (The slow-update block only appends text; it is not checked.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mlflow.prompt.constants import PROMPT_TEMPLATE_VARIABLE_PATTERN
from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

from skillopt.engine.train.step import StepInputs, StepProposal, StepRunner

log = logging.getLogger("skillopt.genai")


def template_variables(text: str) -> frozenset[str]:
    """The `{{ name }}` variables MLflow's `PromptVersion.format` fills in `text`."""
    return frozenset(PROMPT_TEMPLATE_VARIABLE_PATTERN.findall(text))


def refusal(candidate: str, variables: frozenset[str]) -> tuple[str, str] | None:
    """(skip action, reason) when `candidate` cannot stand in for a prompt with `variables`."""
    found = template_variables(candidate)
    if found != variables:
        changes = [f"drops {{{{{name}}}}}" for name in sorted(variables - found)]
        changes += [f"adds {{{{{name}}}}}" for name in sorted(found - variables)]
        return "skip_template_variables", "the candidate " + " and ".join(changes)
    if len(candidate) > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH:
        return "skip_too_long", (
            f"the candidate has {len(candidate):,} characters; the Prompt Registry takes at most "
            f"{MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH:,}"
        )
    return None


@dataclass(frozen=True, kw_only=True)
class PromptStepRunner(StepRunner):
    """A step runner whose candidates must keep the prompt's template `variables` (see the module
    docstring); a refused candidate makes the step a skip, with its reason in the log."""

    variables: frozenset[str]

    def propose(self, skill: str, inputs: StepInputs, step_dir: Path) -> StepProposal:
        proposal = super().propose(skill, inputs, step_dir)
        if proposal.candidate is not None:
            refused = refusal(proposal.candidate, self.variables)
            if refused is not None:
                proposal.skip, reason = refused
                proposal.candidate = None
                log.warning("%s: candidate not scored: %s", step_dir.name, reason)
        return proposal
