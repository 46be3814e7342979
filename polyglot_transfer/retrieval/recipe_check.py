"""How much an approximate FAISS recipe loses against exact search, on your own vectors.

`recall_against_exact` builds a ``Flat`` index and each approximate recipe on the same vectors and
reports recall@k: the share of the exact top k that the approximate index also returns in its top k
(the figure FAISS's own benchmarks report as "k-recall@k"), with build and search times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.faiss_index import VectorIndex


def _timed_search(index: VectorIndex, queries: np.ndarray, k: int, repeats: int) -> tuple[float, list]:
    """(best ms per query over `repeats` searches, the hits), after a one-query warm-up."""
    index.search(queries[:1], k)
    best, hits = float("inf"), []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        hits = index.search(queries, k)
        best = min(best, 1000 * (time.perf_counter() - t0) / len(queries))
    return best, hits


def recall_against_exact(
    vectors: np.ndarray,
    queries: np.ndarray,
    recipes: Sequence[str | tuple[str, Mapping[str, Any]]],
    *,
    k: int = 10,
    metric: str = "cosine",
    repeats: int = 3,
) -> list[dict[str, Any]]:
    """recall@k of each recipe against exact (``Flat``) search over the same `vectors`.

    A recipe is a factory string, or (factory string, search params) with ``nprobe`` / ``ef_search``,
    e.g. ``("HNSW32", {"ef_search": 64})``. Recipes that need training are trained on all `vectors`.
    Returns one row per recipe: recipe, params, recall@k, build_s, search_ms_per_query (the best of
    `repeats` timed searches of all queries, after one warm-up query), and the exact search's time for
    reference (``flat_search_ms_per_query``).

    Rows a recipe leaves short of k results (an IVF list probe that finds fewer than k vectors) are
    searched again with every list probed, as `VectorIndex.search` always does, so a very small
    ``nprobe`` reports a higher recall (and a slower search) than raw FAISS would.
    """
    vectors, queries = np.asarray(vectors, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    if vectors.ndim != 2 or queries.ndim != 2 or vectors.shape[1] != queries.shape[1]:
        raise DataError(f"Expected 2-d vectors and queries of the same dimension; got {vectors.shape} and "
                        f"{queries.shape}.")
    if not isinstance(k, int) or not 1 <= k <= len(vectors):
        raise ConfigError(f"k must be an int in [1, {len(vectors)}] (the number of vectors). Got {k!r}.")
    dim = vectors.shape[1]
    exact = VectorIndex(dim, metric=metric, recipe="Flat", recall_target=None)
    blank = [""] * len(vectors)
    exact.add(vectors, blank)
    flat_ms, exact_rows = _timed_search(exact, queries, k, repeats)
    truth = [{h.id for h in row} for row in exact_rows]
    rows = []
    for item in recipes:
        recipe, params = (item, {}) if isinstance(item, str) else (item[0], dict(item[1]))
        unknown = set(params) - {"nprobe", "ef_search"}
        if unknown:
            raise ConfigError(f"Unknown search params {sorted(unknown)} for {recipe!r}; use nprobe and/or ef_search.")
        t0 = time.perf_counter()
        index = VectorIndex(dim, metric=metric, recipe=recipe, recall_target=None, **params)  # as given, untuned
        index.add(vectors, blank)
        build_s = time.perf_counter() - t0
        search_ms, rows_found = _timed_search(index, queries, k, repeats)
        found = [{h.id for h in row} for row in rows_found]
        recall = float(np.mean([len(t & f) / len(t) for t, f in zip(truth, found)]))
        rows.append({"recipe": recipe, "params": params, f"recall@{k}": recall, "build_s": build_s,
                     "search_ms_per_query": search_ms, "flat_search_ms_per_query": flat_ms})
    return rows
