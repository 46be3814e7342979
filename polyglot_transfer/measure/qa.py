"""Metrics for generative question answering, each resampleable per example.

Answer quality (language-aware normalisation from `metrics.normalize_answer`: NFC, case folding,
Unicode punctuation removed, English articles dropped only for English):

- ``exact_match`` and ``token_f1`` (registered in `metrics`), SQuAD v1.1's formulas on English;
- ``chrf_pp``: corpus chrF++ (sacrebleu ``CHRF(word_order=2)``) / 100;
- ``answer_language``: share of answers written in the question's language
  (`answer_language.answer_language_flags`: the script, then trigram profiles when given).

Retrieval (only for setups that retrieve):

- ``gold_passage_recall``: recall@k of the gold passage among the passages the generator actually
  saw (``y_true``: the gold doc id or ids, ``y_pred``: the doc ids in the prompt, in rank order; option
  ``k``, default all of them). Recall over what was retrieved but cut from the prompt would overstate it.
- ``answer_supported``: share of answers supported by a passage the generator saw. An answer is
  *supported* when some contiguous span of a seen passage has token F1 >= ``threshold`` (default 0.5)
  with it, tokens normalised as for token F1 in the answer's language (option ``lang``). An answer
  contained verbatim (after normalisation) in a passage has F1 1 with that span; an empty answer is
  never supported. It measures grounding, not correctness: a supported answer can still be wrong.

Every metric here is a `metrics.Metric` (``metric(y_true, y_pred)`` -> float, ``sufficient_stats``
for the bootstrap), so `stats.bootstrap_ci` and `stats.paired_bootstrap_test` apply unchanged, and
`per_example_scores` gives the per-example array of any mean-type metric.

Example:
    >>> gold_passage_recall(["d1", "d2"], [["d3", "d1"], ["d4", "d5"]])
    0.5
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.answer_language import answer_language_flags
from polyglot_transfer.measure.metrics import (
    METRICS,
    Metric,
    _mean_of_first,
    as_example_array,
    check_same_length,
    chrf,
    exact_match,
    token_f1,
    tokenize_answer,
)

__all__ = [
    "QA_METRICS",
    "QAScores",
    "answer_language",
    "answer_supported",
    "best_span_f1",
    "chrf_pp",
    "gold_passage_recall",
    "per_example_scores",
    "score_qa",
]

DEFAULT_SUPPORT_THRESHOLD = 0.5


def _mean_stats(scores: Sequence[float]) -> np.ndarray:
    return np.stack([np.asarray(scores, dtype=np.float64), np.ones(len(scores))], axis=1)


def per_example_scores(metric: Metric, y_true: Any, y_pred: Any, labels: list | None = None) -> np.ndarray:
    """One score per example for a mean-type metric (exact match, token F1, rates), shape (n,).

    Corpus-level metrics (chrF++, macro F1) have no per-example score that averages to the corpus
    value: use their `sufficient_stats` with the bootstrap instead (ConfigError here).
    """
    if metric.aggregate_fn is not _mean_of_first:
        raise ConfigError(
            f"Metric {metric.name!r} is corpus-level: its per-example statistics do not average to its value. "
            "Expected a mean-type metric (exact_match, token_f1, answer_language, gold_passage_recall, "
            "answer_supported); use metric.sufficient_stats with the bootstrap for this one."
        )
    stats = metric.sufficient_stats(y_true, y_pred, labels)
    return stats[:, 0] / stats[:, 1]


# --------------------------------------------------------------------------- chrF++

chrf_pp = dataclasses.replace(
    chrf,
    name="chrf_pp",
    options={"word_order": 2},
    allowed_options=frozenset(),
    description="Corpus-level chrF++ (sacrebleu CHRF(word_order=2)) / 100.",
)

# --------------------------------------------------------------------------- answer language


def _answer_language_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    langs, answers = y_true.tolist(), y_pred.tolist()
    for lang in langs:
        if not isinstance(lang, str):
            raise DataError(
                f"answer_language expects the question's language code as gold for each example. Got "
                f"{type(lang).__name__}: {lang!r}; pass codes such as 'hau_Latn'."
            )
    flags = answer_language_flags([str(a) for a in answers], langs, profiles=options.get("profiles"))
    return _mean_stats([float(f) for f in flags])


answer_language = Metric(
    name="answer_language",
    stats_fn=_answer_language_stats,
    aggregate_fn=_mean_of_first,
    allowed_options=frozenset({"profiles"}),
    description="Share of answers written in the question's language (gold: language codes; option: "
    "profiles, a few sentences per language for same-script languages).",
)

# --------------------------------------------------------------------------- retrieval: gold passage recall


def _ids(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if value is None or not hasattr(value, "__iter__"):
        raise DataError(f"{what} must be a doc id or a list of doc ids. Got {type(value).__name__}: {value!r}.")
    return [str(v) for v in value]


def _recall_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    k = options.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ConfigError(f"gold_passage_recall option k must be an integer >= 1 (or unset for all). Got {k!r}.")
    scores = []
    for gold, seen in zip(y_true.tolist(), y_pred.tolist()):
        gold_ids = set(_ids(gold, "The gold passage"))
        if not gold_ids:
            raise DataError("An example has no gold passage id; gold_passage_recall needs one per example.")
        seen_ids = _ids(seen, "The passages the generator saw")
        scores.append(float(bool(gold_ids & set(seen_ids[:k] if k else seen_ids))))
    return _mean_stats(scores)


gold_passage_recall = Metric(
    name="gold_passage_recall",
    stats_fn=_recall_stats,
    aggregate_fn=_mean_of_first,
    allowed_options=frozenset({"k"}),
    description="Recall@k of the gold passage among the passages in the generator's prompt (gold: doc id(s); "
    "prediction: seen doc ids in rank order; option: k).",
)

# --------------------------------------------------------------------------- retrieval: supported answers


def best_span_f1(answer_tokens: Sequence[str], passage_tokens: Sequence[str], threshold: float = 0.0) -> float:
    """The highest token F1 between the answer and any contiguous span of the passage.

    Spans longer than ``len(answer) * (2 / threshold - 1)`` cannot reach ``threshold`` (F1 <= 2m / (m + s)),
    so they are skipped; with threshold 0 every span is tried.
    """
    m = len(answer_tokens)
    if m == 0 or not passage_tokens:
        return 0.0
    answer_counts = Counter(answer_tokens)
    max_len = len(passage_tokens) if threshold <= 0 else min(len(passage_tokens), int(m * (2 / threshold - 1)))
    best = 0.0
    for start in range(len(passage_tokens)):
        if answer_counts.get(passage_tokens[start], 0) == 0:
            continue  # a best span starts (and ends) on a shared token
        remaining = dict(answer_counts)
        overlap = 0
        for length in range(1, min(max_len, len(passage_tokens) - start) + 1):
            tok = passage_tokens[start + length - 1]
            if remaining.get(tok, 0) > 0:
                remaining[tok] -= 1
                overlap += 1
                best = max(best, 2 * overlap / (m + length))
                if best == 1.0:
                    return 1.0
    return best


def _supported_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    threshold = options.get("threshold", DEFAULT_SUPPORT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ConfigError(f"answer_supported option threshold must be a number in (0, 1]. Got {threshold!r}.")
    lang = options.get("lang")
    scores = []
    for passages, answer in zip(y_true.tolist(), y_pred.tolist()):
        if isinstance(passages, str) or passages is None or not hasattr(passages, "__iter__"):
            raise DataError(
                "answer_supported expects, as gold, the list of passage texts the generator saw for each "
                f"example. Got {type(passages).__name__}: {passages!r}."
            )
        answer_tokens = tokenize_answer(answer, lang)
        best = max((best_span_f1(answer_tokens, tokenize_answer(p, lang), threshold) for p in passages), default=0.0)
        scores.append(float(best >= threshold))
    return _mean_stats(scores)


answer_supported = Metric(
    name="answer_supported",
    stats_fn=_supported_stats,
    aggregate_fn=_mean_of_first,
    allowed_options=frozenset({"threshold", "lang"}),
    description="Share of answers supported by a passage the generator saw: some passage span has token F1 >= "
    "threshold (default 0.5) with the answer (gold: the seen passage texts; options: threshold, lang).",
)

QA_METRICS = (exact_match, token_f1, chrf_pp, answer_language, gold_passage_recall, answer_supported)

for _metric in (chrf_pp, answer_language, gold_passage_recall, answer_supported):
    METRICS.add(_metric.name, _metric)

# --------------------------------------------------------------------------- all at once


@dataclass(frozen=True)
class QAScores:
    """Corpus values and per-example arrays of a QA evaluation of one setup on one language.

    `per_example[name]` is an (n,) array for mean-type metrics; `chrf_pp_stats` is chrF++'s (n, k)
    sufficient statistics (corpus-level, so resample those). Retrieval metrics are present only when
    the passages the generator saw were given.
    """

    values: dict[str, float]
    per_example: dict[str, np.ndarray]
    chrf_pp_stats: np.ndarray = field(repr=False)


def score_qa(
    gold_answers: Sequence[Any],
    predictions: Sequence[str],
    lang: str,
    *,
    seen_doc_ids: Sequence[Sequence[str]] | None = None,
    gold_doc_ids: Sequence[Any] | None = None,
    seen_passages: Sequence[Sequence[str]] | None = None,
    k: int | None = None,
    support_threshold: float = DEFAULT_SUPPORT_THRESHOLD,
    profiles: Mapping[str, Sequence[str]] | None = None,
) -> QAScores:
    """Score one setup's answers on one language with every QA metric that applies.

    `gold_answers`: a reference answer (or a list of them) per question; `lang`: the questions'
    language (answers are expected in it). For retrieval setups pass `seen_doc_ids` with `gold_doc_ids`
    (recall@k) and/or `seen_passages` (supported answers).
    """
    gold = as_example_array(gold_answers, "gold_answers")
    preds = as_example_array(predictions, "predictions")
    check_same_length(gold, preds)
    if len(gold) == 0:
        raise DataError("score_qa got 0 questions; expected at least one (gold, prediction) pair.")
    per: dict[str, np.ndarray] = {
        "exact_match": per_example_scores(exact_match.with_options(lang=lang), gold, preds),
        "token_f1": per_example_scores(token_f1.with_options(lang=lang), gold, preds),
        "answer_language": per_example_scores(
            answer_language.with_options(profiles=profiles) if profiles else answer_language, [lang] * len(preds), preds
        ),
    }
    if seen_doc_ids is not None or gold_doc_ids is not None:
        if seen_doc_ids is None or gold_doc_ids is None:
            raise ConfigError("gold passage recall needs both seen_doc_ids and gold_doc_ids; got only one of them.")
        recall = gold_passage_recall.with_options(k=k) if k else gold_passage_recall
        per["gold_passage_recall"] = per_example_scores(recall, as_example_array(gold_doc_ids), as_example_array(seen_doc_ids))
    if seen_passages is not None:
        supported = answer_supported.with_options(threshold=support_threshold, lang=lang)
        per["answer_supported"] = per_example_scores(supported, as_example_array(seen_passages), preds)
    stats = chrf_pp.sufficient_stats(gold, preds)
    values = {name: float(arr.mean()) for name, arr in per.items()}
    values["chrf_pp"] = float(chrf_pp.from_stats(stats.sum(axis=0)))
    return QAScores(values=values, per_example=per, chrf_pp_stats=stats)
