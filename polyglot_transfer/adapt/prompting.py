"""Zero- and few-shot prompting of a decoder for classification, scored by label log-likelihood.

The prompt is an instruction naming the labels, `k` demonstrations from the training data (chosen at
random, or the `k` most similar to the input by the Embedder), and the input. Each label is scored by
the log-probability the model gives its verbaliser as the continuation of the prompt; a softmax over
the scores gives `predict_proba`. Nothing is generated and nothing is trained: `fit` only stores the
demonstration pool.

With a chat template (instruct models), the instruction is the system turn and each demonstration a
user / assistant exchange; without one, a plain "Text: ... / Label: ..." prompt is used.
Demonstrations are chosen per input with an RNG seeded by (seed, input), so predictions do not depend
on batch order and survive save / load.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
from annotated_types import Ge

from polyglot_transfer.adapt.base import STRATEGIES, Autocast, AtLeastOne, Strategy, check_support, softmax
from polyglot_transfer.adapt.engine import inference, to_numpy
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

POOL_FILE = "demonstrations.json"


@typed
@dataclass
class PromptingConfig:
    k: Annotated[int, Ge(0)] = 0  # demonstrations per prompt (0: zero-shot)
    selection: Literal["random", "retrieval"] = "random"  # "retrieval": most similar by the Embedder
    instruction: str = "Classify the text. Answer with one of these labels: {labels}."
    template: str = "Text: {text}\nLabel:"
    verbalizers: dict[str, str] | None = None  # label -> word the model should produce (default: the label)
    chat_template: Literal["auto", "on", "off"] = "auto"  # "auto": when the tokenizer has one
    length_normalize: bool = False  # mean instead of sum of the verbaliser's token log-probs
    max_length: Annotated[int, Ge(16)] = 1024
    batch_size: AtLeastOne = 8
    autocast: Autocast = "none"  # scoring precision on CUDA

    def check(self, where: str) -> list[str]:
        if "{text}" not in self.template:
            return [f"{where}.template must contain '{{text}}'. Got {self.template!r} instead."]
        return []


@STRATEGIES.register("prompting")
class PromptingStrategy(Strategy):
    """In-context classification with a causal LM: label = argmax log p(verbaliser | prompt)."""

    name = "prompting"
    config_class = PromptingConfig
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    model_families: ClassVar[frozenset[str]] = frozenset({"decoder"})

    def fit(self, train: TextDataset) -> PromptingStrategy:
        """Store `train` as the demonstration pool (no training)."""
        labels = self._check_train(train)
        check_support(self, resolve_model(self.model))
        verbalizers = self.config.verbalizers or {}
        unknown = sorted(set(verbalizers) - set(labels))
        if unknown:
            raise ConfigError(f"prompting.verbalizers names labels {unknown} that are not in the training data "
                              f"(labels: {labels}).")
        if self.config.k > len(train):
            raise DataError(f"prompting.k is {self.config.k} but the training data holds only {len(train)} examples.")
        self.pool_ = [(e.text, e.label) for e in train]
        self.labels_ = labels
        return self

    # --- model -----------------------------------------------------------------------------------------
    def _load_model(self) -> None:
        if getattr(self, "model_", None) is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_model(self.model)
        check_support(self, path)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        self.model_ = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        self.model_.eval()
        has_template = bool(getattr(self.tokenizer_, "chat_template", None))
        if self.config.chat_template == "on" and not has_template:
            raise ConfigError(f"prompting.chat_template is 'on' but the tokenizer of {self.model} has no chat "
                              "template. Use 'auto' or 'off'.")
        self.use_chat_ = has_template and self.config.chat_template != "off"

    def trainable_parameters(self) -> tuple[int, int]:
        """(0, total): prompting trains nothing."""
        self._load_model()
        return 0, sum(p.numel() for p in self.model_.parameters())

    # --- prompts ---------------------------------------------------------------------------------------
    def verbalizer(self, label: str) -> str:
        return (self.config.verbalizers or {}).get(label, label)

    def _demonstrations(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        k = self.config.k
        if k == 0:
            return [[] for _ in texts]
        if self.config.selection == "random":
            out = []
            for text in texts:
                rng = random.Random(f"{self.seed}\x1f{text}")
                candidates = [d for d in self.pool_ if d[0] != text]
                out.append(rng.sample(candidates, min(k, len(candidates))))
            return out
        if self.embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            self.embedder = Embedder()
        pool_vecs = self.embedder.encode_passages([d[0] for d in self.pool_])
        sims = self.embedder.encode_queries(texts) @ pool_vecs.T
        out = []
        for row, text in zip(sims, texts):
            order = [i for i in np.argsort(-row, kind="stable") if self.pool_[i][0] != text][:k]
            out.append([self.pool_[i] for i in reversed(order)])  # most similar last, next to the input
        return out

    def build_prompt(self, text: str, demonstrations: list[tuple[str, str]]) -> str:
        """The prompt string whose continuation is scored (chat-formatted when the tokenizer has a template)."""
        self._load_model()
        labels = ", ".join(self.verbalizer(lbl) for lbl in self.labels_)
        instruction = self.config.instruction.format(labels=labels)
        if self.use_chat_:
            messages = [{"role": "system", "content": instruction}]
            for demo_text, demo_label in demonstrations:
                messages.append({"role": "user", "content": self.config.template.format(text=demo_text)})
                messages.append({"role": "assistant", "content": self.verbalizer(demo_label)})
            messages.append({"role": "user", "content": self.config.template.format(text=text)})
            return self.tokenizer_.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        parts = [instruction]
        for demo_text, demo_label in demonstrations:
            parts.append(self.config.template.format(text=demo_text) + " " + self.verbalizer(demo_label))
        parts.append(self.config.template.format(text=text))
        return "\n\n".join(parts)

    def _continuation(self, label: str) -> str:
        return self.verbalizer(label) if self.use_chat_ else " " + self.verbalizer(label)

    # --- scoring ---------------------------------------------------------------------------------------
    def label_scores(self, texts: list[str]) -> np.ndarray:
        """(n, n_labels) log-likelihood of each label's verbaliser after each text's prompt."""
        import torch

        self._require_fitted()
        self._load_model()
        tok = self.tokenizer_
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        conts = [tok(self._continuation(lbl), add_special_tokens=False)["input_ids"] for lbl in self.labels_]
        if any(len(c) == 0 for c in conts):
            raise ConfigError("prompting: a verbaliser tokenises to nothing; give every label a non-empty word.")
        pairs: list[tuple[list[int], list[int]]] = []
        truncated = 0
        for text, demos in zip(texts, self._demonstrations(list(texts))):
            prompt = tok(self.build_prompt(text, demos), add_special_tokens=not self.use_chat_)["input_ids"]
            for cont in conts:
                room = self.config.max_length - len(cont)
                if len(prompt) > room:
                    truncated += 1
                pairs.append((prompt[-room:], cont))
        if truncated:
            logger.warning("prompting: %d prompts longer than max_length=%d were cut from the left.", truncated,
                           self.config.max_length)
        scores = np.zeros(len(pairs), dtype=np.float64)
        with inference(self.model_, self.config.autocast) as device:
            for start in range(0, len(pairs), self.config.batch_size):
                chunk = pairs[start : start + self.config.batch_size]
                # Left padding puts every continuation at the end of its row, so only the last `keep`
                # positions need logits (a 250k-word vocabulary makes full logits the dominant cost).
                width = max(len(p) + len(c) for p, c in chunk)
                keep = max(len(c) for _, c in chunk) + 1
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, (p, c) in enumerate(chunk):
                    seq = p + c
                    ids[row, width - len(seq):] = torch.tensor(seq)
                    mask[row, width - len(seq):] = 1
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = self._tail_logits(ids.to(device), mask.to(device), positions.to(device), keep).float()
                log_probs = to_numpy(torch.log_softmax(logits, dim=-1))
                for row, (_, c) in enumerate(chunk):
                    token_lp = log_probs[row, np.arange(keep - len(c) - 1, keep - 1), c]
                    total = float(token_lp.sum())
                    scores[start + row] = total / len(c) if self.config.length_normalize else total
        return scores.reshape(len(texts), len(self.labels_))

    def _tail_logits(self, ids, mask, positions, keep: int):
        """Logits of the last `keep` positions (all positions for models without `logits_to_keep`)."""
        try:
            out = self.model_(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep)
        except TypeError:
            out = self.model_(input_ids=ids, attention_mask=mask, position_ids=positions)
        return out.logits[:, -keep:]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.label_scores(list(texts))).astype(np.float32)

    # --- persistence -----------------------------------------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        atomic_write_json(folder / POOL_FILE, [{"text": t, "label": lbl} for t, lbl in self.pool_])

    def _load_weights(self, folder: Path) -> None:
        self.pool_ = [(row["text"], row["label"]) for row in json.loads((folder / POOL_FILE).read_text())]
