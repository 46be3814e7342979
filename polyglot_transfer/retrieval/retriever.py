"""The langchain-core face of an index: a `BaseRetriever` that keeps scores in `Document.metadata`."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.retrieval.faiss_index import Hit, MetadataFilter, VectorIndex


def check_queries(queries: Any) -> list[str]:
    """Refuse a query list that is not a list of non-blank strings (a blank query returns arbitrary hits)."""
    if isinstance(queries, str):
        raise ConfigError(f"queries must be a list of strings; got the string {queries[:60]!r}. Wrap it: [query].")
    queries = list(queries)
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise ConfigError(f"Query {i} is a {type(q).__name__} ({q!r:.60}); expected a string.")
        if not q.strip():
            raise ConfigError(f"Query {i} is blank ({q!r}); a blank query matches nothing in particular. "
                              "Give a question or keywords.")
    return queries


def hit_to_document(hit: Hit) -> Document:
    return Document(
        page_content=hit.text, metadata={**hit.metadata, "score": hit.score, "doc_id": hit.id}, id=hit.key
    )


class IndexRetriever(BaseRetriever):
    """Dense retrieval over a VectorIndex; `where` filters by metadata (e.g. {"lang": "yor_Latn"}).

    `invoke(query, k=3)` and `invoke(query, where={...})` override the defaults for one call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VectorIndex
    embedder: Any  # an Embedder, or anything with encode_queries(list[str]) -> np.ndarray
    k: int = 8
    where: dict[str, Any] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None,
        where: MetadataFilter | None = None,
    ) -> list[Document]:
        return self.retrieve_batch([query], k=k, where=where)[0]

    def _resolve_k(self, k: int | None) -> int:
        k = self.k if k is None else k
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be an int >= 1. Got {k!r} instead.")
        return k

    def retrieve_batch(
        self, queries: list[str], *, where: MetadataFilter | None = None, k: int | None = None
    ) -> list[list[Document]]:
        """Encode all queries at once and search; far faster than one `invoke` per query."""
        k = self._resolve_k(k)
        vectors = self.embedder.encode_queries(check_queries(queries))
        hits = self.index.search(vectors, k, where=where if where is not None else self.where)
        return [[hit_to_document(h) for h in row] for row in hits]
