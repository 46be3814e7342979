"""LoRA fine-tuning of an encoder through PEFT, trained with the transformers Trainer."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polyglot_transfer.adapt.base import STRATEGIES, Strategy, training_arguments
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError
from polyglot_transfer.models.provision import resolve_model

logger = logging.getLogger(__name__)


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"])
    epochs: float = 5.0
    learning_rate: float = 1e-3
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    init_head: str = "probe"  # "probe": start from a linear probe on frozen features (LP-FT); "zeros"
    trainer_args: dict = field(default_factory=dict)  # passed to TrainingArguments (deepspeed, fsdp, report_to...)


def read_prompts(model_path: Path) -> dict[str, str]:
    """The sentence-transformers prompts stored with a model folder (e.g. e5's "query: "), if any."""
    p = model_path / "config_sentence_transformers.json"
    return dict(json.loads(p.read_text()).get("prompts") or {}) if p.is_file() else {}


@STRATEGIES.register("lora")
class LoraStrategy(Strategy):
    """LoRA adapters on the encoder's attention + a trained linear head on mean-pooled states."""

    name = "lora"
    config_class = LoraConfig
    tasks = frozenset({"classification"})
    model_families = frozenset({"encoder"})

    # -- model: base encoder -> _wrap (LoRA here; full / peft override) -> EncoderClassifier -----------
    def _load_base(self, path: Path):
        from transformers import AutoModel

        extra = {"add_pooling_layer": False} if _is_bert(path) else {}  # mean pooling: no unused pooler
        return AutoModel.from_pretrained(str(path), **extra)

    def _wrap(self, base):
        """The encoder the classifier trains: LoRA adapters on the base's attention."""
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model

        return get_peft_model(base, PeftLoraConfig(
            r=self.config.r, lora_alpha=self.config.alpha, lora_dropout=self.config.dropout,
            target_modules=list(self.config.target_modules), bias="none",
        ))

    def _build(self, num_labels: int):
        import torch
        from transformers import AutoTokenizer

        from polyglot_transfer.adapt.encoder_classifier import EncoderClassifier
        from polyglot_transfer.adapt.full import check_support

        path = resolve_model(self.model)
        check_support(self, path)
        torch.manual_seed(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        self.prompt_ = read_prompts(path).get("query", "")
        base = self._load_base(path)
        model = EncoderClassifier(self._wrap(base), base.config.hidden_size, num_labels)
        model.head.to(next(base.parameters()).device)  # a quantised base is placed on its GPU when loaded
        return model

    def _tokenize(self, texts: list[str]) -> dict:
        return self.tokenizer_([self.prompt_ + t for t in texts], truncation=True, max_length=self.config.max_length)

    def fit(self, train: TextDataset) -> LoraStrategy:
        from datasets import Dataset
        from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

        labels = self._check_train(train)
        self.model_ = self._build(len(labels))
        enc = self._tokenize(train.texts)
        y = [labels.index(lbl) for lbl in train.labels]
        if self.config.init_head == "probe":
            self._init_head_from_probe(enc, y)
        elif self.config.init_head != "zeros":
            raise ConfigError(f"lora.init_head must be 'probe' or 'zeros'. Got {self.config.init_head!r} instead.")
        ds = Dataset.from_dict({**enc, "labels": y})
        checkpoints = getattr(self, "checkpoint_dir", None)  # set by the runner: resume interrupted training
        with contextlib.ExitStack() as stack:
            out = checkpoints or stack.enter_context(tempfile.TemporaryDirectory(prefix="pgt-lora-"))
            args = training_arguments(
                out, epochs=self.config.epochs, lr=self.config.learning_rate, batch_size=self.config.batch_size,
                seed=self.seed, checkpoint=bool(checkpoints), trainer_args=self.config.trainer_args,
                where="lora.trainer_args", weight_decay=self.config.weight_decay,
                warmup_steps=self.config.warmup_ratio,  # a float < 1 is a ratio of the total steps
                lr_scheduler_type="linear",
            )
            trainer = Trainer(
                model=self.model_, args=args, train_dataset=ds,
                data_collator=DataCollatorWithPadding(self.tokenizer_),
            )
            trainer.remove_callback(PrinterCallback)  # losses go to our logger, not stdout
            resume = bool(checkpoints) and any(Path(checkpoints).glob("checkpoint-*"))
            if resume:
                logger.info("lora: resuming interrupted training from %s", checkpoints)
            result = trainer.train(resume_from_checkpoint=True if resume else None)
            self.train_loss_ = [h["loss"] for h in trainer.state.log_history if "loss" in h]
            logger.info("lora: trained %d steps; loss per epoch %s", result.global_step,
                        ", ".join(f"{x:.3f}" for x in self.train_loss_))
        self.model_.eval()
        self.labels_ = labels
        return self

    def _pooled(self, enc: dict, batch_size: int = 64):
        import torch

        self.model_.eval()
        feats = []
        with torch.inference_mode():
            for start in range(0, len(enc["input_ids"]), batch_size):
                chunk = {k: v[start : start + batch_size] for k, v in enc.items()}
                batch = self.tokenizer_.pad(chunk, return_tensors="pt")
                feats.append(self.model_.pool(batch["input_ids"], batch["attention_mask"]))
        return torch.cat(feats).numpy()

    def _init_head_from_probe(self, enc: dict, y: list[int]) -> None:
        """Linear probe, then fine-tune (Kumar et al., 2022): the head starts where `head` ends."""
        import torch
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(max_iter=2000, random_state=self.seed).fit(self._pooled(enc), y)
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        with torch.no_grad():
            self.model_.head.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
            self.model_.head.bias.copy_(torch.as_tensor(intercept, dtype=torch.float32))

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameter counts of the fitted model."""
        params = list(self.model_.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        self._require_fitted()
        self.model_.eval()
        out = []
        texts = list(texts)
        order = np.argsort([len(t) for t in texts])  # length-sorted batches pad less
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer_([self.prompt_ + texts[i] for i in idx], truncation=True,
                                        max_length=self.config.max_length, padding=True, return_tensors="pt")
                logits = self.model_(batch["input_ids"], batch["attention_mask"])["logits"]
                out.append((idx, torch.softmax(logits.float(), dim=-1).numpy()))
        probs = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
        for idx, p in out:
            probs[idx] = p
        return probs

    def _save_weights(self, folder: Path) -> None:
        from safetensors.torch import save_file

        self.model_.encoder.save_pretrained(str(folder / "adapter"), safe_serialization=True)
        save_file({k: v.contiguous() for k, v in self.model_.head.state_dict().items()}, str(folder / "head.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights
        from safetensors.torch import load_file

        self.model_ = self._build(len(self.labels_))
        set_peft_model_state_dict(self.model_.encoder, load_peft_weights(str(folder / "adapter"), device="cpu"))
        self.model_.head.load_state_dict(load_file(str(folder / "head.safetensors")))
        self.model_.eval()


def _is_bert(path: Path) -> bool:
    cfg = path / "config.json"
    return cfg.is_file() and json.loads(cfg.read_text()).get("model_type") == "bert"
