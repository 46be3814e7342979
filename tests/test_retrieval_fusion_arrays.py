"""Fusion over a batch of queries in numpy (`fuse_arrays`) gives what the per-query dict fusion gives."""

from __future__ import annotations

import numpy as np
import pytest

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.embedder import HashEmbedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.hybrid import (
    HybridRetriever,
    candidate_dicts,
    fuse_arrays,
    fuse_candidates,
    fusion_grid,
)

SETTINGS = [{"mode": "dense"}, {"mode": "bm25"}, {"mode": "hybrid_rrf", "rrf_k": 60}, {"mode": "hybrid_rrf", "rrf_k": 0},
            {"mode": "hybrid_norm", "alpha": 0.5}, {"mode": "hybrid_norm", "alpha": 0.3},
            {"mode": "hybrid_norm", "alpha": 1.0}]


def random_side(rng: np.random.Generator, n: int, depth: int, n_docs: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows of distinct ids best first, a random number of them real (0 .. depth), the rest -1 / -inf."""
    ids = np.full((n, depth), -1, dtype=np.int64)
    scores = np.full((n, depth), -np.inf)
    for i in range(n):
        m = int(rng.integers(0, depth + 1))
        ids[i, :m] = rng.choice(n_docs, size=m, replace=False)
        raw = rng.integers(0, 4, m).astype(float) if ties else rng.standard_normal(m)  # ties: few distinct scores
        scores[i, :m] = np.sort(raw)[::-1]
    return ids, scores


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_fuse_arrays_equals_the_per_query_fusion_on_random_candidates(setting, ties):
    rng = np.random.default_rng(7)
    dense = random_side(rng, 300, 12, 40, ties=ties)
    sparse = random_side(rng, 300, 9, 40, ties=ties)
    ids, scores = fuse_arrays(*dense, *sparse, **setting)
    pairs = candidate_dicts((*dense, *sparse))
    for qi, (d, s) in enumerate(pairs):
        expected = fuse_candidates(d, s, **setting)
        got_ids = [i for i in ids[qi].tolist() if i >= 0]
        assert got_ids == [doc for doc, _ in expected], f"query {qi}"
        assert scores[qi, :len(got_ids)].tolist() == [sc for _, sc in expected], "scores are bit-identical"
        assert (scores[qi, len(got_ids):] == -np.inf).all()


def test_fuse_arrays_cuts_at_k_and_pads_short_rows():
    dense = (np.array([[3, 1, -1], [-1, -1, -1]]), np.array([[0.9, 0.5, -np.inf], [-np.inf] * 3]))
    sparse = (np.array([[1, 7, 2], [5, -1, -1]]), np.array([[4.0, 2.0, 1.0], [3.0, -np.inf, -np.inf]]))
    ids, scores = fuse_arrays(*dense, *sparse, mode="hybrid_rrf", k=2)
    assert ids.tolist() == [[1, 3], [5, -1]]
    assert scores[0].tolist() == pytest.approx([1 / 62 + 1 / 61, 1 / 61])
    assert scores[1, 1] == -np.inf
    ids, _ = fuse_arrays(*dense, *sparse, mode="hybrid_norm", alpha=0.5, k=4)
    assert ids.tolist() == [[1, 3, 7, 2], [5, -1, -1, -1]]  # 1: 0.5*0+0.5*1, 3: 0.5*1, 7: 0.5/3, 2: 0
    with pytest.raises(DataError, match="2 dense rows and 1 BM25 rows"):
        fuse_arrays(*dense, sparse[0][:1], sparse[1][:1], mode="hybrid_rrf")
    with pytest.raises(ConfigError, match="Unknown retrieval mode 'hybrid'"):
        fuse_arrays(*dense, *sparse, mode="hybrid")
    with pytest.raises(DataError, match=r"ids \(2, 3\) and scores \(2, 2\)"):
        fuse_arrays(dense[0], dense[1][:, :2], *sparse, mode="dense")


DOCS = ["Lagos is the largest city in Nigeria", "Abuja is the capital of Nigeria", "Nairobi is the capital of Kenya",
        "Kigali is the capital of Rwanda", "The Nile is the longest river in Africa", "Accra is the capital of Ghana"]
QUERIES = ["capital of Nigeria", "largest city", "river in Africa", "Kenya", "capital Ghana Rwanda"]


@pytest.fixture()
def retriever():
    emb = HashEmbedder(64)
    index = VectorIndex(64, embedder_identity=emb.identity)
    index.add(emb.encode_passages(DOCS), DOCS, [{"n": i} for i in range(len(DOCS))])
    return HybridRetriever(index=index, embedder=emb, k=3, bm25_language="eng")


def test_retrieve_batch_ranks_as_the_per_query_fusion(retriever):
    pairs = retriever.candidates(QUERIES, depth=50, both=True)
    bm25_rows = retriever._bm25().search(QUERIES, 50)
    for qi, row in enumerate(bm25_rows):  # BM25 arrays and BM25 hits agree
        assert list(pairs[qi][1].items()) == [(h.id, h.score) for h in row]
    for mode in ("dense", "bm25", "hybrid_rrf", "hybrid_norm"):
        retriever.mode = mode
        docs = retriever.retrieve_batch(QUERIES)
        for qi, (dense, sparse) in enumerate(pairs):
            expected = fuse_candidates(dense, sparse, mode=mode, alpha=retriever.alpha)[:3]
            assert [(d.metadata["doc_id"], d.metadata["score"]) for d in docs[qi]] == expected, (mode, qi)


def test_fusion_grid_on_arrays_equals_the_grid_on_dicts(retriever):
    arrays = retriever.candidate_arrays(QUERIES, depth=50, both=True)
    relevant = [{1}, {0}, {4}, {2}, {5, 3}]
    on_arrays = fusion_grid(arrays, relevant)
    on_dicts = fusion_grid(candidate_dicts(arrays), relevant)
    assert on_arrays == on_dicts
    assert len(on_arrays) == 9
