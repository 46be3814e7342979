"""Entity-level NER metrics (seqeval, IOB2, strict mode), resamplable per sentence.

A prediction is one tag list per sentence. An entity is a (type, first token, last token) span as
seqeval's strict IOB2 reader finds it: a span starts at ``B-X`` and continues over ``I-X``; an ``I-X``
without its ``B-X`` is not an entity. Scores are micro precision / recall / F1 over all entities of a
data set (exact span and type match), optionally restricted to one entity type (``entity_type="PER"``).

Per-sentence sufficient statistics (true positives, predicted entities, gold entities) make the
bootstrap over sentences a matrix product; the plain call uses seqeval's own scorer, and the tests check
that both agree.

Example:
    >>> get_metric("entity_f1")([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    1.0
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from polyglot_transfer.errors import DataError
from polyglot_transfer.measure.metrics import METRICS, Metric

__all__ = [
    "entity_f1", "entity_precision", "entity_recall", "entity_scores", "entity_types", "per_type_scores",
    "sentence_entities",
]

SCHEME = "IOB2"


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[list[str]], list[list[str]]]:
    gold, pred = [list(s) for s in y_true.tolist()], [list(s) for s in y_pred.tolist()]
    for n, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise DataError(f"NER metrics: sentence {n} has {len(g)} gold tags but {len(p)} predicted tags. "
                            "Predict exactly one tag per token.")
    return gold, pred


def sentence_entities(sentences: list[list[str]]) -> list[set[tuple[str, int, int]]]:
    """The entities of each sentence as seqeval reads them (IOB2, strict): {(type, start, end)}."""
    from seqeval.scheme import IOB2, Entities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = Entities(sentences, IOB2, suffix=False).entities
    return [{(e.tag, e.start, e.end) for e in row} for row in found]


def _stats(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> np.ndarray:
    gold, pred = _check(y_true, y_pred)
    kind = options.get("entity_type")
    rows = []
    for g, p in zip(sentence_entities(gold), sentence_entities(pred)):
        if kind is not None:
            g, p = {e for e in g if e[0] == kind}, {e for e in p if e[0] == kind}
        rows.append((len(g & p), len(p), len(g)))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 3)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def _precision(sums: np.ndarray, options: Mapping) -> np.ndarray:
    return _ratio(sums[..., 0], sums[..., 1])


def _recall(sums: np.ndarray, options: Mapping) -> np.ndarray:
    return _ratio(sums[..., 0], sums[..., 2])


def _f1(sums: np.ndarray, options: Mapping) -> np.ndarray:
    return _ratio(2 * sums[..., 0], sums[..., 1] + sums[..., 2])


def _seqeval_value(key: str):
    def value(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None, options: Mapping) -> float:
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
        from seqeval.scheme import IOB2

        gold, pred = _check(y_true, y_pred)
        kind = options.get("entity_type")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns on 0/0 and returns 0, as the stats path does
            if kind is None:
                scorer = {"precision": precision_score, "recall": recall_score, "f1-score": f1_score}[key]
                return float(scorer(gold, pred, mode="strict", scheme=IOB2, average="micro", zero_division=0))
            report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True,
                                           zero_division=0)
        return float(report[kind][key]) if kind in report else 0.0

    return value


_OPTIONS = frozenset({"entity_type"})

entity_f1 = Metric(
    name="entity_f1", stats_fn=_stats, aggregate_fn=_f1, value_fn=_seqeval_value("f1-score"),
    allowed_options=_OPTIONS,
    description="Entity-level micro F1 (seqeval, IOB2, strict); option entity_type=PER scores one type.",
)
entity_precision = Metric(
    name="entity_precision", stats_fn=_stats, aggregate_fn=_precision, value_fn=_seqeval_value("precision"),
    allowed_options=_OPTIONS, description="Entity-level micro precision (seqeval, IOB2, strict).",
)
entity_recall = Metric(
    name="entity_recall", stats_fn=_stats, aggregate_fn=_recall, value_fn=_seqeval_value("recall"),
    allowed_options=_OPTIONS, description="Entity-level micro recall (seqeval, IOB2, strict).",
)

for _metric in (entity_f1, entity_precision, entity_recall):
    METRICS.add(_metric.name, _metric)


def entity_types(tag_set: list[str]) -> list[str]:
    """Entity types named by a tag set: ['B-LOC', 'I-PER', 'O'] -> ['LOC', 'PER']."""
    return sorted({t.split("-", 1)[1] for t in tag_set if "-" in t})


def per_type_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, float]]:
    """seqeval's strict per-type report: type -> {precision, recall, f1, support}."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    return {k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                "support": int(v["support"])}
            for k, v in report.items() if "avg" not in k}



def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Micro precision / recall / F1 (seqeval, IOB2, strict) and the number of gold entities, in one call."""
    if len(gold) != len(pred):
        raise DataError(f"NER metrics: {len(gold)} gold sentences but {len(pred)} predicted ones. "
                        "Predict one tag list per sentence.")
    for n, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise DataError(f"NER metrics: sentence {n} has {len(g)} gold tags but {len(p)} predicted tags. "
                            "Predict exactly one tag per token.")
    hit = found = wanted = 0
    for g, p in zip(sentence_entities([list(x) for x in gold]), sentence_entities([list(x) for x in pred])):
        hit, found, wanted = hit + len(g & p), found + len(p), wanted + len(g)
    sums = np.array([hit, found, wanted], dtype=np.float64)
    return {"precision": float(_precision(sums, {})), "recall": float(_recall(sums, {})), "f1": float(_f1(sums, {})),
            "support": float(wanted)}
