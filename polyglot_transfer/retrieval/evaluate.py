"""Retrieval quality: recall@k, MRR and nDCG@10, overall and by query language x document language.

Relevance is binary. For one query with relevant set R and ranking r_1, r_2, ... (repeats of a document,
e.g. several chunks of it, count once, at their best rank):

- ``recall@k``  = |R ∩ top k| / |R|  (the "top-k accuracy" of open-domain QA when |R| = 1)
- ``success@k`` = 1 if any relevant document is in the top k, else 0
- ``mrr@k``     = 1 / rank of the first relevant document within the top k, else 0
- ``ndcg@k``    = DCG@k / IDCG@k with DCG@k = sum over relevant r_i, i <= k, of 1 / log2(i + 1) and IDCG@k
  the DCG of a ranking that puts min(|R|, k) relevant documents first (Järvelin & Kekäläinen 2002)

A data set's score is the mean over its queries; `per_query_scores` keeps the per-query values for paired
significance tests (`compare_systems`).

Cross-lingual breakdown (`cross_lingual_breakdown`): the cell (query language q, document language d) scores
the queries in language q that have a relevant document in language d, with relevance restricted to the
language-d documents and the ranking left whole (documents in other languages still take up ranks). So a
cell answers "asked in q, how well does the retriever find what is relevant in d", the way cross-lingual
benchmarks (XOR-TyDi, MKQA, AfriQA) report retrieval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_CUTOFFS",
    "compare_systems",
    "cross_lingual_breakdown",
    "format_breakdown",
    "metric_names",
    "per_query_scores",
    "ranking_metrics",
]

DEFAULT_CUTOFFS: tuple[int, ...] = (1, 5, 10, 20)
NDCG_AT = 10


def _dedupe(row: Iterable[Hashable]) -> list[Hashable]:
    seen: set[Hashable] = set()
    out = []
    for doc in row:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
    return out


def _check_cutoffs(cutoffs: Sequence[int], ndcg_at: int) -> tuple[int, ...]:
    cutoffs = tuple(cutoffs)
    if not cutoffs or any(not isinstance(k, int) or k < 1 for k in (*cutoffs, ndcg_at)):
        raise ConfigError(f"Cut-offs must be ints >= 1. Got cutoffs={cutoffs!r}, ndcg_at={ndcg_at!r}.")
    return tuple(sorted(set(cutoffs)))


def metric_names(cutoffs: Sequence[int] = DEFAULT_CUTOFFS, ndcg_at: int = NDCG_AT) -> list[str]:
    """The metric keys `ranking_metrics` returns, in table order."""
    cutoffs = _check_cutoffs(cutoffs, ndcg_at)
    return ([f"recall@{k}" for k in cutoffs] + [f"success@{k}" for k in cutoffs]
            + [f"mrr@{k}" for k in _mrr_cutoffs(cutoffs)] + [f"ndcg@{ndcg_at}"])


def _mrr_cutoffs(cutoffs: tuple[int, ...]) -> list[int]:
    """MRR is reported at every cut-off from 10 up (MRR@10 as papers report it), or at the deepest one."""
    return [k for k in cutoffs if k >= 10] or [max(cutoffs)]


def _one_query(row: Sequence[Hashable], relevant: set, cutoffs: tuple[int, ...], ndcg_at: int) -> dict[str, float]:
    ranks = [i for i, doc in enumerate(_dedupe(row), start=1) if doc in relevant]
    out: dict[str, float] = {}
    for k in cutoffs:
        found = sum(1 for r in ranks if r <= k)
        out[f"recall@{k}"] = found / len(relevant)
        out[f"success@{k}"] = float(found > 0)
    for k in _mrr_cutoffs(cutoffs):
        out[f"mrr@{k}"] = 1.0 / ranks[0] if ranks and ranks[0] <= k else 0.0
    dcg = sum(1.0 / math.log2(r + 1) for r in ranks if r <= ndcg_at)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), ndcg_at) + 1))
    out[f"ndcg@{ndcg_at}"] = dcg / ideal
    return out


def per_query_scores(
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Iterable[Hashable]],
    *,
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    ndcg_at: int = NDCG_AT,
) -> dict[str, np.ndarray]:
    """Each metric's value per query: {name: array of shape (n_queries,)}.

    `ranked[i]` is query i's ranking of document ids (best first); `relevant[i]` its relevant ids (at least
    one). Queries without a relevant document are an error: they cannot be scored, so drop them first.
    """
    cutoffs = _check_cutoffs(cutoffs, ndcg_at)
    if len(ranked) != len(relevant):
        raise DataError(f"Got {len(ranked)} rankings but {len(relevant)} relevance sets; expected one per query.")
    if not ranked:
        raise DataError("Cannot score retrieval on 0 queries. Pass at least one query with a relevant document.")
    rows = []
    for i, (row, rel) in enumerate(zip(ranked, relevant)):
        rel = set(rel)
        if not rel:
            raise DataError(f"Query {i} has no relevant document, so recall and nDCG are undefined for it. "
                            "Drop queries without relevance judgements before scoring.")
        rows.append(_one_query(row, rel, cutoffs, ndcg_at))
    return {name: np.array([r[name] for r in rows]) for name in metric_names(cutoffs, ndcg_at)}


def ranking_metrics(
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Iterable[Hashable]],
    *,
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    ndcg_at: int = NDCG_AT,
) -> dict[str, float]:
    """Mean recall@k, success@k, MRR@k (k >= 10, else the deepest) and nDCG@`ndcg_at` over queries, plus ``n_queries``."""
    scores = per_query_scores(ranked, relevant, cutoffs=cutoffs, ndcg_at=ndcg_at)
    return {**{name: float(v.mean()) for name, v in scores.items()}, "n_queries": len(ranked)}


def _doc_language(doc_lang: Mapping[Hashable, str] | Callable[[Hashable], str | None]) -> Callable:
    if callable(doc_lang):
        return doc_lang
    return lambda doc: doc_lang.get(doc)


def cross_lingual_breakdown(
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Iterable[Hashable]],
    query_langs: Sequence[str],
    doc_lang: Mapping[Hashable, str] | Callable[[Hashable], str | None],
    *,
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    ndcg_at: int = NDCG_AT,
) -> list[dict[str, Any]]:
    """One row per (query language, document language) pair, plus one per query language over all documents.

    Rows carry ``query_lang``, ``doc_lang`` ("*" for all documents), ``n_queries`` and the metrics of
    `ranking_metrics`. `doc_lang` maps a document id to its language (a dict, or a function).
    """
    if len(query_langs) != len(ranked):
        raise DataError(f"Got {len(query_langs)} query languages for {len(ranked)} rankings; expected one per query.")
    lang_of = _doc_language(doc_lang)
    cells: dict[tuple[str, str], tuple[list, list]] = {}
    for row, rel, qlang in zip(ranked, relevant, query_langs):
        rel = set(rel)
        cell = cells.setdefault((qlang, "*"), ([], []))
        cell[0].append(row)
        cell[1].append(rel)
        by_lang: dict[str, set] = {}
        for doc in rel:
            dlang = lang_of(doc)
            if dlang is None:
                raise DataError(f"Relevant document {doc!r} has no language. Give every document a language "
                                "(a `lang` column or metadata key) to break results down by document language.")
            by_lang.setdefault(dlang, set()).add(doc)
        for dlang, docs in by_lang.items():
            cell = cells.setdefault((qlang, dlang), ([], []))
            cell[0].append(row)
            cell[1].append(docs)
    out = []
    for (qlang, dlang), (rows, rels) in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] != "*", kv[0][1])):
        out.append({"query_lang": qlang, "doc_lang": dlang,
                    **ranking_metrics(rows, rels, cutoffs=cutoffs, ndcg_at=ndcg_at)})
    return out


def format_breakdown(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None) -> str:
    """A markdown table of `cross_lingual_breakdown` rows (or any rows with those keys)."""
    if not rows:
        return "(no queries)"
    metrics = list(metrics) if metrics else [m for m in rows[0] if "@" in m and not m.startswith("success@")]
    lines = ["| query lang | doc lang | queries | " + " | ".join(metrics) + " |",
             "|---|---|---|" + "---|" * len(metrics)]
    for r in rows:
        lines.append(f"| {r['query_lang']} | {r['doc_lang']} | {r['n_queries']} | "
                     + " | ".join(f"{r[m]:.3f}" for m in metrics) + " |")
    return "\n".join(lines)


def _mean(y_true: Any, y_pred: np.ndarray, labels: Any = None) -> float:
    return float(np.mean(y_pred))


def compare_systems(
    scores_a: Sequence[float], scores_b: Sequence[float], *, n_resamples: int = 2000, seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Paired bootstrap of mean(A) - mean(B) over the same queries' per-query scores (from `per_query_scores`).

    Returns delta, its (1 - alpha) interval (low, high), the two-sided p-value and whether the difference
    is significant at `alpha`.
    """
    from polyglot_transfer.measure.stats import paired_bootstrap_test

    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.shape != b.shape:
        raise DataError(f"compare_systems needs scores for the same queries; got {a.shape} and {b.shape}.")
    result = paired_bootstrap_test(_mean, np.zeros(len(a)), a, b, n_resamples=n_resamples, seed=seed, alpha=alpha)
    return {"delta": result.delta, "low": result.low, "high": result.high, "p_value": result.p_value,
            "significant": bool(result.p_value < alpha)}
