"""An optional cross-encoder reranker: rescore (query, passage) pairs and reorder retrieved documents."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from langchain_core.documents import Document

from polyglot_transfer.errors import ConfigError

logger = logging.getLogger(__name__)

ScoreFn = Callable[[list[tuple[str, str]]], Sequence[float]]


class CrossEncoderReranker:
    """Rerank documents with a sentence-transformers CrossEncoder (or any `score_fn` over pairs).

    `model` is a local folder or catalog name, loaded on first use. The reranker's score goes to
    ``metadata["rerank_score"]`` and becomes ``metadata["score"]``; the first-stage score is kept in
    ``metadata["retrieval_score"]``.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        score_fn: ScoreFn | None = None,
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        if model is None and score_fn is None:
            raise ConfigError("CrossEncoderReranker needs a model (a CrossEncoder folder or name) or a score_fn.")
        self.model_name, self._score_fn = model, score_fn
        self.batch_size, self.device = batch_size, device or "cpu"

    @cached_property
    def model(self) -> Any:
        from sentence_transformers import CrossEncoder

        from polyglot_transfer.models.provision import resolve_model

        return CrossEncoder(str(resolve_model(self.model_name)), device=self.device)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        pairs = [(query, p) for p in passages]
        if not pairs:
            return []
        if self._score_fn is not None:
            return [float(s) for s in self._score_fn(pairs)]
        return [float(s) for s in self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)]

    def rerank(self, query: str, documents: Sequence[Document], *, top_n: int | None = None) -> list[Document]:
        """Documents reordered by cross-encoder score (best first), cut to `top_n`."""
        scores = self.score(query, [d.page_content for d in documents])
        order = sorted(range(len(documents)), key=lambda i: -scores[i])
        out = []
        for i in order[: top_n if top_n is not None else len(order)]:
            doc = documents[i]
            meta = {**doc.metadata, "rerank_score": scores[i], "score": scores[i]}
            if "score" in doc.metadata:
                meta["retrieval_score"] = doc.metadata["score"]
            out.append(Document(page_content=doc.page_content, metadata=meta, id=doc.id))
        return out
