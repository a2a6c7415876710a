"""SQuAD-style scoring: answer extraction, normalization, exact match and token F1."""

from __future__ import annotations

import pytest

from skillopt.envs.scoring import exact_match, extract_answer, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("I think so.\n<answer>Paris</answer>", "Paris"),
        ("<answer>first</answer> then <ANSWER> second </Answer>", "second"),
        ("<answer>\nline one\nline two\n</answer>\ntrailing words", "line one\nline two"),
        ("Reasoning here.\n\nFinal: Oslo\n   \n", "Final: Oslo"),
        ("   just this   ", "just this"),
        ("", ""),
        ("   \n  \n", ""),
    ],
)
def test_extract_answer(reply: str, expected: str) -> None:
    assert extract_answer(reply) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("An apple a day", "apple day"),
        ("  Many   spaces\tand\nlines ", "many spaces and lines"),
        ("Theatre, anthem, area", "theatre anthem area"),  # articles only as whole words
        ("12,500", "12500"),
        ("1969-07-20", "19690720"),
        ("the", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert exact_match("the Eiffel tower.", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_exact_match_takes_any_gold() -> None:
    assert exact_match("42 km", ["42", "42 km"]) == 1.0
    assert exact_match("43", ["42", "42 km"]) == 0.0


def test_exact_match_without_golds_is_zero() -> None:
    assert exact_match("anything", []) == 0.0


def test_f1_partial_overlap() -> None:
    # prediction "marie curie" vs gold "marie skłodowska curie": p=1, r=2/3
    assert f1_score("Marie Curie", ["Marie Skłodowska Curie"]) == pytest.approx(0.8)


def test_f1_best_over_golds_and_token_multiset() -> None:
    assert f1_score("red red blue", ["red", "red red blue", "green"]) == 1.0
    # multiset: only one "red" in the gold can be matched
    assert f1_score("red red", ["red blue"]) == pytest.approx(0.5)


def test_f1_no_overlap_is_zero() -> None:
    assert f1_score("north", ["south"]) == 0.0


def test_f1_empty_prediction_scores_only_against_empty_gold() -> None:
    assert f1_score("", ["Paris"]) == 0.0
    assert f1_score("the", ["Paris"]) == 0.0  # normalizes to empty
    assert f1_score("", ["Paris", "a"]) == 1.0  # "a" normalizes to empty
    assert f1_score("Paris", [""]) == 0.0
    assert f1_score("x", []) == 0.0
