"""MAD-X-style language adapters with PEFT LoRA: one adapter per language, one task adapter, stacked at inference.

1. Language adapters: for each language with unlabelled text, a LoRA adapter named ``lang_<code>``
   (``lang_yor_Latn``) is trained alone on that text, the base model frozen. The objective is masked LM
   when the checkpoint has an MLM head, else SimCSE (Gao et al., 2021): each sentence goes through the
   model twice with different dropout masks and the two mean-pooled embeddings must find each other
   among the batch (InfoNCE over in-batch negatives). SimCSE needs no head, so it works for e5.
2. Task adapter: a LoRA adapter named ``task`` plus a linear head is trained on the labelled source data
   with the source language adapter active and frozen (or none, when there is none).
3. Inference: ``predict_proba(texts, lang=...)`` activates ``lang_<lang>`` + ``task``.

How the adapters are stacked: both are active at once (``LoraModel.set_adapter([lang, "task"])``), so each
adapted linear layer computes ``W x + B_lang A_lang x + B_task A_task x``. That is exactly what MAD-X
stacking means for LoRA, whose deltas are additive on the same weights (unlike bottleneck adapters,
which compose sequentially). ``add_weighted_adapter`` would materialise a merged copy per language
(and with SVD only approximately), so swapping languages would cost a merge each time; activating
both adapters swaps in O(1) and is exact.

Saved layout: ``adapters/<name>/`` is one PEFT folder per adapter (adapter_config.json +
adapter_model.safetensors), ``head.safetensors`` the task head, ``language_adapters.json`` the list.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from polyglot_transfer.adapt.base import (
    STRATEGIES, Autocast, AtLeastOne, Epochs, Length, LoraFields, Positive, Probability, Strategy, check_support,
    train_model,
)
from polyglot_transfer.adapt.continued_pretraining import has_mlm_head, read_unlabelled
from polyglot_transfer.adapt.engine import classify, load_pretrained, peft_config, read_prompts
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, LanguageError, did_you_mean
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

TASK_ADAPTER = "task"
META_FILE = "language_adapters.json"


def adapter_name(lang: str) -> str:
    """The PEFT adapter name of a language: 'yo' -> 'lang_yor_Latn'."""
    return "lang_" + resolve_language(lang).code


@typed
@dataclass
class LanguageAdapterConfig(LoraFields):
    unlabelled: dict[str, list[str] | str] | None = None  # {lang: [texts] or path to .txt/.jsonl}
    objective: Literal["auto", "mlm", "simcse"] = "auto"  # "auto": mlm if the checkpoint has an MLM head
    source_lang: str | None = None  # language adapter active while training the task adapter (default: train's)
    lang_epochs: Epochs = 1
    lang_lr: Positive = 1e-3
    mlm_probability: Probability = 0.15
    temperature: Positive = 0.05  # SimCSE softmax temperature
    epochs: Epochs = 5  # task adapter
    learning_rate: Positive = 1e-3
    batch_size: AtLeastOne = 16
    max_length: Length = 64
    autocast: Autocast = "none"  # inference precision on CUDA


class _Backbone(nn.Module):
    """Last hidden states of the PEFT-wrapped model, through its bare encoder (no LM head)."""

    def __init__(self, peft_model: nn.Module) -> None:
        super().__init__()
        self.peft = peft_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        model = self.peft.get_base_model()
        encoder = model.base_model if model.base_model is not model else model
        return encoder(input_ids=input_ids, attention_mask=attention_mask)


class _SimCSE(nn.Module):
    """Unsupervised SimCSE loss over a classifier's pooling: two dropout views, in-batch negatives."""

    def __init__(self, classifier: nn.Module, temperature: float) -> None:
        super().__init__()
        self.classifier = classifier
        self.temperature = temperature

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.classifier.pool(input_ids, attention_mask)
        b = self.classifier.pool(input_ids, attention_mask)
        sim = a @ b.T / self.temperature
        return {"loss": nn.functional.cross_entropy(sim, torch.arange(len(a), device=a.device))}


def _only_trainable(model: nn.Module, adapters: list[str], extra: tuple[str, ...] = ()) -> None:
    """requires_grad only on the LoRA weights of `adapters` and on parameters whose name starts with `extra`."""
    for name, p in model.named_parameters():
        p.requires_grad = any(f".{a}." in name for a in adapters) or name.startswith(extra)


@STRATEGIES.register("language_adapter")
class LanguageAdapterStrategy(Strategy):
    """Per-language LoRA adapters (MLM or SimCSE on unlabelled text) + a task LoRA adapter, stacked."""

    name = "language_adapter"
    config_class = LanguageAdapterConfig
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    model_families: ClassVar[frozenset[str]] = frozenset({"encoder"})

    # --- model -----------------------------------------------------------------------------------------
    def _objective(self, path: Path) -> str:
        head = has_mlm_head(path)
        if self.config.objective == "mlm" and not head:
            raise ConfigError(f"language_adapter.objective 'mlm' needs a checkpoint with a masked-LM head; "
                              f"{self.model} has none. Use 'simcse' or 'auto'.")
        if self.config.objective == "auto":
            return "mlm" if head else "simcse"
        return self.config.objective

    def _lora_config(self):
        return peft_config("lora", None, self.config)

    def _base(self, num_labels: int) -> None:
        from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

        path = resolve_model(self.model)
        check_support(self, path)
        torch.manual_seed(self.seed)
        self.objective_ = self._objective(path)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        self.prompt_ = read_prompts(path).get("query", "")
        base = load_pretrained(AutoModelForMaskedLM if self.objective_ == "mlm" else AutoModel, path, "none")
        self._base_model = base
        self._num_labels = num_labels
        self.peft_ = None
        self.classifier_ = None

    def _add_adapter(self, name: str) -> None:
        from peft import get_peft_model

        from polyglot_transfer.adapt.encoder_classifier import EncoderClassifier

        if self.peft_ is None:
            self.peft_ = get_peft_model(self._base_model, self._lora_config(), adapter_name=name)
            self.classifier_ = EncoderClassifier(_Backbone(self.peft_), self._base_model.config.hidden_size,
                                                 self._num_labels)
        else:
            self.peft_.add_adapter(name, self._lora_config())

    def _activate(self, adapters: list[str]) -> None:
        self.peft_.base_model.set_adapter(adapters)

    def _tokenize(self, texts: list[str]) -> dict:
        enc = self.tokenizer_([self.prompt_ + t for t in texts], truncation=True, max_length=self.config.max_length)
        return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    # --- training --------------------------------------------------------------------------------------
    def _unlabelled(self, unlabelled: dict[str, Any] | None, train: TextDataset) -> dict[str, list[str]]:
        source = unlabelled if unlabelled is not None else self.config.unlabelled
        if source is None:
            logger.warning("language_adapter: no unlabelled text given (config `unlabelled` or "
                           "fit(unlabelled={lang: texts})); training language adapters for the training "
                           "languages on the training texts only, so no target-language adapter exists.")
            return {lang: ds.texts for lang, ds in train.by_language().items()}
        out: dict[str, list[str]] = {}
        for lang, value in source.items():
            where = f"language_adapter unlabelled[{lang!r}]"
            texts = read_unlabelled(None, str(value), where) if isinstance(value, str) else \
                read_unlabelled(list(value), None, where)
            out[resolve_language(lang).code] = texts
        return out

    def _train_language(self, name: str, texts: list[str]) -> list[float]:
        from datasets import Dataset
        from transformers import DataCollatorForLanguageModeling, DataCollatorWithPadding

        self._activate([name])
        _only_trainable(self.classifier_, [name])  # this language's LoRA weights only (not the head)
        ds = Dataset.from_dict(self._tokenize(texts))
        if self.objective_ == "mlm":
            model = self.peft_
            collator = DataCollatorForLanguageModeling(self.tokenizer_, mlm=True,
                                                       mlm_probability=self.config.mlm_probability)
        else:
            if len(texts) < 2:
                raise DataError(f"language_adapter: SimCSE needs at least 2 texts for {name}; got {len(texts)}.")
            model = _SimCSE(self.classifier_, self.config.temperature)
            collator = DataCollatorWithPadding(self.tokenizer_)
        return train_model(f"language adapter {name}", model, ds, collator, epochs=self.config.lang_epochs,
                           lr=self.config.lang_lr, batch_size=self.config.batch_size, seed=self.seed)[1]

    def fit(self, train: TextDataset, *, unlabelled: dict[str, Any] | None = None) -> LanguageAdapterStrategy:
        """Train one language adapter per language of `unlabelled` ({lang: texts or path}; else config
        `unlabelled`, else the training texts per language), then the task adapter on `train`."""
        from datasets import Dataset
        from transformers import DataCollatorWithPadding

        labels = self._check_train(train)
        corpora = self._unlabelled(unlabelled, train)
        source = self.config.source_lang
        if source is None:
            langs = train.languages
            source = langs[0] if len(langs) == 1 and langs[0] in corpora else None
        else:
            source = resolve_language(source).code
            if source not in corpora:
                raise ConfigError(f"language_adapter.source_lang {source!r} has no unlabelled text, so no adapter; "
                                  f"languages with text: {', '.join(sorted(corpora))}.")
        self._base(len(labels))
        self.language_loss_: dict[str, list[float]] = {}
        for lang in sorted(corpora):
            name = adapter_name(lang)
            self._add_adapter(name)
            self.language_loss_[lang] = self._train_language(name, corpora[lang])
            logger.info("language_adapter: %s trained (%s), losses %s", name, self.objective_,
                        self.language_loss_[lang])
        self.languages_ = sorted(corpora)
        self.source_lang_ = source
        self._add_adapter(TASK_ADAPTER)
        self._activate(self._stack(source))
        _only_trainable(self.classifier_, [TASK_ADAPTER], extra=("head.",))
        params = list(self.classifier_.parameters())
        self.trainable_ = (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
        enc = self._tokenize(train.texts)
        ds = Dataset.from_dict({**enc, "labels": [labels.index(lbl) for lbl in train.labels]})
        _, self.train_loss_ = train_model(
            "task adapter", self.classifier_, ds, DataCollatorWithPadding(self.tokenizer_), epochs=self.config.epochs,
            lr=self.config.learning_rate, batch_size=self.config.batch_size, seed=self.seed, warmup_steps=0.1,
            lr_scheduler_type="linear")
        self.classifier_.eval()
        self.labels_ = labels
        return self

    # --- inference -------------------------------------------------------------------------------------
    @property
    def languages(self) -> list[str]:
        """Languages (canonical codes) that have a language adapter."""
        self._require_fitted()
        return list(self.languages_)

    def _stack(self, lang: str | None) -> list[str]:
        return ([adapter_name(lang)] if lang is not None else []) + [TASK_ADAPTER]

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameters while training the task stage: task LoRA + head."""
        return self.trainable_

    def predict_proba(self, texts: list[str], batch_size: int = 64, *, lang: str | None = None) -> np.ndarray:
        """Class probabilities with `lang`'s language adapter + the task adapter (None: the source setup)."""
        self._require_fitted()
        code = self.source_lang_
        if lang is not None:
            code = resolve_language(lang).code
            if code not in self.languages_:
                raise LanguageError(
                    f"language_adapter has no adapter for {code!r}.{did_you_mean(code, self.languages_)} Fitted "
                    f"languages: {', '.join(self.languages_) or '(none)'}. Pass its unlabelled text to "
                    f"fit(..., unlabelled={{{code!r}: texts}}), or predict with lang=None for the source setup."
                )
        self._activate(self._stack(code))
        return classify(self, self.classifier_, texts, batch_size)

    # --- persistence -----------------------------------------------------------------------------------
    def _adapter_names(self) -> list[str]:
        return [adapter_name(lang) for lang in self.languages_] + [TASK_ADAPTER]

    def _save_weights(self, folder: Path) -> None:
        from safetensors.torch import save_file

        names = self._adapter_names()
        self.peft_.save_pretrained(str(folder / "adapters"), selected_adapters=names, safe_serialization=True)
        save_file({k: v.contiguous() for k, v in self.classifier_.head.state_dict().items()},
                  str(folder / "head.safetensors"))
        atomic_write_json(folder / META_FILE, {"languages": self.languages_, "source_lang": self.source_lang_,
                                               "objective": self.objective_, "adapters": names})

    def _load_weights(self, folder: Path) -> None:
        from peft import PeftModel
        from safetensors.torch import load_file

        from polyglot_transfer.adapt.encoder_classifier import EncoderClassifier

        meta = json.loads((folder / META_FILE).read_text())
        self._base(len(self.labels_))
        names = meta["adapters"]
        self.peft_ = PeftModel.from_pretrained(self._base_model, str(folder / "adapters" / names[0]),
                                               adapter_name=names[0])
        for name in names[1:]:
            self.peft_.load_adapter(str(folder / "adapters" / name), adapter_name=name)
        self.classifier_ = EncoderClassifier(_Backbone(self.peft_), self._base_model.config.hidden_size,
                                             len(self.labels_))
        self.classifier_.head.load_state_dict(load_file(str(folder / "head.safetensors")))
        self.languages_ = list(meta["languages"])
        self.source_lang_ = meta["source_lang"]
        self.classifier_.eval()
