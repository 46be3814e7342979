"""Hybrid retrieval: dense (VectorIndex) + BM25, fused by reciprocal rank or by normalised scores.

- ``hybrid_rrf``: score(d) = sum over rankings of w / (rrf_k + rank(d)), rank from 1 (Cormack et al. 2009, k=60).
- ``hybrid_norm``: each ranking's scores are min-max normalised to [0, 1] over its candidates, then
  alpha * dense + (1 - alpha) * bm25; a document missing from a ranking gets 0 there.

Both rankings are taken `candidate_k` deep (default max(4k, 50)) before fusing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from pydantic import Field, model_validator

from polyglot_transfer.errors import ConfigError, did_you_mean
from polyglot_transfer.retrieval.bm25 import BM25Index
from polyglot_transfer.retrieval.faiss_index import MetadataFilter
from polyglot_transfer.retrieval.retriever import IndexRetriever

MODES = ("dense", "bm25", "hybrid_rrf", "hybrid_norm")
RRF_K = 60


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
    return sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))


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
    return sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))


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
        if isinstance(data, dict) and "mode" in data and data["mode"] not in MODES:
            raise ConfigError(f"Unknown retrieval mode {data['mode']!r}.{did_you_mean(str(data['mode']), MODES)} "
                              f"Use one of {MODES}.")
        return data

    def _bm25(self) -> BM25Index:
        if self.bm25 is None or len(self.bm25) != len(self.index):
            self.bm25 = BM25Index.from_vector_index(self.index, language=self.bm25_language)
        return self.bm25

    def retrieve_batch(
        self, queries: list[str], *, k: int | None = None, where: MetadataFilter | None = None
    ) -> list[list[Document]]:
        """Retrieve for many queries at once (queries are embedded in one batch)."""
        k = self._resolve_k(k)
        where = where if where is not None else self.where
        depth = self.candidate_k or max(4 * k, 50)
        dense_rows = bm25_rows = None
        if self.mode != "bm25":
            dense_rows = self.index.search(self.embedder.encode_queries(queries), depth, where=where)
        if self.mode != "dense":
            bm25_rows = self._bm25().search(queries, depth, where=where)
        out = []
        for qi, query in enumerate(queries):
            dense = {h.id: h.score for h in dense_rows[qi]} if dense_rows is not None else {}
            sparse = {h.id: h.score for h in bm25_rows[qi]} if bm25_rows is not None else {}
            dense_rank = {d: r for r, d in enumerate(dense, start=1)}
            sparse_rank = {d: r for r, d in enumerate(sparse, start=1)}
            if self.mode == "dense":
                fused = list(dense.items())
            elif self.mode == "bm25":
                fused = list(sparse.items())
            elif self.mode == "hybrid_rrf":
                fused = rrf_fuse([list(dense), list(sparse)], k=self.rrf_k)
            else:
                fused = normalized_fuse([dense, sparse], weights=[self.alpha, 1 - self.alpha])
            docs = []
            for doc_id, score in fused[: depth if self.reranker is not None else k]:
                d = self.index.get(doc_id)
                meta = {**d["metadata"], "score": float(score), "doc_id": doc_id, "retrieval_mode": self.mode}
                if doc_id in dense:
                    meta.update(dense_score=dense[doc_id], dense_rank=dense_rank[doc_id])
                if doc_id in sparse:
                    meta.update(bm25_score=sparse[doc_id], bm25_rank=sparse_rank[doc_id])
                docs.append(Document(page_content=d["text"], metadata=meta, id=d.get("key")))
            if self.reranker is not None:
                docs = self.reranker.rerank(query, docs, top_n=k)
            out.append(docs)
        return out
