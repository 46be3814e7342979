"""The langchain-core face of an index: a `BaseRetriever` that keeps scores in `Document.metadata`."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import Hit, MetadataFilter, VectorIndex


def hit_to_document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata={**hit.metadata, "score": hit.score, "doc_id": hit.id})


class IndexRetriever(BaseRetriever):
    """Dense retrieval over a VectorIndex; `where` filters by metadata (e.g. {"lang": "yor_Latn"})."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VectorIndex
    embedder: Embedder
    k: int = 8
    where: dict[str, Any] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.retrieve_batch([query])[0]

    def retrieve_batch(self, queries: list[str], *, where: MetadataFilter | None = None) -> list[list[Document]]:
        """Encode all queries at once and search; far faster than one `invoke` per query."""
        vectors = self.embedder.encode_queries(queries)
        hits = self.index.search(vectors, self.k, where=where if where is not None else self.where)
        return [[hit_to_document(h) for h in row] for row in hits]
