"""BM25 tokenisation and search, rank and score fusion, HybridRetriever modes, reranking, chunking."""

from __future__ import annotations

import pytest

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.bm25 import BM25Index, tokenize
from polyglot_transfer.retrieval.chunking import chunk_documents, chunk_text, split_sentences
from polyglot_transfer.retrieval.embedder import HashEmbedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.hybrid import HybridRetriever, minmax, normalized_fuse, rrf_fuse
from polyglot_transfer.retrieval.rerank import CrossEncoderReranker


def test_tokenize_keeps_diacritics_and_combining_marks_inside_words():
    assert tokenize("Ọmọ náà lọ sí ilé-ìwé.", "yor_Latn") == ["ọmọ", "náà", "lọ", "sí", "ilé", "ìwé"]
    decomposed = "Ile\u0301"  # e + combining acute: NFC composes it
    assert tokenize(decomposed, "yor_Latn") == ["ilé"]
    assert tokenize("हिन्दी भाषा", "hin_Deva") == ["हिन्दी", "भाषा"], "vowel signs must not split words"


def test_english_stop_words_only_for_english():
    assert tokenize("The capital of the country", "eng_Latn") == ["capital", "country"]
    assert tokenize("The capital of the country", "yor_Latn") == ["the", "capital", "of", "the", "country"]
    assert tokenize("A ni", "hau_Latn") == ["a", "ni"]


def test_scripts_without_spaces_are_split_into_characters_and_bigrams():
    assert tokenize("東京都", None) == ["東", "京", "都", "東京", "京都"]
    assert tokenize("abc東京", None) == ["abc", "東", "京", "東京"]


def test_bm25_ranks_by_term_overlap_and_filters_before_ranking():
    bm = BM25Index(language="eng_Latn")
    bm.add(["the cat sat on the mat", "a dog barked at the cat", "stock markets fell"],
           [{"g": 1}, {"g": 2}, {"g": 2}], ids=[10, 20, 30])
    hits = bm.search(["cat mat"], 3)[0]
    assert [h.id for h in hits] == [10, 20], "documents without a query term are not returned"
    assert hits[0].score > hits[1].score > 0
    assert [h.id for h in bm.search(["cat mat"], 3, where={"g": 2})[0]] == [20]
    assert bm.search(["the of"], 3) == [[]], "a query of stop words only matches nothing"
    with pytest.raises(DataError, match=r"ids must be new and unique; \[10\] repeat"):
        bm.add(["again"], ids=[10])


def test_rrf_matches_the_formula():
    fused = dict(rrf_fuse([["a", "b", "c"], ["b", "d"]], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    assert [d for d, _ in rrf_fuse([["a", "b", "c"], ["b", "d"]])][0] == "b"


def test_normalised_fusion_scales_each_ranking_to_unit_range():
    assert minmax({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    fused = dict(normalized_fuse([{"a": 0.9, "b": 0.5}, {"b": 12.0, "c": 3.0}], weights=[0.7, 0.3]))
    assert fused == pytest.approx({"a": 0.7, "b": 0.3, "c": 0.0})
    with pytest.raises(ConfigError, match="got 2 score maps but 1 weights"):
        normalized_fuse([{}, {}], weights=[1.0])


DOCS = [
    "Lagos is the largest city in Nigeria",
    "Abuja is the capital of Nigeria",
    "Nairobi is the capital of Kenya",
    "Kigali is the capital of Rwanda",
    "The Nile is the longest river in Africa",
]


@pytest.fixture()
def parts():
    emb = HashEmbedder(64)
    index = VectorIndex(64, embedder_identity=emb.identity)
    index.add(emb.encode_passages(DOCS), DOCS, [{"n": i, "africa": True} for i in range(5)])
    return index, emb


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid_rrf", "hybrid_norm"])
def test_hybrid_retriever_modes_keep_scores_in_metadata(parts, mode):
    index, emb = parts
    retriever = HybridRetriever(index=index, embedder=emb, mode=mode, k=2, bm25_language="eng_Latn")
    docs = retriever.invoke("capital of Kenya Nairobi")
    assert docs[0].page_content == DOCS[2], f"{mode}: {[d.page_content for d in docs]}"
    meta = docs[0].metadata
    assert meta["retrieval_mode"] == mode and meta["doc_id"] == 2 and meta["n"] == 2
    assert ("dense_score" in meta) == (mode != "bm25") and ("bm25_score" in meta) == (mode != "dense")
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    if mode == "hybrid_rrf":
        assert meta["score"] == pytest.approx(1 / (60 + meta["dense_rank"]) + 1 / (60 + meta["bm25_rank"]))


def test_hybrid_retriever_filters_batches_and_rejects_unknown_modes(parts):
    index, emb = parts
    retriever = HybridRetriever(index=index, embedder=emb, k=3)
    rows = retriever.retrieve_batch(["capital of Kenya", "river"], where={"n": [0, 4]})
    assert [{d.metadata["n"] for d in row} for row in rows] == [{0, 4}, {0, 4}]
    with pytest.raises(ValueError, match="Unknown retrieval mode 'hybrid'"):
        HybridRetriever(index=index, embedder=emb, mode="hybrid")


def test_reranker_reorders_and_keeps_first_stage_scores(parts):
    index, emb = parts
    later_first = CrossEncoderReranker(score_fn=lambda pairs: [float(DOCS.index(p)) for _, p in pairs])
    retriever = HybridRetriever(index=index, embedder=emb, k=2, reranker=later_first, candidate_k=5)
    docs = retriever.invoke("capital")
    assert [d.page_content for d in docs] == [DOCS[4], DOCS[3]]
    assert docs[0].metadata["rerank_score"] == 4.0 and docs[0].metadata["score"] == 4.0
    assert "retrieval_score" in docs[0].metadata
    with pytest.raises(ConfigError, match="needs a model"):
        CrossEncoderReranker()


def test_split_sentences_on_punctuation_of_many_scripts():
    text = "One. Two! 第一句。第二句。 हिन्दी वाक्य। दूसरा। ምዕራፍ። ሁለት። ما هذا؟ نعم. ပထမ။ ဒုတိယ။"
    sentences = [text[s:e].strip() for s, e in split_sentences(text)]
    assert sentences == ["One.", "Two!", "第一句。", "第二句。", "हिन्दी वाक्य।", "दूसरा।", "ምዕራፍ።", "ሁለት።",
                         "ما هذا؟", "نعم.", "ပထမ။", "ဒုတိယ။"]
    assert split_sentences("3.14 is pi. Yes") == [(0, 12), (12, 15)]


def test_chunks_respect_the_budget_sentence_boundaries_and_overlap():
    sentences = [f"Sentence number {i} is here." for i in range(20)]
    text = " ".join(sentences)
    chunks = chunk_text(text, max_chars=100, overlap_chars=40)
    assert all(len(c.text) <= 100 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(c.text.endswith(".") and c.text[0] == "S" for c in chunks), "chunks end on sentence boundaries"
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        assert b.start > a.start, "chunking always makes progress"
    assert all(s in text for s in sentences) and chunks[-1].end == len(text)
    long = chunk_text("word " * 100, max_chars=50, overlap_chars=0)
    assert all(len(c.text) <= 50 for c in long) and len(long) >= 10
    with pytest.raises(ConfigError, match=r"overlap_chars must be an int in \[0, max_chars=10\). Got 10 instead"):
        chunk_text("x", max_chars=10, overlap_chars=10)


def test_chunk_documents_records_parents():
    texts, metas = chunk_documents(["A. B. C.", "D."], [{"lang": "eng_Latn"}, {"lang": "yor_Latn"}], max_chars=4,
                                   overlap_chars=0)
    assert texts == ["A.", "B.", "C.", "D."]
    assert [(m["parent"], m["chunk"], m["lang"]) for m in metas] == [
        (0, 0, "eng_Latn"), (0, 1, "eng_Latn"), (0, 2, "eng_Latn"), (1, 0, "yor_Latn")]
