"""Hybrid retrieval: dense (VectorIndex) + BM25, fused by reciprocal rank or by normalised scores.

- ``hybrid_rrf``: score(d) = sum over rankings of w / (rrf_k + rank(d)), rank from 1 (Cormack et al. 2009, k=60).
- ``hybrid_norm``: each ranking's scores are min-max normalised to [0, 1] over its candidates, then
  alpha * dense + (1 - alpha) * bm25; a document missing from a ranking gets 0 there.

Both rankings are taken `candidate_k` deep (default max(4k, 50)) before fusing.

Which fusion is best depends on the data: on AfriQA with e5-small, fusing helps a lot when questions are
in an African language and passages in English (dense is weak there), and not at all when the question
is in the passages' language (dense alone is hard to beat). `tune_fusion` picks the mode and weight on
held-out judged queries (`fusion_grid` scores the grid on candidates already retrieved).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from langchain_core.documents import Document
from pydantic import Field, model_validator

from polyglot_transfer.errors import ConfigError, DataError, did_you_mean
from polyglot_transfer.retrieval.bm25 import BM25Index
from polyglot_transfer.retrieval.faiss_index import MetadataFilter
from polyglot_transfer.retrieval.retriever import IndexRetriever, check_queries

MODES = ("dense", "bm25", "hybrid_rrf", "hybrid_norm")
RRF_K = 60


def check_mode(mode: Any) -> str:
    """`mode` if it is one of MODES, else a ConfigError with a did-you-mean."""
    if mode not in MODES:
        raise ConfigError(f"Unknown retrieval mode {mode!r}.{did_you_mean(str(mode), MODES)} Use one of {MODES}.")
    return mode


def _tie(doc: Any) -> tuple:
    """Tie-break of equal fused scores: integer ids ascending, then any other id by its string."""
    if isinstance(doc, (int, np.integer)) and not isinstance(doc, bool):
        return (0, int(doc), "")
    return (1, 0, str(doc))


def rrf_fuse(
    rankings: Sequence[Sequence[Any]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Any, float]]:
    """Reciprocal rank fusion of ranked id lists (best first); returns (id, score), best first."""
    if k < 0:
        raise ConfigError(f"RRF k must be >= 0. Got {k!r} instead.")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ConfigError(f"rrf_fuse got {len(rankings)} rankings but {len(weights)} weights.")
    fused: dict[Any, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], _tie(kv[0])))


def minmax(scores: Mapping[Any, float]) -> dict[Any, float]:
    """Scale scores to [0, 1]; all-equal scores map to 1."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return {d: 1.0 for d in scores}
    return {d: (s - lo) / (hi - lo) for d, s in scores.items()}


def normalized_fuse(
    score_maps: Sequence[Mapping[Any, float]], *, weights: Sequence[float] | None = None
) -> list[tuple[Any, float]]:
    """Weighted sum of min-max normalised scores (missing = 0); returns (id, score), best first."""
    weights = list(weights) if weights is not None else [1.0 / len(score_maps)] * len(score_maps)
    if len(weights) != len(score_maps):
        raise ConfigError(f"normalized_fuse got {len(score_maps)} score maps but {len(weights)} weights.")
    fused: dict[Any, float] = {}
    for scores, w in zip(score_maps, weights):
        for doc, s in minmax(scores).items():
            fused[doc] = fused.get(doc, 0.0) + w * s
    return sorted(fused.items(), key=lambda kv: (-kv[1], _tie(kv[0])))


def fuse_candidates(
    dense: Mapping[Any, float], sparse: Mapping[Any, float], *, mode: str, alpha: float = 0.5, rrf_k: int = RRF_K
) -> list[tuple[Any, float]]:
    """One query's dense and BM25 candidates ({doc: score}, best first) ranked by `mode`; (doc, score), best first."""
    if mode == "dense":
        return list(dense.items())
    if mode == "bm25":
        return list(sparse.items())
    if mode == "hybrid_rrf":
        return rrf_fuse([list(dense), list(sparse)], k=rrf_k)
    check_mode(mode)
    return normalized_fuse([dense, sparse], weights=[alpha, 1 - alpha])


# --------------------------------------------------------------------------- fusion over a batch of queries in numpy

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # dense ids, dense scores, bm25 ids, bm25 scores


def _side(ids: Any, scores: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64)
    if ids.ndim != 2 or ids.shape != scores.shape:
        raise DataError(f"{what}: ids and scores must be 2-d arrays of the same shape (queries x candidates). "
                        f"Got ids {ids.shape} and scores {scores.shape}.")
    return ids, scores


def _trim(ids: np.ndarray, scores: np.ndarray, k: int | None) -> tuple[np.ndarray, np.ndarray]:
    valid = ids >= 0
    width = ids.shape[1] if k is None else min(k, ids.shape[1])
    return np.where(valid, ids, -1)[:, :width], np.where(valid, scores, -np.inf)[:, :width]


def fuse_arrays(
    dense_ids: Any, dense_scores: Any, sparse_ids: Any, sparse_scores: Any, *, mode: str, alpha: float = 0.5,
    rrf_k: int = RRF_K, k: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`fuse_candidates` for a batch of queries at once, in numpy: (ids, scores) of shape (n_queries, k).

    Each side is an (ids, scores) pair of shape (n_queries, depth), best first, with id -1 padding a short
    row (what `VectorIndex.search_arrays` returns). Ids must be ints >= 0. The result is best first with the
    same scores and the same order as `fuse_candidates` on each query's dicts (ties: smaller id first);
    -1 / -inf pad rows with fewer than k candidates. `k=None` keeps every candidate.
    """
    check_mode(mode)
    dense_ids, dense_scores = _side(dense_ids, dense_scores, "dense candidates")
    sparse_ids, sparse_scores = _side(sparse_ids, sparse_scores, "BM25 candidates")
    if len(dense_ids) != len(sparse_ids):
        raise DataError(f"fuse_arrays got {len(dense_ids)} dense rows and {len(sparse_ids)} BM25 rows; "
                        "expected one of each per query.")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ConfigError(f"k must be an int >= 1 or None. Got {k!r} instead.")
    if mode == "dense":
        return _trim(dense_ids, dense_scores, k)
    if mode == "bm25":
        return _trim(sparse_ids, sparse_scores, k)
    if rrf_k < 0:
        raise ConfigError(f"RRF k must be >= 0. Got {rrf_k!r} instead.")
    n = len(dense_ids)
    parts = []
    for ids, scores, weight in ((dense_ids, dense_scores, alpha), (sparse_ids, sparse_scores, 1 - alpha)):
        valid = ids >= 0
        if mode == "hybrid_rrf":
            rank = np.cumsum(valid, axis=1)  # rank among the row's real candidates, from 1
            with np.errstate(divide="ignore"):  # rank 0 only at padding (masked out below)
                contrib = 1.0 / (rrf_k + rank)
        else:  # min-max over the row's candidates; a row of equal scores maps to 1
            lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
            hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
            span = hi - lo
            with np.errstate(invalid="ignore", divide="ignore"):
                contrib = weight * np.where(span > 0, (scores - lo) / np.where(span > 0, span, 1.0), 1.0)
        parts.append((ids, valid, contrib))
    ids = np.concatenate([p[0] for p in parts], axis=1)
    valid = np.concatenate([p[1] for p in parts], axis=1)
    contrib = np.concatenate([p[2] for p in parts], axis=1)
    width = ids.shape[1] if k is None else min(k, ids.shape[1])
    out_ids = np.full((n, width), -1, dtype=np.int64)
    out_scores = np.full((n, width), -np.inf, dtype=np.float64)
    if not valid.any():
        return out_ids, out_scores
    span = int(ids.max()) + 1
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], ids.shape)
    # one key per (query, document); bincount adds a key's contributions in row-major order (dense, then BM25),
    # the order the per-query dict sums them in, so the scores are bit-identical
    keys, inverse = np.unique(rows[valid] * span + ids[valid], return_inverse=True)
    fused = np.bincount(inverse, weights=contrib[valid], minlength=len(keys))
    key_rows, key_ids = keys // span, keys % span
    order = np.lexsort((key_ids, -fused, key_rows))
    key_rows, key_ids, fused = key_rows[order], key_ids[order], fused[order]
    starts = np.searchsorted(key_rows, np.arange(n))
    pos = np.arange(len(key_rows)) - starts[key_rows]
    keep = pos < width
    out_ids[key_rows[keep], pos[keep]] = key_ids[keep]
    out_scores[key_rows[keep], pos[keep]] = fused[keep]
    return out_ids, out_scores


def candidate_dicts(candidates: Candidates) -> list[tuple[dict[int, float], dict[int, float]]]:
    """Per query, the (dense, BM25) candidates of `candidate_arrays` as {doc_id: score} dicts, best first."""
    d_ids, d_scores, s_ids, s_scores = candidates
    return [({i: s for i, s in zip(di, ds) if i >= 0}, {i: s for i, s in zip(si, ss) if i >= 0})
            for di, ds, si, ss in zip(d_ids.tolist(), d_scores.tolist(), s_ids.tolist(), s_scores.tolist())]


def is_candidate_arrays(candidates: Any) -> bool:
    """True for the 4 arrays of `HybridRetriever.candidate_arrays` (not a list of per-query dict pairs)."""
    return isinstance(candidates, tuple) and len(candidates) == 4 and all(isinstance(a, np.ndarray) for a in candidates)


def ranked_keys(ids: np.ndarray, key: Callable[[int], Hashable] | None = None) -> list[list[Hashable]]:
    """Rows of fused ids (-1 padding dropped) as lists, each id mapped by `key` once (e.g. chunk -> source id)."""
    rows = ids.tolist()
    if key is None:
        return [[d for d in row if d >= 0] for row in rows]
    mapped = {int(d): key(int(d)) for d in np.unique(ids[ids >= 0])}
    return [[mapped[d] for d in row if d >= 0] for row in rows]


class HybridRetriever(IndexRetriever):
    """Dense, BM25 or fused retrieval over one VectorIndex; scores go to `Document.metadata`.

    metadata gets: score (the mode's score), dense_score / dense_rank and bm25_score / bm25_rank
    (when the document was in that ranking), doc_id and retrieval_mode. The BM25 side is built from
    the index's documents when not given (`bm25_language` picks its analyzer). An optional `reranker`
    (see rerank.py) reorders the fused top `candidate_k` before cutting to k.
    """

    # index, embedder, k, where and the langchain hook come from IndexRetriever
    bm25: BM25Index | None = None
    bm25_language: str | None = None
    mode: Literal["dense", "bm25", "hybrid_rrf", "hybrid_norm"] = "hybrid_rrf"
    candidate_k: int | None = None
    rrf_k: int = RRF_K
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    reranker: Any = None

    @model_validator(mode="before")
    @classmethod
    def _check_mode(cls, data: Any) -> Any:
        if isinstance(data, dict) and "mode" in data:
            check_mode(data["mode"])
        return data

    def _bm25(self) -> BM25Index:
        if self.bm25 is None or len(self.bm25) != len(self.index):
            self.bm25 = BM25Index.from_vector_index(self.index, language=self.bm25_language)
        return self.bm25

    def candidate_arrays(
        self, queries: list[str], *, depth: int, where: MetadataFilter | None = None, both: bool = False
    ) -> Candidates:
        """The dense and BM25 candidates of every query as arrays (dense ids, dense scores, BM25 ids, BM25
        scores), each (n_queries, depth), best first, id -1 padding; a side the mode does not use is all -1
        unless `both`. `fuse_arrays` ranks them for any mode without searching again."""
        queries = check_queries(queries)
        n = len(queries)
        dense = (np.full((n, depth), -1, dtype=np.int64), np.full((n, depth), -np.inf))
        sparse = (np.full((n, depth), -1, dtype=np.int64), np.full((n, depth), -np.inf))
        if both or self.mode != "bm25":
            vectors = self.embedder.encode_queries(queries)
            if where is None:  # one FAISS call, scores and ids as arrays (no per-hit objects)
                scores, ids = self.index.search_arrays(vectors, depth)
                dense = (ids, scores.astype(np.float64))
            else:
                dense = _hits_to_arrays(self.index.search(vectors, depth, where=where), depth)
        if both or self.mode != "dense":
            sparse = self._bm25().search_arrays(queries, depth, where=where)
        return (*dense, *sparse)

    def candidates(
        self, queries: list[str], *, depth: int, where: MetadataFilter | None = None, both: bool = False
    ) -> list[tuple[dict[int, float], dict[int, float]]]:
        """Per query, the dense and BM25 candidate scores ({doc_id: score}, best first), `depth` deep; a side
        the mode does not use is empty unless `both`. Fusing them is `fuse`; the two together, `retrieve_batch`.
        `candidate_arrays` gives the same candidates as arrays (for `fuse_arrays`)."""
        return candidate_dicts(self.candidate_arrays(queries, depth=depth, where=where, both=both))

    def fuse(
        self, dense: Mapping[int, float], sparse: Mapping[int, float], *, mode: str | None = None,
        alpha: float | None = None, rrf_k: int | None = None,
    ) -> list[tuple[int, float]]:
        """One query's candidates fused by `mode` (default: this retriever's settings); (doc_id, score), best first."""
        return fuse_candidates(dense, sparse, mode=mode or self.mode, alpha=self.alpha if alpha is None else alpha,
                               rrf_k=self.rrf_k if rrf_k is None else rrf_k)

    def retrieve_batch(
        self, queries: list[str], *, k: int | None = None, where: MetadataFilter | None = None
    ) -> list[list[Document]]:
        """Retrieve for many queries at once (queries embedded in one batch, fused in numpy over the batch)."""
        k = self._resolve_k(k)
        where = where if where is not None else self.where
        depth = self.candidate_k or max(4 * k, 50)
        cands = self.candidate_arrays(queries, depth=depth, where=where)
        fused_ids, fused_scores = fuse_arrays(*cands, mode=self.mode, alpha=self.alpha, rrf_k=self.rrf_k,
                                              k=depth if self.reranker is not None else k)
        d_ids, d_scores, s_ids, s_scores = (a.tolist() for a in cands)
        out = []
        for qi, query in enumerate(queries):
            dense = {d: (s, r) for r, (d, s) in enumerate(zip(d_ids[qi], d_scores[qi]), start=1) if d >= 0}
            sparse = {d: (s, r) for r, (d, s) in enumerate(zip(s_ids[qi], s_scores[qi]), start=1) if d >= 0}
            docs = []
            for doc_id, score in zip(fused_ids[qi].tolist(), fused_scores[qi].tolist()):
                if doc_id < 0:
                    break
                d = self.index.get(doc_id)
                meta = {**d["metadata"], "score": float(score), "doc_id": doc_id, "retrieval_mode": self.mode}
                if doc_id in dense:
                    meta.update(dense_score=dense[doc_id][0], dense_rank=dense[doc_id][1])
                if doc_id in sparse:
                    meta.update(bm25_score=sparse[doc_id][0], bm25_rank=sparse[doc_id][1])
                docs.append(Document(page_content=d["text"], metadata=meta, id=d.get("key")))
            if self.reranker is not None:
                docs = self.reranker.rerank(query, docs, top_n=k)
            out.append(docs)
        return out


def _hits_to_arrays(rows: Sequence[Sequence[Any]], depth: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(rows), depth), -1, dtype=np.int64)
    scores = np.full((len(rows), depth), -np.inf)
    for qi, row in enumerate(rows):
        ids[qi, :len(row)] = [h.id for h in row]
        scores[qi, :len(row)] = [h.score for h in row]
    return ids, scores


# --------------------------------------------------------------------------- choosing the fusion on held-out queries

DEFAULT_ALPHAS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def fusion_grid(
    candidates: Sequence[tuple[Mapping[Any, float], Mapping[Any, float]]],
    relevant: Sequence[Iterable[Hashable]],
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    rrf_ks: Sequence[int] = (RRF_K,),
    metric: str = "ndcg@10",
    doc_key: Callable[[Any], Hashable] | None = None,
) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """Score every retrieval setting on the same candidates; [(setting, metrics)], best first on `metric`.

    `candidates[i]` is query i's (dense, BM25) candidate scores, as `HybridRetriever.candidates` returns
    them, or `candidates` is the arrays of `HybridRetriever.candidate_arrays` (fused in numpy); queries may come from different indexes (ids are only compared with the same query's
    `relevant`). Settings: dense, bm25, hybrid_rrf for each of `rrf_ks`, hybrid_norm for each of
    `alphas`. Ties keep this order, which lists dense first, so a fusion wins only by scoring higher.
    """
    from polyglot_transfer.retrieval.evaluate import metric_names, ranking_metrics

    if metric not in metric_names():
        raise ConfigError(f"Unknown metric {metric!r} to tune on.{did_you_mean(metric, metric_names())} "
                          f"Use one of {metric_names()}.")
    if any(not 0.0 <= a <= 1.0 for a in alphas):
        raise ConfigError(f"alphas must lie in [0, 1]. Got {list(alphas)!r}.")
    key = doc_key or (lambda doc_id: doc_id)
    grid: list[dict[str, Any]] = [{"mode": "dense"}, {"mode": "bm25"}]
    grid += [{"mode": "hybrid_rrf", "rrf_k": rk} for rk in rrf_ks]
    grid += [{"mode": "hybrid_norm", "alpha": float(a)} for a in alphas]
    scored = []
    arrays = is_candidate_arrays(candidates)
    for setting in grid:
        if arrays:
            ranked = ranked_keys(fuse_arrays(*candidates, **setting)[0], key)
        else:
            ranked = [[key(d) for d, _ in fuse_candidates(dense, sparse, **setting)] for dense, sparse in candidates]
        scored.append((setting, ranking_metrics(ranked, relevant)))
    scored.sort(key=lambda sm: -sm[1][metric])  # stable: ties keep grid order
    return scored


def tune_fusion(
    retriever: HybridRetriever,
    queries: list[str],
    relevant: Sequence[Iterable[Hashable]],
    *,
    doc_key: Callable[[int], Hashable] | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    rrf_ks: Sequence[int] = (RRF_K,),
    metric: str = "ndcg@10",
    where: MetadataFilter | None = None,
    apply: bool = True,
) -> list[dict[str, Any]]:
    """Pick the retrieval mode (and alpha / RRF k) that scores best on held-out `queries`.

    Dense and BM25 are each searched once and every setting of `fusion_grid` is scored on those
    candidates, so a grid costs one retrieval. `relevant[i]` holds query i's relevant documents as index
    ids, or as whatever `doc_key(index_id)` returns (e.g. a source document id). Returns one row per
    setting (mode, alpha or rrf_k, and the metrics of `ranking_metrics`), best first on `metric`. With
    `apply`, the best row's settings are set on `retriever`.

    Tune on queries you will not report on (a dev split), or the scores you report are optimistic.
    """
    depth = retriever.candidate_k or max(4 * retriever.k, 50)  # the depth retrieve_batch fuses over
    pairs = retriever.candidate_arrays(queries, depth=depth, where=where if where is not None else retriever.where,
                                       both=True)
    scored = fusion_grid(pairs, relevant, alphas=alphas, rrf_ks=rrf_ks, metric=metric, doc_key=doc_key)
    if apply:
        best = scored[0][0]
        retriever.mode = best["mode"]
        if "alpha" in best:
            retriever.alpha = best["alpha"]
        if "rrf_k" in best:
            retriever.rrf_k = best["rrf_k"]
    return [{**setting, **metrics} for setting, metrics in scored]
