"""The optimizer-side templates (merge, ranking, rewrite, slow update, meta skill).

Each one must load through the prompt library like the analyst templates, and the JSON example in
its `## Reply format` section must have exactly the keys the code reads back, with items that pass
the same item models the analysts' items pass. A template whose example drifts from the schema
teaches the model to send replies the code then throws away.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from skillopt.base.modes import SPECS, ModeSpec, SkillCandidate, UpdateMode
from skillopt.base.resources import prompts_dir
from skillopt.engine.jsonx import extract_json
from skillopt.engine.prompts import PromptLibrary

MERGE_STAGES = ("merge_failure", "merge_success", "merge_final")
MERGE_TEMPLATES: dict[str, ModeSpec] = {
    stage + spec.template_suffix: spec for spec in SPECS.values() for stage in MERGE_STAGES
}
OTHER_REPLY_KEYS: dict[str, set[str]] = {
    "ranking": {"reasoning", "selected_indices"},
    "ranking_rewrite": {"reasoning", "selected_indices"},
    "rewrite_skill": {"reasoning", "change_summary", "new_skill"},
    "slow_update": {"reasoning", "slow_update_content"},
    "meta_skill": {"reasoning", "meta_skill_content"},
    "lr_autonomous": {"reasoning", "learning_rate", "confidence", "risk_notes"},
    "appendix_consolidate": {"reasoning", "notes"},
}
REPLY_KEYS: dict[str, set[str]] = {
    **{name: {"reasoning", spec.key} for name, spec in MERGE_TEMPLATES.items()},
    **OTHER_REPLY_KEYS,
}
ALL_TEMPLATES = sorted(REPLY_KEYS)

_HEADING = re.compile(r"^## .*$", re.MULTILINE)
_JSON_FENCE = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def library() -> PromptLibrary:
    return PromptLibrary(builtin_dir=prompts_dir())


def _reply_section(text: str) -> str:
    """The text of the `## Reply format` section, up to the next `## ` heading or the end."""
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        if heading.group(0).strip() == "## Reply format":
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return text[heading.end() : end]
    raise AssertionError("no '## Reply format' section")


def _example(text: str) -> dict[str, Any]:
    """The single ```json example of the reply-format section, parsed as the code parses replies."""
    blocks = _JSON_FENCE.findall(_reply_section(text))
    assert len(blocks) == 1, f"expected one ```json block in '## Reply format', found {len(blocks)}"
    return extract_json(blocks[0]).value


def test_merge_template_names_cover_every_mode_and_stage():
    assert sorted(MERGE_TEMPLATES) == sorted(
        [
            "merge_failure",
            "merge_success",
            "merge_final",
            "merge_failure_rewrite",
            "merge_success_rewrite",
            "merge_final_rewrite",
            "merge_failure_full_rewrite",
            "merge_success_full_rewrite",
            "merge_final_full_rewrite",
        ]
    )


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_template_loads_with_role_and_a_strict_reply_format(library, name):
    template = library.get(name)
    assert template.path.parent == prompts_dir()
    assert template.text.startswith("# Role: ")
    section = _reply_section(template.text)
    assert "Reply with ONE JSON object and nothing else" in section
    assert "SLOW_UPDATE_START" in template.text


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_reply_example_has_exactly_the_keys_the_code_reads(library, name):
    example = _example(library.get(name).text)
    assert set(example) == REPLY_KEYS[name]
    assert isinstance(example["reasoning"], str) and example["reasoning"].strip()


@pytest.mark.parametrize("name", sorted(MERGE_TEMPLATES))
def test_merge_example_items_validate_and_carry_support_and_source(library, name):
    spec = MERGE_TEMPLATES[name]
    items = _example(library.get(name).text)[spec.key]
    assert isinstance(items, list) and items
    expected_sources = {
        "merge_failure": {"failure"},
        "merge_success": {"success"},
        "merge_final": {"failure", "success"},
    }[name.removesuffix(spec.template_suffix)]
    for item in items:
        spec.item_model.model_validate(item)
        assert isinstance(item["support_count"], int) and item["support_count"] >= 1
        assert item["source_type"] in expected_sources
    if name.startswith("merge_final"):
        assert items[0]["source_type"] == "failure", "failure-driven items come first"


@pytest.mark.parametrize("name", sorted(MERGE_TEMPLATES))
def test_merge_template_names_its_own_payload_key_and_no_other(library, name):
    spec = MERGE_TEMPLATES[name]
    text = library.get(name).text
    assert f"`{spec.key}`" in text
    for other in SPECS.values():
        if other.key not in (spec.key, "edits"):
            assert other.key not in text, f"{name} mentions {other.key}"


def test_patch_merge_examples_never_touch_one_passage_twice(library):
    for name, spec in MERGE_TEMPLATES.items():
        if spec.mode is not UpdateMode.PATCH:
            continue
        targets = [e["target"] for e in _example(library.get(name).text)["edits"] if "target" in e]
        assert len(targets) == len(set(targets)), name
        assert "character for character" in library.get(name).text


@pytest.mark.parametrize("name", ["ranking", "ranking_rewrite"])
def test_ranking_example_is_distinct_zero_based_indices(library, name):
    text = library.get(name).text
    indices = _example(text)["selected_indices"]
    assert indices and all(isinstance(i, int) and not isinstance(i, bool) for i in indices)
    assert all(i >= 0 for i in indices) and len(indices) == len(set(indices))
    assert "0-based" in text and "at most `k`" in text
    pool = "Edit Pool (<n> edits" if name == "ranking" else "Suggestion Pool (<n> suggestions"
    assert f"## {pool}, budget <k>)" in text


def test_rewrite_skill_example_is_a_candidate_and_protects_both_blocks(library):
    text = library.get("rewrite_skill").text
    example = _example(text)
    candidate = SkillCandidate.model_validate(example)
    assert candidate.change_summary and all(isinstance(c, str) for c in candidate.change_summary)
    for marker in (
        "<!-- SLOW_UPDATE_START -->",
        "<!-- SLOW_UPDATE_END -->",
        "<!-- APPENDIX_START -->",
        "<!-- APPENDIX_END -->",
    ):
        assert marker in text
    assert "## Selected Revise Suggestions (<n> total)" in text


@pytest.mark.parametrize(
    ("name", "key"), [("slow_update", "slow_update_content"), ("meta_skill", "meta_skill_content")]
)
def test_epoch_level_examples_are_short_markdown_without_markers(library, name, key):
    content = _example(library.get(name).text)[key]
    assert isinstance(content, str) and content.strip()
    assert "<!--" not in content
    bullets = [line for line in content.splitlines() if line.lstrip().startswith("- ")]
    assert 1 <= len(bullets) <= 12
