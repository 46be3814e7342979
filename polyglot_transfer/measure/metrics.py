"""Metrics that can be resampled per example, registered by name.

Every metric is a `Metric`: call it as ``metric(y_true, y_pred, labels)`` to get a float in [0, 1]
(higher is better; chrF is sacrebleu's score divided by 100). Each metric is also expressed as
*per-example sufficient statistics* that are summed and then aggregated, so the statistics module can
resample thousands of times with one matrix product instead of re-running the metric in Python:

    stats = metric.sufficient_stats(y_true, y_pred, labels)   # shape (n, k)
    metric.from_stats(weights @ stats)                        # weights: (R, n) -> R scores

Example:
    >>> get_metric("accuracy")([0, 1, 1], [0, 1, 0], None)
    0.6666666666666666
"""

from __future__ import annotations

import dataclasses
import logging
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.registry import Registry

logger = logging.getLogger(__name__)

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "chrf",
    "exact_match",
    "get_metric",
    "list_metrics",
    "macro_f1",
    "normalize_answer",
    "resolve_labels",
    "token_f1",
    "tokenize_answer",
]

METRICS: Registry[Metric] = Registry("metric")

StatsFn = Callable[[np.ndarray, np.ndarray, "list | None", Mapping[str, Any]], np.ndarray]
AggregateFn = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A named metric defined by per-example sufficient statistics and an aggregation.

    `stats_fn(y_true, y_pred, labels, options)` returns an (n, k) float array whose column sums are
    enough to compute the metric; `aggregate_fn(sums, options)` maps (..., k) summed statistics to (...)
    scores. `value_fn`, when set, is the reference implementation used for a plain call (e.g.
    scikit-learn's `f1_score`); the tests check that both paths agree.
    """

    name: str
    stats_fn: StatsFn
    aggregate_fn: AggregateFn
    description: str = ""
    uses_labels: bool = False
    value_fn: Callable[[np.ndarray, np.ndarray, list | None, Mapping[str, Any]], float] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    allowed_options: frozenset[str] = frozenset()

    def __call__(self, y_true: Any, y_pred: Any, labels: list | None = None, **options: Any) -> float:
        """Score `y_pred` against `y_true` over the whole data set."""
        metric = self.with_options(**options) if options else self
        y_true_arr, y_pred_arr = as_example_array(y_true, "y_true"), as_example_array(y_pred, "y_pred")
        check_same_length(y_true_arr, y_pred_arr)
        if len(y_true_arr) == 0:
            raise DataError(
                f"Cannot compute {self.name!r} on 0 examples. Expected at least one (y_true, y_pred) pair; "
                "check that the evaluation split is not empty."
            )
        if metric.uses_labels:
            labels = resolve_labels(labels, y_true_arr, y_pred_arr)
        if metric.value_fn is not None:
            return float(metric.value_fn(y_true_arr, y_pred_arr, labels, metric.options))
        stats = metric.stats_fn(y_true_arr, y_pred_arr, labels, metric.options)
        return float(metric.aggregate_fn(stats.sum(axis=0), metric.options))

    def sufficient_stats(self, y_true: Any, y_pred: Any, labels: list | None = None) -> np.ndarray:
        """Per-example statistics, shape (n, k); sums over any multiset of rows give a resampled score."""
        y_true_arr, y_pred_arr = as_example_array(y_true, "y_true"), as_example_array(y_pred, "y_pred")
        check_same_length(y_true_arr, y_pred_arr)
        if self.uses_labels:
            labels = resolve_labels(labels, y_true_arr, y_pred_arr)
        return np.asarray(self.stats_fn(y_true_arr, y_pred_arr, labels, self.options), dtype=np.float64)

    def from_stats(self, sums: np.ndarray) -> np.ndarray:
        """Scores from summed statistics: (..., k) -> (...)."""
        return np.asarray(self.aggregate_fn(np.asarray(sums, dtype=np.float64), self.options), dtype=np.float64)

    def with_options(self, **options: Any) -> Metric:
        """A copy with metric options bound (e.g. ``token_f1.with_options(lang="yor_Latn")``)."""
        unknown = sorted(set(options) - self.allowed_options)
        if unknown:
            allowed = ", ".join(sorted(self.allowed_options)) or "(none)"
            raise ConfigError(
                f"Metric {self.name!r} got unknown option(s) {unknown}. Expected only: {allowed}. "
                "Remove the option or pick a metric that supports it."
            )
        return dataclasses.replace(self, options={**self.options, **options})


def get_metric(name: str, **options: Any) -> Metric:
    """Look up a registered metric by name, optionally binding options; unknown names raise ConfigError."""
    metric = METRICS.get(name)
    return metric.with_options(**options) if options else metric


def list_metrics() -> list[tuple[str, str]]:
    """(name, description) of every registered metric, sorted by name (for `pgt ls metrics`)."""
    return [(name, metric.description) for name, metric in METRICS.items()]


# --------------------------------------------------------------------------- input handling


def as_example_array(values: Any, what: str = "values") -> np.ndarray:
    """A 1-D array with one entry per example; nested sequences (several gold answers) become objects."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise DataError(
                f"{what} must be 1-D (one entry per example). Got an array of shape {values.shape}; "
                "pass predicted labels, not scores or probabilities."
            )
        return values
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise DataError(
            f"{what} must be a sequence with one entry per example. Got a single {type(values).__name__}: "
            f"{values!r}."
        )
    items = list(values)
    if items and len({type(v) for v in items}) == 1 and np.isscalar(items[0]):
        return np.asarray(items)  # homogeneous labels/strings: fast vectorised comparisons
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):  # element-wise so equal-length answer lists do not become a 2-D array
        array[i] = item
    return array


def check_same_length(*arrays: np.ndarray) -> None:
    """Raise DataError unless all arrays hold the same number of examples."""
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise DataError(
            f"Gold and predictions must have one entry per example. Got lengths {lengths}; "
            "check that predictions were produced for every example of the same split."
        )


def resolve_labels(labels: Sequence | None, *arrays: np.ndarray) -> list:
    """The label set: `labels` if given, else the union of values in `arrays` (sorted when possible).

    Pass every array involved in a comparison so that both systems are scored over the same classes.
    """
    if labels is not None:
        resolved = list(labels)
        if not resolved:
            raise DataError("labels is empty. Expected the list of classes; pass None to infer them from the data.")
        return resolved
    seen: dict[Any, None] = {}
    for array in arrays:
        for value in np.asarray(array).tolist():
            seen.setdefault(value, None)
    try:
        return sorted(seen)
    except TypeError:
        return list(seen)


def _encode(values: np.ndarray, labels: list) -> np.ndarray:
    """Index of each value in `labels`, or len(labels) for values outside the label set."""
    index = {label: i for i, label in enumerate(labels)}
    outside = len(labels)
    return np.fromiter((index.get(v, outside) for v in values.tolist()), dtype=np.int64, count=len(values))


# --------------------------------------------------------------------------- classification


def _accuracy_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    correct = (y_true == y_pred) if y_true.dtype != object else np.array(
        [t == p for t, p in zip(y_true.tolist(), y_pred.tolist())], dtype=bool
    )
    return np.stack([np.asarray(correct, dtype=np.float64), np.ones(len(y_true))], axis=1)


def _mean_of_first(sums: np.ndarray, options: Mapping) -> np.ndarray:
    count = sums[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, sums[..., 0] / np.where(count > 0, count, 1), np.nan)


def _macro_f1_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    if labels is None:
        labels = resolve_labels(None, y_true, y_pred)
    k = len(labels)
    t, p = _encode(y_true, labels), _encode(y_pred, labels)
    eye = np.eye(k + 1)[:, :k]  # the extra row is "not in labels" and maps to all zeros
    true_1h, pred_1h = eye[t], eye[p]
    return np.concatenate([true_1h * pred_1h, true_1h, pred_1h], axis=1)  # (n, 3k): tp | support | predicted


def _macro_f1_aggregate(sums: np.ndarray, options: Mapping) -> np.ndarray:
    k = sums.shape[-1] // 3
    tp, support, predicted = sums[..., :k], sums[..., k : 2 * k], sums[..., 2 * k :]
    denom = support + predicted  # F1 = 2tp / (2tp + fp + fn) = 2tp / (support + predicted)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)  # zero_division=0
    return f1.mean(axis=-1)


def _macro_f1_value(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> float:
    from sklearn.metrics import f1_score

    return float(
        f1_score(y_true.tolist(), y_pred.tolist(), labels=labels, average="macro", zero_division=0)
    )


accuracy = Metric(
    name="accuracy",
    stats_fn=_accuracy_stats,
    aggregate_fn=_mean_of_first,
    description="Share of examples whose prediction equals the gold label.",
)

macro_f1 = Metric(
    name="macro_f1",
    stats_fn=_macro_f1_stats,
    aggregate_fn=_macro_f1_aggregate,
    value_fn=_macro_f1_value,
    uses_labels=True,
    description=(
        "Unweighted mean of per-class F1 over the label set (scikit-learn, zero_division=0); "
        "a class never predicted counts as F1 = 0."
    ),
)

# --------------------------------------------------------------------------- extractive QA

_ENGLISH_ARTICLES = frozenset({"a", "an", "the"})
# SQuAD v1.1 removes string.punctuation, which includes ASCII symbols (category S*: $ + < = > ^ ` | ~);
# removing them too keeps English scores identical to the official script.
_ASCII_PUNCTUATION = frozenset(string.punctuation)
# Scripts written without spaces between words: each character is a token (MLQA-style mixed segmentation).
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B+
)


def _is_unspaced(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _UNSPACED_RANGES)


def normalize_answer(text: str, lang: str | None = None) -> str:
    """SQuAD-style normalisation that works beyond English.

    NFC-normalises (so tone marks typed as combining characters match precomposed ones), casefolds,
    deletes characters of Unicode category P* (punctuation in any script, e.g. Devanagari danda,
    Ethiopic full stop) and the ASCII symbols SQuAD removes ($ + < = > ^ ` | ~), keeps combining marks (tone marks, vowel signs), drops the English articles
    only when `lang` starts with "eng", and collapses whitespace.
    """
    if not isinstance(text, str):
        raise DataError(
            f"QA answers must be strings. Got {type(text).__name__}: {text!r}; "
            "use '' for an empty prediction."
        )
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(
        ch for ch in text if ch not in _ASCII_PUNCTUATION and not unicodedata.category(ch).startswith("P")
    )
    tokens = text.split()
    if lang is not None and lang.lower().startswith("eng"):
        tokens = [t for t in tokens if t not in _ENGLISH_ARTICLES]
    return " ".join(tokens)


def tokenize_answer(text: str, lang: str | None = None) -> list[str]:
    """Tokens of the normalised answer: whitespace words, with characters of unspaced scripts (CJK, Thai,
    Lao, Khmer, Myanmar, kana) split into one token each (combining marks stay with their base)."""
    tokens: list[str] = []
    for word in normalize_answer(text, lang).split():
        current, previous_unspaced = "", False
        for ch in word:
            if unicodedata.category(ch).startswith("M"):  # combining mark: stays with its base character
                current += ch
                continue
            unspaced = _is_unspaced(ch)
            if current and (unspaced or previous_unspaced):
                tokens.append(current)
                current = ""
            current += ch
            previous_unspaced = unspaced
        if current:
            tokens.append(current)
    return tokens


def _gold_answers(gold: Any) -> list[str]:
    if isinstance(gold, str):
        return [gold]
    answers = list(gold) if isinstance(gold, Sequence | np.ndarray) else None
    if not answers:
        raise DataError(
            f"Each gold answer must be a string or a non-empty list of strings. Got {gold!r}; "
            "drop unanswerable examples or give at least one reference."
        )
    return answers


def _pair_token_f1(gold: str, pred: str, lang: str | None) -> float:
    gold_tokens, pred_tokens = tokenize_answer(gold, lang), tokenize_answer(pred, lang)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)  # SQuAD v2: both empty -> 1, one empty -> 0
    common: dict[str, int] = {}
    remaining = {}
    for tok in gold_tokens:
        remaining[tok] = remaining.get(tok, 0) + 1
    for tok in pred_tokens:
        if remaining.get(tok, 0) > 0:
            remaining[tok] -= 1
            common[tok] = common.get(tok, 0) + 1
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _qa_stats(pair_score: Callable[[str, str, str | None], float]) -> StatsFn:
    def stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
        lang = options.get("lang")
        scores = [
            max(pair_score(g, pred, lang) for g in _gold_answers(gold))
            for gold, pred in zip(y_true.tolist(), y_pred.tolist())
        ]
        return np.stack([np.asarray(scores, dtype=np.float64), np.ones(len(scores))], axis=1)

    return stats


def _pair_exact_match(gold: str, pred: str, lang: str | None) -> float:
    return float(normalize_answer(gold, lang) == normalize_answer(pred, lang))


exact_match = Metric(
    name="exact_match",
    stats_fn=_qa_stats(_pair_exact_match),
    aggregate_fn=_mean_of_first,
    allowed_options=frozenset({"lang"}),
    description="Share of answers equal to a gold answer after language-aware normalisation (option: lang).",
)

token_f1 = Metric(
    name="token_f1",
    stats_fn=_qa_stats(_pair_token_f1),
    aggregate_fn=_mean_of_first,
    allowed_options=frozenset({"lang"}),
    description="Mean best token-overlap F1 against the gold answers, SQuAD-style but language-aware (option: lang).",
)

# --------------------------------------------------------------------------- generation


def _chrf_scorer(options: Mapping) -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=int(options.get("word_order", 0)))


def _chrf_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    golds = [_gold_answers(g) for g in y_true.tolist()]
    hyps = y_pred.tolist()
    for hyp in hyps:
        if not isinstance(hyp, str):
            raise DataError(f"chrF hypotheses must be strings. Got {type(hyp).__name__}: {hyp!r}.")
    width = max((len(g) for g in golds), default=1)
    streams = [[g[i] if i < len(g) else None for g in golds] for i in range(width)]  # None: no such reference
    # sacrebleu's own significance tests use these segment statistics; our tests pin the corpus score.
    stats = _chrf_scorer(options)._extract_corpus_statistics(hyps, streams)
    return np.asarray(stats, dtype=np.float64).reshape(len(hyps), -1)


def _chrf_aggregate(sums: np.ndarray, options: Mapping) -> np.ndarray:
    scorer = _chrf_scorer(options)
    flat = sums.reshape(-1, sums.shape[-1])
    scores = np.array([scorer._compute_f_score(row.tolist()) / 100.0 for row in flat])
    return scores.reshape(sums.shape[:-1])


chrf = Metric(
    name="chrf",
    stats_fn=_chrf_stats,
    aggregate_fn=_chrf_aggregate,
    allowed_options=frozenset({"word_order"}),
    description="Corpus-level chrF (sacrebleu) / 100; word_order=2 gives chrF++.",
)

for _metric in (accuracy, macro_f1, exact_match, token_f1, chrf):
    METRICS.add(_metric.name, _metric)
