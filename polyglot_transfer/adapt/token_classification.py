"""Token classification (NER) on CoNLL data: an encoder with a token head, LoRA or full fine-tuning.

This module adds the ``token_classification`` task to the engine (:data:`~polyglot_transfer.adapt.engine.TASKS`):
any engine strategy that lists it (`lora`, `full`, `peft`, and the `token_classification` declaration
here) trains a token head when given a TokenDataset. Words are split into subwords by the model's (fast)
tokenizer; each word's label sits on its first subword and every other position gets -100, so the loss
and the predictions are per word. Scores are entity-level (seqeval's default, lenient mode: a span
starts at B-/S-, or at I-/E- after O or another type) micro precision / recall / F1 (`entity_f1`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from polyglot_transfer.adapt.base import STRATEGIES, Length, LoraFields, TrainerFields
from polyglot_transfer.adapt.engine import (
    TASK_PREDICT, TASKS, Task, TunedStrategy, inference, pretrained_model, save_pretrained_model, to_numpy,
)
from polyglot_transfer.data.conll import TokenDataset
from polyglot_transfer.errors import DataError, UnsupportedError
from polyglot_transfer.typed_config import typed

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


@typed
@dataclass
class TokenClassificationConfig(TrainerFields, LoraFields):
    # "lora" (adapters + trained token head), "full", or "head" (frozen encoder + token head)
    method: Literal["lora", "full", "head"] = "lora"
    max_length: Length = 128


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
    return pretrained_model(s, AutoModelForTokenClassification, path, folder, **kwargs)


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
    ds = Dataset.from_dict({k: enc[k] for k in ("input_ids", "attention_mask", "labels")})
    return ds, DataCollatorForTokenClassification(s.tokenizer_)


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

    @property
    def peft_method(self) -> str:
        return "none" if self.config.method in ("full", "head") else self.config.method

    def evaluate(self, data: TokenDataset) -> dict[str, float]:
        """Entity-level micro precision / recall / F1 of the predictions on `data`."""
        return entity_f1(data.tags, self.predict(data.tokens))
