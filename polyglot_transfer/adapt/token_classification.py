"""Token classification (NER) on CoNLL data: an encoder with a token head, LoRA or full fine-tuning.

This module adds the ``token_classification`` task to the engine (:data:`~polyglot_transfer.adapt.engine.TASKS`):
any engine strategy that lists it (`lora`, `full`, `peft`, and the `token_classification` declaration
here) trains a token head when given a TokenDataset. Words are split into subwords by the model's (fast)
tokenizer; each word's label sits on its first subword and every other position gets -100, so the loss
and the predictions are per word. Scores are entity-level micro precision / recall / F1 from seqeval
(IOB2, strict: :func:`polyglot_transfer.measure.ner.entity_scores`), the metric the evaluator reports.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from annotated_types import Ge

from polyglot_transfer.adapt.base import STRATEGIES, Epochs, Length, LoraFields, Positive, TrainerFields
from polyglot_transfer.adapt.engine import (
    TASK_PREDICT, TASKS, Task, TunedStrategy, inference, pretrained_model, save_pretrained_model, to_numpy,
)
from polyglot_transfer.data.conll import TokenDataset
from polyglot_transfer.errors import DataError, UnsupportedError
from polyglot_transfer.measure.ner import entity_scores
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

# The learning rate each method gets unless the config names one. The three train very different
# parameter sets: a linear classifier on frozen features (head), low-rank adapters plus the classifier
# (lora), every transformer weight (full); one shared rate collapses at least one of them to all-'O'.
# full: chosen on the training languages' own dev splits (benchmarks/results/masakhaner_dev_sweep_full.md);
# head and lora: not swept (the earlier config's head rate; the usual 10x-full rate for LoRA adapters).
METHOD_LEARNING_RATES = {"head": 5e-3, "lora": 1e-3, "full": 3e-4}


@typed
@dataclass
class TokenClassificationConfig(TrainerFields, LoraFields):
    # "full" (every transformer weight), "lora" (adapters + trained token head), or "head" (frozen encoder +
    # token head)
    method: Literal["lora", "full", "head"] = "full"
    learning_rate: Positive | None = None  # None: the method's rate (METHOD_LEARNING_RATES)
    epochs: Epochs = 3
    # full: keep the word-embedding matrix frozen. Languages absent from training keep the pre-trained
    # (aligned) embeddings of their subwords, and the optimiser skips ~80% of a small encoder's weights.
    freeze_embeddings: bool = True
    max_length: Length = 128
    # At least this many optimiser steps: a small training set gets more epochs instead of stopping while the
    # model still tags everything 'O' (entities are ~10-15% of the words; the 'O' prior is learned first).
    min_steps: Annotated[int, Ge(0)] = 200
    # "probe": the token classifier starts from a logistic-regression probe on the frozen encoder's features of
    # the training words (LP-FT, Kumar et al. 2022), so training starts from a tagger that already finds
    # entities instead of from the all-'O' plateau; "random": the transformers initialisation.
    init_head: Literal["probe", "random"] = "probe"
    probe_tokens: Annotated[int, Ge(1)] = 20000  # at most this many training words for the probe (seeded)


def encode(s: Any, sentences: list[list[str]], tags: list[list[str]] | None = None) -> Any:
    """Subword encoding of pre-split sentences; with `tags`, each word's tag id on its first subword, -100 elsewhere."""
    enc = s.tokenizer_(sentences, is_split_into_words=True, truncation=True, max_length=s.config.max_length)
    if tags is not None:
        index = {t: i for i, t in enumerate(s.labels_)}
        all_labels = []
        for n, sentence_tags in enumerate(tags):
            prev, row = None, []
            for w in enc.word_ids(n):
                row.append(-100 if w is None or w == prev else index[sentence_tags[w]])
                prev = w
            all_labels.append(row)
        enc["labels"] = all_labels
    return enc


def _build(s: Any, path: Path, folder: Path | None) -> Any:
    from transformers import AutoModelForTokenClassification

    if not s.tokenizer_.is_fast:
        raise UnsupportedError(f"{s.name}: token classification needs a fast tokenizer (word alignment); {s.model} "
                               "has a slow one.")
    labels = s.labels_
    kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={t: i for i, t in enumerate(labels)})
    if _head_only(s):  # the encoder stays frozen; only the token classifier trains
        model = AutoModelForTokenClassification.from_pretrained(str(path), **kwargs)
        for p in model.base_model.parameters():
            p.requires_grad = False
        if folder is not None:
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(folder / "head.safetensors")), strict=False)
        return model
    model = pretrained_model(s, AutoModelForTokenClassification, path, folder, **kwargs)
    if folder is None and s.peft_method == "none" and getattr(s.config, "freeze_embeddings", False):
        model.get_input_embeddings().weight.requires_grad = False
    return model


def _head_only(s: Any) -> bool:
    return s.method is None and getattr(s.config, "method", None) == "head"


def _save(s: Any, folder: Path) -> None:
    if not _head_only(s):
        save_pretrained_model(s, folder)
        return
    from safetensors.torch import save_file

    prefix = s.model_.base_model_prefix + "."
    save_file({n: p.detach().contiguous().cpu() for n, p in s.model_.named_parameters() if not n.startswith(prefix)},
              str(folder / "head.safetensors"))


def _prepare(s: Any, train: Any, source: Any) -> tuple[Any, Any]:
    from datasets import Dataset
    from transformers import DataCollatorForTokenClassification

    if not isinstance(train, TokenDataset):
        raise UnsupportedError(
            f"{s.name} trains on a TokenDataset (one tag per token, from load_conll) for token classification; got "
            f"{type(train).__name__}. For sentence classification use 'lora' or 'head'."
        )
    if len(train.tag_set) < 2:
        raise DataError(f"{s.name} needs at least 2 tags. Got {train.tag_set}.")
    s.labels_ = train.tag_set
    s.model_ = s._build()
    enc = encode(s, train.tokens, train.tags)
    if getattr(s.config, "init_head", "random") == "probe":  # also the lora / full strategies' LP-FT option
        init_head_from_probe(s, enc)
    ds = Dataset.from_dict({k: enc[k] for k in ("input_ids", "attention_mask", "labels")})
    return ds, DataCollatorForTokenClassification(s.tokenizer_)


def _last_hidden(s: Any, enc: Any, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(features, label ids) of every labelled position of `enc` (first subwords), from the encoder as it is."""
    import torch

    feats, ys = [], []
    with inference(s.model_, s.config.autocast) as device:
        for start in range(0, len(enc["input_ids"]), batch_size):
            part = {k: enc[k][start : start + batch_size] for k in ("input_ids", "attention_mask")}
            batch = s.tokenizer_.pad(part, return_tensors="pt")
            out = s.model_(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                           output_hidden_states=True)
            hidden = to_numpy(out.hidden_states[-1].float())
            for row, labels in enumerate(enc["labels"][start : start + batch_size]):
                keep = [i for i, y in enumerate(labels) if y != -100]
                feats.append(hidden[row, keep])
                ys.extend(labels[i] for i in keep)
    return np.concatenate(feats), np.asarray(ys)


def init_head_from_probe(s: Any, enc: Any) -> None:
    """Fit a logistic-regression probe on the frozen features of the training words and copy it into the
    token classifier (every copy of it: PEFT keeps a trainable one next to the original)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from polyglot_transfer.adapt.base import softmax_weights

    x, y = _last_hidden(s, enc)
    cap = getattr(s.config, "probe_tokens", 20000)
    if len(y) > cap:
        keep = np.random.default_rng(s.seed).choice(len(y), cap, replace=False)
        x, y = x[keep], y[keep]
    n = len(s.labels_)
    clf = LogisticRegression(max_iter=300, random_state=s.seed).fit(x, y)
    coef, intercept = softmax_weights(clf)
    weight = np.zeros((n, x.shape[1]), dtype=np.float32)
    bias = np.full(n, -10.0, dtype=np.float32)  # a tag the probe never saw starts (almost) impossible
    weight[clf.classes_], bias[clf.classes_] = coef, intercept
    heads = [m for name, m in s.model_.named_modules() if name.split(".")[-1] in ("classifier", "default")
             and isinstance(m, torch.nn.Linear) and m.out_features == n]
    if not heads:
        raise UnsupportedError(f"{s.name}: init_head='probe' found no token classifier with {n} outputs in "
                               f"{type(s.model_).__name__}; use init_head='random'.")
    with torch.no_grad():
        for head in heads:
            head.weight.copy_(torch.as_tensor(weight))
            head.bias.copy_(torch.as_tensor(bias))
    logger.info("%s: token classifier initialised from a probe on %d words (train accuracy %.3f)", s.name, len(y),
                clf.score(x, y))


def _predict(s: Any, sentences: list[list[str]] | TokenDataset, batch_size: int) -> list[np.ndarray]:
    """One (n_tokens, n_tags) array per sentence, in `labels_` order. Words cut by max_length get
    probability 1 on 'O' (uniform when there is no 'O' tag), with a warning."""
    import torch

    if isinstance(sentences, TokenDataset):
        sentences = sentences.tokens
    if sentences and isinstance(sentences[0], str):
        raise DataError(f"{s.name}.predict_proba takes a list of token lists (pre-split words), e.g. "
                        f"[['Ada', 'lives', 'in', 'Lagos']]; got a list of strings ({sentences[0]!r}).")
    n_tags = len(s.labels_)
    fallback = np.full(n_tags, 1.0 / n_tags, dtype=np.float32)
    if "O" in s.labels_:
        fallback = np.zeros(n_tags, dtype=np.float32)
        fallback[s.labels_.index("O")] = 1.0
    out = [np.tile(fallback, (len(x), 1)) for x in sentences]
    seen = [np.zeros(len(x), dtype=bool) for x in sentences]
    with inference(s.model_, s.config.autocast) as device:
        for start in range(0, len(sentences), batch_size):
            chunk = [list(x) for x in sentences[start : start + batch_size]]
            enc = encode(s, chunk)
            batch = s.tokenizer_.pad({k: enc[k] for k in ("input_ids", "attention_mask")}, return_tensors="pt")
            logits = s.model_(input_ids=batch["input_ids"].to(device),
                              attention_mask=batch["attention_mask"].to(device)).logits
            probs = to_numpy(torch.softmax(logits.float(), dim=-1))
            for row in range(len(chunk)):
                prev = None
                for pos, w in enumerate(enc.word_ids(row)):
                    if w is not None and w != prev:
                        out[start + row][w] = probs[row, pos]
                        seen[start + row][w] = True
                    prev = w
    cut = sum(int((~x).sum()) for x in seen)
    if cut:
        logger.warning("%s: %d words beyond max_length=%d were tagged with the fallback.", s.name, cut,
                       s.config.max_length)
    return out


TASKS["token_classification"] = Task({"encoder": "TOKEN_CLS"}, _build, _prepare, _save)
TASK_PREDICT["token_classification"] = _predict


@STRATEGIES.register("token_classification")
class TokenClassificationStrategy(TunedStrategy):
    """Per-word tags from an encoder's first subword; `fit(TokenDataset)`, `predict(list of token lists)`."""

    name = "token_classification"
    config_class = TokenClassificationConfig
    tasks = ("token_classification",)
    model_families = frozenset({"encoder"})

    def __init__(self, config: TokenClassificationConfig, model: str | Path, **kwargs: Any) -> None:
        if config.learning_rate is None:  # the method's own rate, written into the saved config
            config = dataclasses.replace(config, learning_rate=METHOD_LEARNING_RATES[config.method])
        super().__init__(config, model, **kwargs)

    @property
    def peft_method(self) -> str:
        return "none" if self.config.method in ("full", "head") else self.config.method

    def _train(self, model: Any, dataset: Any, collator: Any) -> None:
        """The engine's training, with `max_steps` raised to `min_steps` when the epochs give fewer steps."""
        c = self.config
        steps = math.ceil(len(dataset) / c.batch_size) * c.epochs
        if steps >= c.min_steps or "max_steps" in c.trainer_args:
            super()._train(model, dataset, collator)
            return
        logger.info("%s: %d sentences x %d epochs give %d steps; training %d steps (min_steps)", self.name,
                    len(dataset), c.epochs, steps, c.min_steps)
        self.config = dataclasses.replace(c, trainer_args={**c.trainer_args, "max_steps": c.min_steps})
        try:
            super()._train(model, dataset, collator)
        finally:
            self.config = c

    def evaluate(self, data: TokenDataset) -> dict[str, float]:
        """Entity-level micro precision / recall / F1 of the predictions on `data`."""
        return entity_scores(data.tags, self.predict(data.tokens))
