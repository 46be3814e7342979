"""SetFit-style few-shot learning: contrastive tuning of the sentence embedder, then a logistic-regression head.

1. ``k`` examples per label are drawn (seeded, nested: the 8-shot set is inside the 16-shot set);
2. ``n_pairs`` text pairs are built from them: half from the same label (similarity 1), half from
   different labels (similarity 0) for ``loss="cosine"`` (CosineSimilarityLoss); or same-label
   (anchor, positive) pairs with in-batch negatives for ``loss="mnrl"`` (MultipleNegativesRankingLoss);
3. the whole embedder (optionally all but its word embeddings) is fine-tuned on them with the sentence-transformers trainer (a transformers
   Trainer, so accelerate / torchrun work unchanged);
4. a logistic regression is fitted on the tuned embeddings of ALL training examples.

The shared ``Embedder`` passed in is never modified: the strategy loads its own copy of the model.
Saved as ``embedder/`` (``SentenceTransformer.save``, safetensors) + ``head.safetensors``.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from annotated_types import Ge

from polyglot_transfer.adapt.base import (
    STRATEGIES, AtLeastOne, Epochs, Length, Positive, Share, Strategy, check_support, epoch_losses, softmax,
    softmax_weights, training_arguments,
)
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

__all__ = ["FewShotConfig", "FewShotStrategy", "make_pairs"]


@typed
@dataclass
class FewShotConfig:
    k: Annotated[int, Ge(2)] | None = 16  # examples per label for the contrastive pairs (None: all of them)
    n_pairs: AtLeastOne = 200  # pairs built from those examples
    epochs: Epochs = 1
    learning_rate: Positive = 2e-5
    batch_size: AtLeastOne = 16
    warmup_ratio: Share = 0.1
    loss: Literal["cosine", "mnrl"] = "cosine"
    max_length: Length = 64
    train_embeddings: bool = True  # False: freeze the word embeddings (most of a multilingual model; faster)
    C: Positive = 1.0  # inverse L2 strength of the logistic-regression head


def make_pairs(texts: list[str], labels: list[str], n_pairs: int, seed: int = 0, *,
               negatives: bool = True) -> list[tuple[str, str, float]]:
    """Seeded (text_a, text_b, similarity) pairs: same label -> 1.0, different labels -> 0.0.

    With `negatives`, half the pairs are positive and half negative; otherwise all are positive.
    Labels with a single example give no positive pairs.
    """
    rng = random.Random(f"pairs\x1f{seed}")
    by_label: dict[str, list[str]] = {}
    for text, label in zip(texts, labels):
        by_label.setdefault(label, []).append(text)
    names = sorted(by_label)
    pos_labels = [lbl for lbl in names if len(by_label[lbl]) >= 2]
    if not pos_labels:
        raise DataError("few_shot: every label has a single example, so no same-label pair can be built. "
                        "Give at least 2 examples for some label (raise k).")
    n_pos = n_pairs // 2 if negatives else n_pairs
    pairs = []
    for _ in range(n_pos):
        a, b = rng.sample(by_label[rng.choice(pos_labels)], 2)
        pairs.append((a, b, 1.0))
    for _ in range(n_pairs - n_pos):
        la, lb = rng.sample(names, 2)
        pairs.append((rng.choice(by_label[la]), rng.choice(by_label[lb]), 0.0))
    rng.shuffle(pairs)
    return pairs


@STRATEGIES.register("few_shot")
class FewShotStrategy(Strategy):
    """Contrastively tuned embedder (SetFit recipe) + logistic-regression head."""

    name = "few_shot"
    config_class = FewShotConfig
    tasks = frozenset({"classification"})
    model_families = frozenset({"encoder"})

    def _load_body(self, folder: str | Path):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.manual_seed(self.seed)
        body = SentenceTransformer(str(folder), device="cuda" if torch.cuda.is_available() else "cpu",
                                   trust_remote_code=False)
        body.max_seq_length = self.config.max_length
        if not self.config.train_embeddings:
            for module in body.modules():
                embeddings = module.get_input_embeddings() if hasattr(module, "get_input_embeddings") else None
                if embeddings is not None:
                    embeddings.weight.requires_grad_(False)
                    break
        self.prompt_ = (getattr(body, "prompts", None) or {}).get("query", "")
        return body

    def fit(self, train: TextDataset) -> FewShotStrategy:
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss, MultipleNegativesRankingLoss

        labels = self._check_train(train)
        path = resolve_model(self.model)
        check_support(self, path)
        self.body_ = self._load_body(path)
        shots = train.sample_per_label(self.config.k, seed=self.seed) if self.config.k is not None else train
        cosine = self.config.loss == "cosine"
        pairs = make_pairs(shots.texts, shots.labels, self.config.n_pairs, seed=self.seed, negatives=cosine)
        if cosine:
            ds = Dataset.from_dict({"sentence1": [a for a, _, _ in pairs], "sentence2": [b for _, b, _ in pairs],
                                    "score": [s for _, _, s in pairs]})
            loss = CosineSimilarityLoss(self.body_)
        else:
            ds = Dataset.from_dict({"anchor": [a for a, _, _ in pairs], "positive": [b for _, b, _ in pairs]})
            loss = MultipleNegativesRankingLoss(self.body_)
        total_steps = math.ceil(math.ceil(len(pairs) / self.config.batch_size) * self.config.epochs)
        with tempfile.TemporaryDirectory(prefix="pgt-few-shot-") as tmp:
            args = training_arguments(
                tmp, epochs=self.config.epochs, lr=self.config.learning_rate, batch_size=self.config.batch_size,
                seed=self.seed, args_class=SentenceTransformerTrainingArguments, logging_strategy="steps",
                logging_steps=max(1, total_steps // 10), prompts=self.prompt_ or None,
                warmup_steps=self.config.warmup_ratio,  # a float < 1 is a ratio of the total steps
            )
            trainer = SentenceTransformerTrainer(model=self.body_, args=args, train_dataset=ds, loss=loss)
            result = trainer.train()
        self.train_loss_ = epoch_losses(trainer)
        logger.info("few_shot: %d pairs from %d examples, %d steps, final loss %.4f", len(pairs), len(shots),
                    result.global_step, result.training_loss)
        self._fit_head(self.features(train.texts), [labels.index(lbl) for lbl in train.labels])
        self.labels_ = labels
        return self

    def _fit_head(self, x: np.ndarray, y: list[int]) -> None:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.config.C, max_iter=2000, random_state=self.seed).fit(x, y)
        self.coef_, self.intercept_ = softmax_weights(clf)

    def features(self, texts: list[str]) -> np.ndarray:
        """Tuned, L2-normalised sentence embeddings (with the query prompt)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.body_.get_sentence_embedding_dimension()), dtype=np.float32)
        emb = self.body_.encode([self.prompt_ + t for t in texts], batch_size=64, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(emb, dtype=np.float32).reshape(len(texts), -1)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        return softmax(self.features(texts) @ self.coef_.T + self.intercept_).astype(np.float32)

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total): the embedder weights tuned (all, or all but the word embeddings) + the head's."""
        head = int(self.coef_.size + self.intercept_.size)
        params = list(self.body_.parameters())
        return sum(p.numel() for p in params if p.requires_grad) + head, sum(p.numel() for p in params) + head

    def _save_weights(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        self.body_.save(str(folder / "embedder"), safe_serialization=True, create_model_card=False)
        save_file({"coef": self.coef_, "intercept": self.intercept_}, str(folder / "head.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        self.body_ = self._load_body(folder / "embedder")
        w = load_file(str(folder / "head.safetensors"))
        self.coef_, self.intercept_ = w["coef"], w["intercept"]
