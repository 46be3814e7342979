"""Token classification (NER) on CoNLL data: an encoder with a token head, LoRA or full fine-tuning.

Words are split into subwords by the model's (fast) tokenizer; each word's label sits on its first
subword and every other position gets -100, so the loss and the predictions are per word. Training runs
through the transformers `Trainer`. Scores are entity-level (seqeval's default, lenient mode: a span
starts at B-/S-, or at I-/E- after O or another type) micro precision / recall / F1 (`entity_f1`).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from polyglot_transfer.adapt.base import (
    STRATEGIES,
    Strategy,
    check_choice,
    check_family,
    check_number,
    epoch_losses,
    training_arguments,
)
from polyglot_transfer.adapt.full import model_family
from polyglot_transfer.data.conll import TokenDataset
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError, UnsupportedError
from polyglot_transfer.models.provision import resolve_model

logger = logging.getLogger(__name__)

Span = tuple[str, int, int]  # (type, first token, last token), inclusive


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O" or not tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return (prefix, kind) if kind else ("I", prefix)  # a bare "PER" counts as inside a PER span


def entity_spans(tags: list[str]) -> list[Span]:
    """Entity spans of one tag sequence (BIO / IOB1 / IOBES), as seqeval's default mode reads them."""
    spans: list[Span] = []
    prev_prefix, prev_kind, begin = "O", "", -1
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _split_tag(tag)
        end = (prev_prefix in ("E", "S")
               or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
               or (prev_prefix != "O" and prev_kind != kind))
        if end and begin >= 0:
            spans.append((prev_kind, begin, i - 1))
            begin = -1
        start = (prefix in ("B", "S")
                 or (prev_prefix in ("E", "S", "O") and prefix in ("I", "E"))
                 or (prefix != "O" and prev_kind != kind))
        if start:
            begin = i
        prev_prefix, prev_kind = prefix, kind
    return spans


def entity_f1(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Micro entity-level precision, recall and F1 over sentences (exact span and type match)."""
    if len(gold) != len(pred):
        raise DataError(f"entity_f1: {len(gold)} gold sentences but {len(pred)} predicted ones.")
    g_all, p_all = set(), set()
    for n, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise DataError(f"entity_f1: sentence {n} has {len(g)} gold tags but {len(p)} predicted tags.")
        g_all |= {(n, *s) for s in entity_spans(g)}
        p_all |= {(n, *s) for s in entity_spans(p)}
    hit = len(g_all & p_all)
    precision = hit / len(p_all) if p_all else 0.0
    recall = hit / len(g_all) if g_all else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(len(g_all))}


@dataclass
class TokenClassificationConfig:
    method: str = "lora"  # "lora" (adapters + trained token head), "full", or "head" (frozen encoder + token head)
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"])
    epochs: float = 5.0
    learning_rate: float = 1e-3
    batch_size: int = 16
    max_length: int = 128
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        where = "token_classification"
        check_choice(f"{where}.method", self.method, ("lora", "full", "head"))
        for name in ("r", "alpha", "batch_size"):
            check_number(f"{where}.{name}", getattr(self, name), low=1, integer=True)
        check_number(f"{where}.max_length", self.max_length, low=8, integer=True)
        check_number(f"{where}.dropout", self.dropout, low=0, high=1)
        check_number(f"{where}.epochs", self.epochs, low=0, low_open=True)
        check_number(f"{where}.learning_rate", self.learning_rate, low=0, low_open=True)
        check_number(f"{where}.weight_decay", self.weight_decay, low=0)


@STRATEGIES.register("token_classification")
class TokenClassificationStrategy(Strategy):
    """Per-word tags from an encoder's first subword; `fit(TokenDataset)`, `predict(list of token lists)`."""

    name = "token_classification"
    config_class = TokenClassificationConfig
    tasks: ClassVar[frozenset[str]] = frozenset({"token_classification"})
    model_families: ClassVar[frozenset[str]] = frozenset({"encoder"})

    def _build(self, folder: Path | None = None) -> None:
        import torch
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = resolve_model(self.model)
        check_family(self.name, model_family(path), self.model_families, self.model)
        torch.manual_seed(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        if not self.tokenizer_.is_fast:
            raise UnsupportedError(f"token_classification needs a fast tokenizer (word alignment); {self.model} "
                                   "has a slow one.")
        labels = self.labels_
        kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={t: i for i, t in enumerate(labels)})
        if self.config.method == "full":
            source = folder / "model" if folder is not None else path
            self.model_ = AutoModelForTokenClassification.from_pretrained(str(source), **kwargs)
            return
        if self.config.method == "head":  # the encoder stays frozen; only the token classifier trains
            self.model_ = AutoModelForTokenClassification.from_pretrained(str(path), **kwargs)
            for p in self.model_.base_model.parameters():
                p.requires_grad = False
            if folder is not None:
                from safetensors.torch import load_file

                self.model_.load_state_dict(load_file(str(folder / "head.safetensors")), strict=False)
            return
        base = AutoModelForTokenClassification.from_pretrained(str(path), **kwargs)
        if folder is not None:
            self.model_ = PeftModel.from_pretrained(base, str(folder / "adapter"))
            return
        c = self.config
        self.model_ = get_peft_model(base, LoraConfig(
            task_type=TaskType.TOKEN_CLS, r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout,
            target_modules=list(c.target_modules), bias="none",
        ))

    def _encode(self, sentences: list[list[str]], tags: list[list[str]] | None = None) -> Any:
        enc = self.tokenizer_(sentences, is_split_into_words=True, truncation=True, max_length=self.config.max_length)
        if tags is not None:
            index = {t: i for i, t in enumerate(self.labels_)}
            all_labels = []
            for n, sentence_tags in enumerate(tags):
                prev, row = None, []
                for w in enc.word_ids(n):
                    row.append(-100 if w is None or w == prev else index[sentence_tags[w]])
                    prev = w
                all_labels.append(row)
            enc["labels"] = all_labels
        return enc

    def fit(self, train: TokenDataset) -> TokenClassificationStrategy:
        """Fine-tune on a TokenDataset (see `polyglot_transfer.data.conll.load_conll`)."""
        from datasets import Dataset
        from transformers import DataCollatorForTokenClassification, Trainer

        if isinstance(train, TextDataset) or not isinstance(train, TokenDataset):
            raise UnsupportedError(
                f"token_classification trains on a TokenDataset (one tag per token, from load_conll); got "
                f"{type(train).__name__}. For sentence classification use 'lora' or 'head'."
            )
        if len(train.tag_set) < 2:
            raise DataError(f"token_classification needs at least 2 tags. Got {train.tag_set}.")
        self.labels_ = train.tag_set
        self._build()
        enc = self._encode(train.tokens, train.tags)
        ds = Dataset.from_dict({k: enc[k] for k in ("input_ids", "attention_mask", "labels")})
        params = list(self.model_.parameters())
        self.trainable_ = (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
        with tempfile.TemporaryDirectory(prefix="pgt-ner-") as tmp:
            args = training_arguments(tmp, epochs=self.config.epochs, lr=self.config.learning_rate,
                                      batch_size=self.config.batch_size, seed=self.seed,
                                      weight_decay=self.config.weight_decay, warmup_steps=0.1,
                                      lr_scheduler_type="linear")
            trainer = Trainer(model=self.model_, args=args, train_dataset=ds,
                              data_collator=DataCollatorForTokenClassification(self.tokenizer_))
            trainer.train()
            self.train_loss_ = epoch_losses(trainer)
        self.model_.eval()
        return self

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameters during fine-tuning."""
        return self.trainable_

    def predict_proba(self, sentences: list[list[str]] | TokenDataset, batch_size: int = 32) -> list[np.ndarray]:
        """One (n_tokens, n_tags) array per sentence, in `labels_` order. Words cut by max_length get
        probability 1 on 'O' (uniform when there is no 'O' tag), with a warning."""
        import torch

        self._require_fitted()
        if isinstance(sentences, TokenDataset):
            sentences = sentences.tokens
        if sentences and isinstance(sentences[0], str):
            raise DataError("token_classification.predict_proba takes a list of token lists (pre-split words), "
                            f"e.g. [['Ada', 'lives', 'in', 'Lagos']]; got a list of strings ({sentences[0]!r}).")
        n_tags = len(self.labels_)
        fallback = np.full(n_tags, 1.0 / n_tags, dtype=np.float32)
        if "O" in self.labels_:
            fallback = np.zeros(n_tags, dtype=np.float32)
            fallback[self.labels_.index("O")] = 1.0
        out = [np.tile(fallback, (len(s), 1)) for s in sentences]
        seen = [np.zeros(len(s), dtype=bool) for s in sentences]
        device = next(self.model_.parameters()).device
        self.model_.eval()
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                chunk = [list(s) for s in sentences[start : start + batch_size]]
                enc = self._encode(chunk)
                batch = self.tokenizer_.pad({k: enc[k] for k in ("input_ids", "attention_mask")}, return_tensors="pt")
                logits = self.model_(input_ids=batch["input_ids"].to(device),
                                     attention_mask=batch["attention_mask"].to(device)).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for row in range(len(chunk)):
                    prev = None
                    for pos, w in enumerate(enc.word_ids(row)):
                        if w is not None and w != prev:
                            out[start + row][w] = probs[row, pos]
                            seen[start + row][w] = True
                        prev = w
        cut = sum(int((~s).sum()) for s in seen)
        if cut:
            logger.warning("token_classification: %d words beyond max_length=%d were tagged with the fallback.",
                           cut, self.config.max_length)
        return out

    def predict(self, sentences: list[list[str]] | TokenDataset) -> list[list[str]]:
        """One tag per token of each sentence."""
        return [[self.labels_[i] for i in p.argmax(axis=1)] for p in self.predict_proba(sentences)]

    def evaluate(self, data: TokenDataset) -> dict[str, float]:
        """Entity-level micro precision / recall / F1 of the predictions on `data`."""
        return entity_f1(data.tags, self.predict(data.tokens))

    def _save_weights(self, folder: Path) -> None:
        if self.config.method == "head":
            from safetensors.torch import save_file

            prefix = self.model_.base_model_prefix + "."
            save_file({n: p.detach().contiguous() for n, p in self.model_.named_parameters()
                       if not n.startswith(prefix)}, str(folder / "head.safetensors"))
        elif self.config.method == "full":
            self.model_.save_pretrained(str(folder / "model"), safe_serialization=True)
        else:
            self.model_.save_pretrained(str(folder / "adapter"), safe_serialization=True)

    def _load_weights(self, folder: Path) -> None:
        self._build(folder)
        self.model_.eval()
