"""Feature extraction: a frozen encoder and a logistic-regression head (scikit-learn) on its embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyglot_transfer.adapt.base import STRATEGIES, Strategy
from polyglot_transfer.data.dataset import TextDataset


@dataclass
class HeadConfig:
    C: float = 1.0  # inverse L2 regularisation strength
    max_iter: int = 2000
    class_weight: str | None = None  # None or "balanced"


@STRATEGIES.register("head")
class HeadStrategy(Strategy):
    """Frozen encoder + logistic regression; embeddings come from (and are cached by) the Embedder."""

    name = "head"
    config_class = HeadConfig
    tasks = frozenset({"classification"})
    # any model sentence-transformers can mean-pool: encoders, and decoders (e.g. after continued pre-training)
    model_families = frozenset({"encoder", "decoder"})

    def _embedder(self):
        if self.embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            self.embedder = Embedder(self.model)
        return self.embedder

    def fit(self, train: TextDataset) -> HeadStrategy:
        from sklearn.linear_model import LogisticRegression

        from polyglot_transfer.adapt.full import check_support
        from polyglot_transfer.models.provision import resolve_model

        labels = self._check_train(train)
        if self.embedder is None:  # a shared embedder was already checked by whoever built it
            check_support(self, resolve_model(self.model))
        x = self._embedder().encode_queries(train.texts)
        clf = LogisticRegression(
            C=self.config.C, max_iter=self.config.max_iter, class_weight=self.config.class_weight,
            random_state=self.seed,
        )
        clf.fit(x, [labels.index(lbl) for lbl in train.labels])
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # binary: sklearn stores one row; expand to a 2-class softmax
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef_ = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept_ = intercept.astype(np.float32)
        self.labels_ = labels
        return self

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return features @ self.coef_.T + self.intercept_

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        z = self.decision_function(self._embedder().encode_queries(list(texts)))
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def _save_weights(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        arrays = {"coef": self.coef_, "intercept": self.intercept_}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "head.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        w = load_file(str(folder / "head.safetensors"))
        self.coef_, self.intercept_ = w["coef"], w["intercept"]
