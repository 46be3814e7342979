"""Classification by retrieval: index labelled examples and task documents, predict by a similarity-weighted vote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from annotated_types import Ge, Gt

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.retriever import IndexRetriever
from polyglot_transfer.typed_config import typed


@typed
@dataclass
class RetrievalConfig:
    """A setup's `retrieval:` block. temperature > 0 and finite: 0 divides by zero (a NaN vote), a negative
    one inverts the vote (the least similar hit wins)."""

    k: Annotated[int, Ge(1)] = 8  # hits per query
    temperature: Annotated[float, Gt(0)] = 0.05  # softmax temperature over cosine similarities of the k hits
    use_examples: bool = True  # index the labelled source examples
    use_documents: bool = True  # index the task documents
    recipe: str = "Flat"


def build_task_index(
    embedder: Embedder, examples: TextDataset | None, documents: TextDataset | None, *, recipe: str = "Flat"
) -> VectorIndex:
    """One index over labelled examples (query prompt: they are short messages, like the queries)
    and task documents (passage prompt), each carrying its label, language, kind and id as metadata."""
    index = VectorIndex(embedder.dim, metric="cosine", recipe=recipe, embedder_identity=embedder.identity)
    for data, kind, encode in (
        (examples, "example", embedder.encode_queries),
        (documents, "document", embedder.encode_passages),
    ):
        if data is None or len(data) == 0:
            continue
        if any(label is None for label in data.labels):
            raise DataError(f"Every {kind} indexed for retrieval voting needs a label; {data.name} has unlabelled rows.")
        index.add(
            encode(data.texts),
            data.texts,
            [{"label": e.label, "lang": e.lang, "kind": kind, "source_id": e.id} for e in data],
        )
    if len(index) == 0:
        raise DataError("Nothing to index: retrieval needs labelled examples or task documents.")
    return index


class RetrievalVoteClassifier:
    """Predict a label distribution from the k retrieved items: softmax(similarity / temperature) votes."""

    def __init__(self, retriever: IndexRetriever, labels: list[str], temperature: float = 0.05) -> None:
        self.retriever = retriever
        self.labels = list(labels)
        self.temperature = temperature

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        position = {label: i for i, label in enumerate(self.labels)}
        for row, docs in enumerate(self.retriever.retrieve_batch(list(texts))):
            scores = np.array([d.metadata["score"] for d in docs], dtype=np.float64)
            if len(scores) == 0:
                probs[row] = 1.0 / len(self.labels)
                continue
            weights = np.exp((scores - scores.max()) / self.temperature)
            for w, d in zip(weights, docs):
                if d.metadata["label"] in position:
                    probs[row, position[d.metadata["label"]]] += w
            total = probs[row].sum()
            probs[row] = probs[row] / total if total > 0 else 1.0 / len(self.labels)
        return probs

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]
