"""Zero-shot classification by embedding similarity: no task training at all.

Each label becomes a sentence (``template`` filled with the label's description, or its name), the
embedder encodes it and every input text, and the class probabilities are a softmax over the cosine
similarities divided by ``temperature``. ``fit`` only records the label set (from the training labels
or from ``label_descriptions``): it is the floor every trained strategy should clear.

Texts get the embedder's query prompt (e5: ``query: ``); label sentences get the prompt named by
``label_prompt`` ("query" by default: e5 recommends ``query:`` on both sides of symmetric tasks
such as classification; "passage" treats labels as documents to retrieve).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from polyglot_transfer.adapt.base import STRATEGIES, Positive, Strategy, check_support, softmax
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

__all__ = ["ZeroShotConfig", "ZeroShotStrategy"]


@typed
@dataclass
class ZeroShotConfig:
    label_descriptions: dict[str, str] | None = None  # label -> description; also defines the label set
    template: str = "This message is about {label}."
    label_prompt: Literal["query", "passage"] = "query"  # the prompt the label sentences get
    temperature: Positive = 0.05  # softmax temperature over cosine similarities

    def check(self, where: str) -> list[str]:
        if "{label}" not in self.template:
            return [f"{where}.template must contain '{{label}}'. Got {self.template!r} instead."]
        return []


@STRATEGIES.register("zero_shot")
class ZeroShotStrategy(Strategy):
    """Similarity between each text and each label's sentence; nothing is trained."""

    name = "zero_shot"
    config_class = ZeroShotConfig
    tasks = frozenset({"classification"})
    model_families = frozenset({"encoder"})

    def _embedder(self):
        if self.embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            self.embedder = Embedder(self.model)
        return self.embedder

    def _check_family(self) -> None:
        path = getattr(self.embedder, "path", None) if self.embedder is not None else None
        if path is None and self.embedder is None:
            from polyglot_transfer.models.provision import resolve_model

            path = resolve_model(self.model)
        if path is not None:
            check_support(self, path)

    def fit(self, train: TextDataset | None = None) -> ZeroShotStrategy:
        """Record the label set: ``label_descriptions``' keys if given, else the training labels."""
        self._check_family()
        described = self.config.label_descriptions
        seen = sorted({lbl for lbl in (train.labels if train is not None else []) if lbl is not None})
        if described:
            labels = sorted(described)
            extra = sorted(set(seen) - set(labels))
            if extra:
                raise DataError(
                    f"zero_shot: the training data has label(s) {extra} without a description in "
                    f"zero_shot.label_descriptions (it describes {labels}). Add them or drop those examples."
                )
        else:
            labels = seen
        if len(labels) < 2:
            raise DataError(
                f"zero_shot needs at least 2 labels, from the training data or zero_shot.label_descriptions. "
                f"Got {labels}."
            )
        self.labels_ = labels
        self.__dict__.pop("_label_vectors", None)
        return self

    def label_sentences(self) -> list[str]:
        """The sentence each label is represented by, in `labels_` order."""
        described = self.config.label_descriptions or {}
        return [self.config.template.replace("{label}", described.get(lbl, lbl)) for lbl in self._require_fitted()]

    def _label_matrix(self) -> np.ndarray:
        if "_label_vectors" not in self.__dict__:
            emb = self._embedder()
            sentences = self.label_sentences()
            vectors = emb.encode_queries(sentences) if self.config.label_prompt == "query" \
                else emb.encode_passages(sentences)
            self.__dict__["_label_vectors"] = vectors
        return self.__dict__["_label_vectors"]

    def features(self, texts: list[str]) -> np.ndarray:
        """The frozen embedder's query vectors."""
        return self._embedder().encode_queries(list(texts))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        z = self.features(texts) @ self._label_matrix().T / float(self.config.temperature)
        return softmax(z).astype(np.float32)

    def trainable_parameters(self) -> tuple[int, int]:
        """(0, total): nothing is trained."""
        emb = self._embedder()
        if getattr(emb, "path", None) is None:  # a model-free embedder (HashEmbedder)
            return 0, 0
        return 0, sum(p.numel() for p in emb.model.parameters())

    def _save_weights(self, folder: Path) -> None:
        """Nothing to save: the labels and their sentences are in strategy.json."""

    def _load_weights(self, folder: Path) -> None:
        """Nothing to load."""
