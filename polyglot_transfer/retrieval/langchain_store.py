"""LangChain faces of the retrieval layer: `PGTEmbeddings` (Embeddings) and `PGTVectorStore` (VectorStore).

`PGTEmbeddings` applies the model's prompts: `embed_documents` uses the passage prompt and
`embed_query` the query prompt. `PGTVectorStore` keeps documents in a :class:`VectorIndex`; LangChain's
string ids are the index's keys, so they survive save/load, and adding an existing id replaces that
document. It persists with the index's pickle-free format (`save_local` / `load_local`).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import check_embedder, VectorIndex


class PGTEmbeddings(Embeddings):
    """LangChain Embeddings over an :class:`Embedder` (given, or built from `model` and keyword options)."""

    def __init__(self, embedder: Embedder | None = None, *, model: str | os.PathLike = "intfloat/multilingual-e5-small",
                 **embedder_kwargs: Any) -> None:
        self.embedder = embedder if embedder is not None else Embedder(model, **embedder_kwargs)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.encode_passages(list(texts)).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode_queries([text])[0].astype(float).tolist()


def _identity(embedding: Embeddings) -> dict[str, Any]:
    if isinstance(embedding, PGTEmbeddings):
        return dict(embedding.embedder.identity)
    return {"model": type(embedding).__name__}


class PGTVectorStore(VectorStore):
    """A LangChain VectorStore over a :class:`VectorIndex` (created on the first add when not given)."""

    def __init__(
        self,
        embedding: Embeddings,
        index: VectorIndex | None = None,
        *,
        metric: str = "cosine",
        recipe: str | None = "Flat",
    ) -> None:
        self.embedding = embedding
        self.index = index
        self.metric, self.recipe = (index.metric, index.recipe) if index is not None else (metric, recipe)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def _ensure_index(self, dim: int) -> VectorIndex:
        if self.index is None:
            self.index = VectorIndex(dim, metric=self.metric, recipe=self.recipe, embedder_identity=_identity(self.embedding))
        return self.index

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add texts; an id that already exists replaces that document. Returns the ids."""
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise DataError(f"add_texts got {len(texts)} texts but {len(metadatas)} metadata dicts.")
        if ids is not None and len(ids) != len(texts):
            raise DataError(f"add_texts got {len(texts)} texts but {len(ids)} ids.")
        if not texts:
            return []
        keys = [str(i) if i is not None else str(uuid.uuid4()) for i in (ids or [None] * len(texts))]
        metas = [dict(m) for m in (metadatas or [{} for _ in texts])]
        vectors = np.asarray(self.embedding.embed_documents(texts), dtype=np.float32)
        index = self._ensure_index(int(vectors.shape[1]))
        if index.embedder_identity:  # vectors of another embedder never go in, updates included
            check_embedder(index.embedder_identity, _identity(self.embedding), "This vector store's index")
        latest: dict[str, int] = {key: pos for pos, key in enumerate(keys)}  # last occurrence wins
        new_pos = []
        for key, pos in latest.items():
            existing = index.id_for_key(key)
            if existing is None:
                new_pos.append(pos)
            else:
                index.update(existing, vectors[pos], texts[pos], metas[pos])
        if new_pos:
            index.add(vectors[new_pos], [texts[p] for p in new_pos], [metas[p] for p in new_pos],
                      keys=[keys[p] for p in new_pos])
        return keys

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id; unknown ids are ignored. `ids=None` deletes nothing and returns False."""
        if not ids or self.index is None:
            return False
        found = [i for i in (self.index.id_for_key(k) for k in ids) if i is not None]
        if found:
            self.index.delete(list(dict.fromkeys(found)))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids, in the given order; unknown ids are skipped."""
        if self.index is None:
            return []
        out = []
        for key in ids:
            doc_id = self.index.id_for_key(key)
            if doc_id is not None:
                d = self.index.get(doc_id)
                out.append(Document(page_content=d["text"], metadata=dict(d["metadata"]), id=str(key)))
        return out

    def similarity_search_by_vector_with_score(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | Callable | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        if self.index is None or len(self.index) == 0:
            return []
        hits = self.index.search(np.asarray([embedding], dtype=np.float32), k, where=filter)[0]
        return [(Document(page_content=h.text, metadata=h.metadata, id=h.key), h.score) for h in hits]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | Callable | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """(document, score) pairs, best first; the score is the index's (higher is better)."""
        if self.index is None or len(self.index) == 0:
            return []
        return self.similarity_search_by_vector_with_score(self.embedding.embed_query(query), k, filter=filter)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | Callable | None = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_by_vector_with_score(embedding, k, filter=filter)]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | Callable | None = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter=filter)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.metric == "l2":
            return lambda score: 1.0 / (1.0 + math.sqrt(max(0.0, -score)))
        return lambda score: (score + 1.0) / 2.0  # cosine / inner product of unit vectors

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> PGTVectorStore:
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def save_local(self, folder: str | Path) -> Path:
        """Save with the index's checksummed format (no pickle)."""
        if self.index is None:
            raise DataError("This vector store is empty (no index yet); add texts before saving.")
        return self.index.save(folder)

    @classmethod
    def load_local(cls, folder: str | Path, embedding: Embeddings) -> PGTVectorStore:
        """Load a saved store; refused when `embedding` is a PGTEmbeddings over a different model."""
        expected = embedding.embedder.identity if isinstance(embedding, PGTEmbeddings) else None
        return cls(embedding, VectorIndex.load(folder, expected_embedder=expected))
