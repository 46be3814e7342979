"""Feature extraction: a frozen encoder and a logistic-regression head (scikit-learn) on its embeddings.

The regularisation strength C matters (a normalised 384-d embedding under C=1 is strongly shrunk), so by
default it is chosen by stratified k-fold cross-validation (macro-F1) on the *training* set, which in a
zero-shot run is source-language data only; the choice and what it was made on are saved in
strategy.json under ``selected``.
"""

from __future__ import annotations

import json
import logging
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from annotated_types import Ge, Gt, MinLen

from polyglot_transfer.adapt.base import (
    STRATEGIES, STRATEGY_FILE, Strategy, check_support, config_from_dict, softmax, softmax_weights,
)
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

#: The C grid searched when C is not given (log-spaced; C=10 is the usual hand-tuned value for e5 embeddings).
DEFAULT_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
#: Used when the training set is too small to cross-validate (fewer than 2 examples in some label).
FALLBACK_C = 10.0


@typed
@dataclass
class HeadConfig:
    # inverse L2 regularisation strength; None: chosen by cross-validation on the train set
    C: Annotated[float, Gt(0)] | None = None
    # candidates when C is None
    C_grid: Annotated[list[Annotated[float, Gt(0)]], MinLen(1)] = field(default_factory=lambda: list(DEFAULT_C_GRID))
    # folds of the stratified cross-validation that picks C (fewer if a label has fewer examples)
    cv_folds: Annotated[int, Ge(2)] = 5
    max_iter: Annotated[int, Ge(1)] = 2000
    class_weight: Literal["balanced"] | None = None  # None or "balanced"


def _check(config: HeadConfig) -> None:
    """Refuse a config built around the typed path (e.g. HeadConfig(C=0) in Python)."""
    config_from_dict(HeadConfig, dataclasses.asdict(config), "head")


def cv_folds_for(y: list[int] | np.ndarray, wanted: int) -> int:
    """Folds a stratified split can make: at most `wanted`, at most the smallest label's count (0 if < 2)."""
    smallest = int(np.bincount(np.asarray(y)).min()) if len(y) else 0
    folds = min(wanted, smallest)
    return folds if folds >= 2 else 0


def select_C(x: np.ndarray, y: np.ndarray, grid: list[float], *, folds: int, seed: int, max_iter: int,
             class_weight: str | None, data_name: str = "the training set") -> tuple[float, dict[str, Any]]:
    """The C of `grid` with the best mean macro-F1 over stratified `folds`-fold CV on (x, y); ties go to the
    smaller C (stronger regularisation). Returns (C, a record of the choice for strategy.json)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    n_folds = cv_folds_for(y, folds)
    if not n_folds:
        return FALLBACK_C, {"C": FALLBACK_C, "by": f"fallback: {data_name} has a label with < 2 examples, "
                                                      "too few to cross-validate"}
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = {}
    for c in sorted(float(c) for c in grid):
        clf = LogisticRegression(C=c, max_iter=max_iter, class_weight=class_weight, random_state=seed)
        scores[c] = float(np.mean(cross_val_score(clf, x, y, cv=splitter, scoring="f1_macro")))
    best = max(scores, key=lambda c: (round(scores[c], 10), -c))
    record = {"C": best, "by": f"{n_folds}-fold stratified CV on {data_name}, macro-F1",
              "cv_macro_f1": {f"{c:g}": round(s, 4) for c, s in scores.items()}}
    logger.info("head: C=%g chosen by %s (macro-F1 %.3f)", best, record["by"], scores[best])
    return best, record


@STRATEGIES.register("head")
class HeadStrategy(Strategy):
    """Frozen encoder + logistic regression; embeddings come from (and are cached by) the Embedder."""

    name = "head"
    config_class = HeadConfig
    tasks = frozenset({"classification"})
    # any model sentence-transformers can mean-pool: encoders, and decoders (e.g. after continued pre-training)
    model_families = frozenset({"encoder", "decoder"})

    def __init__(self, config: Any, model: str | Path, *, seed: int = 0, embedder: Any = None) -> None:
        super().__init__(config, model, seed=seed, embedder=embedder)
        _check(self.config)
        self.selected_: dict[str, Any] | None = None

    def _embedder(self):
        if self.embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            self.embedder = Embedder(self.model)
        return self.embedder

    def _classifier(self, C: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, max_iter=self.config.max_iter, class_weight=self.config.class_weight,
                                  random_state=self.seed)

    def _xy(self, train: TextDataset) -> tuple[list[str], np.ndarray, np.ndarray]:
        labels = self._check_train(train)
        if self.embedder is None:  # a shared embedder was already checked by whoever built it
            check_support(self, resolve_model(self.model))
        x = self._embedder().encode_queries(train.texts)
        return labels, x, np.array([labels.index(lbl) for lbl in train.labels])

    def _chosen_C(self, x: np.ndarray, y: np.ndarray, train: TextDataset) -> float:
        if self.config.C is not None:
            self.selected_ = {"C": float(self.config.C), "by": "given in the config"}
            return float(self.config.C)
        what = f"{'+'.join(sorted(set(train.languages))) or train.name} train ({len(train)} examples)"
        c, self.selected_ = select_C(x, y, self.config.C_grid, folds=self.config.cv_folds, seed=self.seed,
                                     max_iter=self.config.max_iter, class_weight=self.config.class_weight,
                                     data_name=what)
        return c

    def fit(self, train: TextDataset) -> HeadStrategy:
        labels, x, y = self._xy(train)
        self.coef_, self.intercept_ = softmax_weights(self._classifier(self._chosen_C(x, y, train)).fit(x, y))
        self.labels_ = labels
        return self

    def out_of_fold_proba(self, train: TextDataset, *, folds: int | None = None) -> np.ndarray | None:
        """Class probabilities of every training example from a head that never saw it (stratified k-fold, the
        chosen C; columns in `labels_` order) — honest source-language dev predictions, e.g. to choose how
        much weight the head gets against the retrieval vote. None when the data is too small to split."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        self._require_fitted()
        labels, x, y = self._xy(train)
        n_folds = cv_folds_for(y, folds or self.config.cv_folds)
        if not n_folds or labels != self.labels_:
            return None
        c = float(self.selected_["C"]) if self.selected_ else float(self.config.C or FALLBACK_C)
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.seed)
        return cross_val_predict(self._classifier(c), x, y, cv=splitter, method="predict_proba")

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return features @ self.coef_.T + self.intercept_

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        return softmax(self.decision_function(self._embedder().encode_queries(list(texts))))

    def save(self, folder: str | Path) -> Path:
        folder = super().save(folder)
        if self.selected_ is not None:  # what C was used, and on what it was chosen
            meta = json.loads((folder / STRATEGY_FILE).read_text())
            atomic_write_json(folder / STRATEGY_FILE, {**meta, "selected": self.selected_})
        return folder

    def _save_weights(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        arrays = {"coef": self.coef_, "intercept": self.intercept_}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "head.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        w = load_file(str(folder / "head.safetensors"))
        self.coef_, self.intercept_ = w["coef"], w["intercept"]
        meta_path = folder / STRATEGY_FILE
        if meta_path.is_file():
            self.selected_ = json.loads(meta_path.read_text()).get("selected")
