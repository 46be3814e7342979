"""The langchain-tests standard suites for PGTVectorStore, PGTEmbeddings and both retrievers."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from polyglot_transfer.errors import IntegrityError
from polyglot_transfer.retrieval.embedder import Embedder, HashEmbedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.hybrid import HybridRetriever
from polyglot_transfer.retrieval.langchain_store import PGTEmbeddings, PGTVectorStore
from polyglot_transfer.retrieval.retriever import IndexRetriever


# The suites' async tests carry no asyncio mark and pytest-asyncio runs in strict mode here; the suites
# forbid overriding their tests, so the whole module is marked (sync tests ignore the mark).
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .* is marked with '@pytest.mark.asyncio'"),
]


class TestPGTVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> PGTVectorStore:
        return PGTVectorStore(self.get_embeddings())


class TestPGTVectorStoreHNSWStandard(VectorStoreIntegrationTests):
    """The same suite on a recipe that cannot remove vectors (tombstones)."""

    @pytest.fixture()
    def vectorstore(self) -> PGTVectorStore:
        return PGTVectorStore(self.get_embeddings(), recipe="HNSW32")


class TestPGTEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[PGTEmbeddings]:
        return PGTEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": HashEmbedder(16)}


class TestPGTEmbeddingsRealModel(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _needs_model(self, e5_path) -> None:
        import torch

        torch.set_num_threads(1)

    @property
    def embeddings_class(self) -> type[PGTEmbeddings]:
        return PGTEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": _real_embedder()}


@functools.lru_cache(maxsize=1)
def _real_embedder() -> Embedder:
    return Embedder("intfloat/multilingual-e5-small")


DOCS = [
    "Lagos is the largest city in Nigeria",
    "Abuja is the capital of Nigeria",
    "Nairobi is the capital of Kenya",
    "Kigali is the capital of Rwanda",
    "The Nile is the longest river in Africa",
]


@functools.lru_cache(maxsize=1)
def _index() -> tuple[VectorIndex, HashEmbedder]:
    emb = HashEmbedder(64)
    index = VectorIndex(64, embedder_identity=emb.identity)
    index.add(emb.encode_passages(DOCS), DOCS, [{"n": i} for i in range(len(DOCS))])
    return index, emb


class TestIndexRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[IndexRetriever]:
        return IndexRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        index, emb = _index()
        return {"index": index, "embedder": emb}

    @property
    def retriever_query_example(self) -> str:
        return "What is the capital of Nigeria?"


class TestHybridRetrieverStandard(TestIndexRetrieverStandard):
    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        index, emb = _index()
        return {"index": index, "embedder": emb, "mode": "hybrid_rrf", "bm25_language": "eng_Latn"}


def test_embeddings_use_passage_and_query_prompts():
    emb = HashEmbedder(32, query_prompt="query: ", passage_prompt="passage: ")
    lc = PGTEmbeddings(emb)
    assert np.allclose(lc.embed_documents(["x"])[0], emb.encode_passages(["x"])[0])
    assert np.allclose(lc.embed_query("x"), emb.encode_queries(["x"])[0])
    assert not np.allclose(lc.embed_query("x"), lc.embed_documents(["x"])[0])


def test_vectorstore_filters_scores_persistence_and_retriever(tmp_path):
    lc = PGTEmbeddings(HashEmbedder(64))
    store = PGTVectorStore.from_texts(DOCS, lc, metadatas=[{"n": i, "even": i % 2 == 0} for i in range(5)],
                                      ids=[f"d{i}" for i in range(5)])
    top = store.similarity_search_with_score("capital of Kenya", k=5, filter={"even": True})
    assert {d.metadata["n"] for d, _ in top} == {0, 2, 4}
    scores = [s for _, s in top]
    assert scores == sorted(scores, reverse=True)
    rel = store.similarity_search_with_relevance_scores("capital of Kenya", k=2)
    assert all(0.0 <= s <= 1.0 for _, s in rel)
    store.save_local(tmp_path / "store")
    again = PGTVectorStore.load_local(tmp_path / "store", lc)
    assert again.get_by_ids(["d3", "nope", "d1"]) == [
        Document(id="d3", page_content=DOCS[3], metadata={"n": 3, "even": False}),
        Document(id="d1", page_content=DOCS[1], metadata={"n": 1, "even": False}),
    ]
    with pytest.raises(IntegrityError, match="Vectors from different embedders"):
        PGTVectorStore.load_local(tmp_path / "store", PGTEmbeddings(HashEmbedder(32)))
    docs = again.as_retriever(search_kwargs={"k": 2}).invoke("capital of Rwanda")
    assert len(docs) == 2 and docs[0].id == "d3"
