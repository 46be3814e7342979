"""Retrieval metrics (recall, success, MRR, nDCG@10), the query x document language breakdown, paired
comparison of two systems, choosing the fusion on held-out queries, and a real CrossEncoder reranker."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.embedder import HashEmbedder
from polyglot_transfer.retrieval.evaluate import (
    compare_systems,
    cross_lingual_breakdown,
    format_breakdown,
    metric_names,
    per_query_scores,
    ranking_metrics,
)
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.hybrid import HybridRetriever, tune_fusion


def test_metrics_of_one_ranking_by_hand():
    m = ranking_metrics([["a", "b", "c", "d"]], [{"b", "d"}])
    assert m["recall@1"] == 0 and m["recall@5"] == 1 and m["recall@20"] == 1
    assert m["success@1"] == 0 and m["success@5"] == 1
    assert m["mrr@20"] == 0.5
    dcg, ideal = 1 / math.log2(3) + 1 / math.log2(5), 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / ideal)
    assert m["n_queries"] == 1
    assert list(metric_names()) == [k for k in m if k != "n_queries"]


def test_repeated_documents_count_once_and_late_hits_are_outside_the_cutoff():
    # chunks of one document repeat its id: the repeat must not push the relevant document down
    assert ranking_metrics([["x", "x", "y"]], [{"y"}])["mrr@20"] == 0.5
    late = ranking_metrics([[f"d{i}" for i in range(30)]], [{"d25"}])
    assert late["recall@20"] == 0 and late["mrr@20"] == 0 and late["ndcg@10"] == 0
    missing = ranking_metrics([["a"]], [{"z"}])
    assert missing["recall@20"] == 0 and missing["ndcg@10"] == 0


def test_ndcg_matches_scikit_learn_on_full_rankings():
    rng = np.random.default_rng(0)
    n_docs, n_queries = 40, 25
    scores = rng.normal(size=(n_queries, n_docs))
    truth = (rng.random((n_queries, n_docs)) < 0.1).astype(float)
    truth[truth.sum(axis=1) == 0, 0] = 1.0
    ranked = [list(np.argsort(-row)) for row in scores]
    relevant = [set(np.flatnonzero(t)) for t in truth]
    ours = per_query_scores(ranked, relevant)["ndcg@10"]
    theirs = [ndcg_score(t[None], s[None], k=10) for t, s in zip(truth, scores)]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(DataError, match="no relevant document"):
        ranking_metrics([["a"]], [set()])
    with pytest.raises(DataError, match="2 rankings but 1 relevance"):
        ranking_metrics([["a"], ["b"]], [{"a"}])
    with pytest.raises(DataError, match="0 queries"):
        ranking_metrics([], [])
    with pytest.raises(ConfigError, match="Cut-offs"):
        ranking_metrics([["a"]], [{"a"}], cutoffs=(0,))


def test_breakdown_by_query_and_document_language():
    doc_lang = {"e1": "eng", "e2": "eng", "f1": "fra", "h1": "hau"}
    ranked = [["e1", "h1", "f1"], ["h1", "e2", "f1"], ["f1", "e1"]]
    relevant = [{"e1", "h1"}, {"e2"}, {"e1"}]
    rows = cross_lingual_breakdown(ranked, relevant, ["hau", "hau", "eng"], doc_lang)
    cells = {(r["query_lang"], r["doc_lang"]): r for r in rows}
    assert list(cells) == [("eng", "*"), ("eng", "eng"), ("hau", "*"), ("hau", "eng"), ("hau", "hau")]
    # hau questions looking for English passages: q0 finds e1 first, q1 finds e2 second
    assert cells[("hau", "eng")]["n_queries"] == 2
    assert cells[("hau", "eng")]["mrr@20"] == pytest.approx((1 + 1 / 2) / 2)
    # only q0 has a Hausa passage; it sits at rank 2 behind the English one
    assert cells[("hau", "hau")]["n_queries"] == 1 and cells[("hau", "hau")]["recall@1"] == 0
    assert cells[("hau", "*")]["recall@1"] == pytest.approx((1 / 2 + 0) / 2)
    assert cells[("eng", "eng")]["mrr@20"] == 0.5
    table = format_breakdown(rows)
    assert table.splitlines()[0].startswith("| query lang | doc lang | queries | recall@1")
    assert "ndcg@10" in table and "| hau | hau | 1 |" in table
    with pytest.raises(DataError, match="has no language"):
        cross_lingual_breakdown([["z"]], [{"z"}], ["hau"], doc_lang)


def test_compare_systems_is_significant_only_for_real_differences():
    rng = np.random.default_rng(1)
    a = (rng.random(300) < 0.8).astype(float)
    same = compare_systems(a, a)
    assert same["p_value"] == 1.0 and not same["significant"]
    worse = np.where(rng.random(300) < 0.5, 0.0, a)
    diff = compare_systems(a, worse)
    assert diff["significant"] and diff["low"] > 0 and diff["delta"] == pytest.approx(a.mean() - worse.mean())
    with pytest.raises(DataError, match="same queries"):
        compare_systems(a, a[:10])


# ----------------------------------------------------------------- fusion chosen on held-out queries

TOPICS = ["river", "mountain", "city", "desert", "forest", "island", "lake", "valley"]
DOCS = [f"doc{i} {TOPICS[i % 8]} {TOPICS[(i * 3 + 1) % 8]} zq{i}x" for i in range(64)]


def _retriever(dim: int) -> HybridRetriever:
    emb = HashEmbedder(dim)
    index = VectorIndex(dim, embedder_identity=emb.identity)
    index.add(emb.encode_passages(DOCS), DOCS, [{"lang": "eng_Latn"} for _ in DOCS])
    return HybridRetriever(index=index, embedder=emb, mode="dense", k=10, bm25_language="eng_Latn")


def test_tune_fusion_scores_every_setting_on_one_retrieval_and_applies_the_best():
    # the rare token zq{i}x identifies the document: BM25 nails it, an 8-dim hashed embedding blurs it
    retriever = _retriever(8)
    queries = [f"zq{i}x {TOPICS[(i + 2) % 8]}" for i in range(0, 64, 2)]
    relevant = [{i} for i in range(0, 64, 2)]
    rows = tune_fusion(retriever, queries, relevant, alphas=(0.25, 0.75))
    settings = [(r["mode"], r.get("alpha"), r.get("rrf_k")) for r in rows]
    assert sorted(settings, key=str) == sorted(
        [("dense", None, None), ("bm25", None, None), ("hybrid_rrf", None, 60), ("hybrid_norm", 0.25, None),
         ("hybrid_norm", 0.75, None)], key=str)
    ndcg = [r["ndcg@10"] for r in rows]
    assert ndcg == sorted(ndcg, reverse=True)
    by_mode = {r["mode"]: r for r in rows if r["mode"] in ("dense", "bm25")}
    assert by_mode["bm25"]["ndcg@10"] > by_mode["dense"]["ndcg@10"]
    assert retriever.mode == rows[0]["mode"] and retriever.mode != "dense"
    if retriever.mode == "hybrid_norm":
        assert retriever.alpha == rows[0]["alpha"]
    # the retriever now retrieves as the winning row scored
    ranked = [[d.metadata["doc_id"] for d in docs] for docs in retriever.retrieve_batch(queries)]
    assert ranking_metrics(ranked, relevant)["ndcg@10"] == pytest.approx(rows[0]["ndcg@10"])


def test_tune_fusion_maps_index_ids_to_document_keys_and_checks_its_arguments():
    retriever = _retriever(64)
    queries = [f"zq{i}x" for i in range(5)]
    rows = tune_fusion(retriever, queries, [{DOCS[i]} for i in range(5)],
                       doc_key=lambda doc_id: DOCS[doc_id], apply=False)
    assert retriever.mode == "dense"  # apply=False leaves it alone
    assert max(r["recall@1"] for r in rows) == 1.0
    with pytest.raises(ConfigError, match="Unknown metric 'ndcg@5'"):
        tune_fusion(retriever, queries, [{0}] * 5, metric="ndcg@5")
    with pytest.raises(ConfigError, match=r"alphas must lie in \[0, 1\]"):
        tune_fusion(retriever, queries, [{0}] * 5, alphas=(1.5,))


# ----------------------------------------------------------------- a real CrossEncoder


def test_a_cross_encoder_folder_reranks_through_sentence_transformers(e5_path, tmp_path):
    from sentence_transformers import CrossEncoder

    from polyglot_transfer.models.tiny import build_tiny_cross_encoder
    from polyglot_transfer.retrieval.rerank import CrossEncoderReranker

    folder = build_tiny_cross_encoder(tmp_path / "tiny-ce", e5_path)
    retriever = _retriever(64)
    reranker = CrossEncoderReranker(folder, batch_size=4)
    retriever = retriever.model_copy(update={"reranker": reranker, "candidate_k": 12, "k": 5})
    query = "river city"
    docs = retriever.invoke(query)
    assert len(docs) == 5
    # the order is the cross-encoder's own, computed independently on the same 12 candidates
    first_stage = retriever.model_copy(update={"reranker": None, "k": 12}).invoke(query)
    expected = CrossEncoder(str(folder), device="cpu").predict([(query, d.page_content) for d in first_stage])
    best = sorted(zip(expected, (d.page_content for d in first_stage)), key=lambda t: -t[0])[:5]
    assert [d.page_content for d in docs] == [text for _, text in best]
    np.testing.assert_allclose([d.metadata["rerank_score"] for d in docs], [s for s, _ in best], rtol=1e-5)
    assert all("retrieval_score" in d.metadata and "dense_score" in d.metadata for d in docs)
