"""SQuAD-style answer scoring: pull the answer out of a reply, then exact match and token F1.

Both scores compare *normalized* text (lowercase, no punctuation, no articles, single spaces),
so "The Eiffel Tower." and "eiffel tower" are the same answer. A task's `hard` score is the
exact match and its `soft` score the F1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def extract_answer(text: str) -> str:
    """The final answer in a reply.

    The last `<answer>...</answer>` block (tags in any case, content may span lines), stripped;
    without one, the last non-empty line; for a blank reply, the empty string.
    """
    tagged = _ANSWER_TAG.findall(text)
    if tagged:
        return tagged[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        return lines[-1]
    return text.strip()


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    lowered = text.lower()
    no_punct = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(no_articles.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals some normalized gold, else 0.0 (also with no golds)."""
    predicted = normalize_answer(prediction)
    return 1.0 if any(predicted == normalize_answer(g) for g in golds) else 0.0


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-multiset F1 against any gold (0.0 with no golds).

    When either side normalizes to nothing, the pair scores 1.0 only if both do, so an empty
    prediction earns credit only against an empty gold.
    """
    predicted = normalize_answer(prediction).split()
    return max((_token_f1(predicted, normalize_answer(g).split()) for g in golds), default=0.0)


def _token_f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return 1.0 if predicted == gold else 0.0
    overlap = sum((Counter(predicted) & Counter(gold)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(gold)
    return 2 * precision * recall / (precision + recall)
