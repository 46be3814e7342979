"""Full fine-tuning: every weight of the encoder and a linear head trained with the transformers Trainer.

The model is the same :class:`EncoderClassifier` the `lora` strategy trains (mean pooling + linear
head), so this class reuses LoraStrategy's tokenising, pooling, LP-FT head initialisation and
prediction code, and replaces what differs: no adapters, and the forgetting mitigations of
:mod:`polyglot_transfer.adapt.forgetting` (``replay``, ``ewc``, ``l2sp``).

With ``init_head="probe"`` (the default) the head starts from a linear probe on the frozen features
(LP-FT, Kumar et al. 2022), which matters here: the encoder learning rate is small (3e-5), so a
zero-initialised head would hardly move in a few epochs.

Also home of :func:`model_family` / :func:`check_support`, the check every strategy in this package
runs before it loads weights, so that an unsupported model family fails with a clear message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyglot_transfer.adapt.base import STRATEGIES
from polyglot_transfer.adapt.forgetting import REGULARIZERS, load_replay_source, make_penalty, mix_replay
from polyglot_transfer.adapt.lora import LoraStrategy
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError, did_you_mean
from polyglot_transfer.models.provision import resolve_model

logger = logging.getLogger(__name__)

__all__ = ["FullConfig", "FullStrategy", "check_support", "model_family"]

_DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi", "phi3", "gpt2",
                  "gpt_neox", "falcon", "olmo", "smollm3", "mixtral"}


def model_family(path: str | Path) -> str:
    """'encoder', 'decoder' or 'encoder-decoder', read from the model folder's config.json."""
    cfg_path = Path(path) / "config.json"
    if not cfg_path.is_file():
        return "encoder"  # a sentence-transformers folder without a transformers config: an embedder
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("is_encoder_decoder"):
        return "encoder-decoder"
    archs = cfg.get("architectures") or []
    if cfg.get("model_type") in _DECODER_TYPES or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "decoder"
    return "encoder"


def check_support(strategy: Any, path: str | Path, task: str = "classification") -> str:
    """Raise UnsupportedError unless `strategy` declares `task` and the family of the model at `path`."""
    family = model_family(path)
    tasks = set(getattr(strategy, "tasks", {"classification"}))
    families = set(getattr(strategy, "model_families", {"encoder"}))
    if task not in tasks or family not in families:
        raise UnsupportedError(
            f"Strategy {strategy.name!r} supports task(s) {sorted(tasks)} with {sorted(families)} models; it was "
            f"asked for task {task!r} with a {family} model ({path}). Use an encoder model (for example "
            "intfloat/multilingual-e5-small) or a strategy that supports this combination (`pgt ls strategies`)."
        )
    return family


@dataclass
class FullConfig:
    epochs: float = 3.0
    learning_rate: float = 3e-5
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    optim: str = "adamw_torch"  # any transformers optimizer name ("sgd", "adafactor", ...)
    init_head: str = "probe"  # "probe": LP-FT (head starts from a linear probe); "zeros"
    regularizer: str = "none"  # "none" | "ewc" | "l2sp": keeps weights near the pre-trained ones
    reg_lambda: float = 1.0  # strength of the ewc / l2sp penalty
    ewc_samples: int = 200  # examples used to estimate the EWC Fisher information
    replay: float = 0.0  # share of source-language examples mixed into training, in [0, 1)
    replay_data: str | None = None  # a labelled table of source examples (or fit(..., source=...))
    trainer_args: dict = field(default_factory=dict)  # passed to TrainingArguments (deepspeed, fsdp, report_to...)


@STRATEGIES.register("full")
class FullStrategy(LoraStrategy):
    """Full fine-tuning of the encoder + linear head (LP-FT option, replay / EWC / L2-SP mitigations)."""

    name = "full"
    config_class = FullConfig
    tasks = frozenset({"classification"})
    model_families = frozenset({"encoder"})

    # -- config ----------------------------------------------------------------------------------
    def _validate(self) -> None:
        c = self.config
        problems = []
        if c.init_head not in ("probe", "zeros"):
            problems.append(f"{self.name}.init_head must be 'probe' or 'zeros'. Got {c.init_head!r} instead.")
        if c.regularizer not in REGULARIZERS:
            problems.append(f"{self.name}.regularizer must be one of {', '.join(REGULARIZERS)}. Got "
                            f"{c.regularizer!r} instead.{did_you_mean(str(c.regularizer), REGULARIZERS)}")
        if c.regularizer == "ewc" and c.init_head != "probe":
            problems.append(f"{self.name}.regularizer='ewc' needs init_head='probe': with a zero-initialised head the "
                            "Fisher information of every encoder weight is zero, so EWC would do nothing.")
        ranges = {  # key: (low, high, low_inclusive, integer)
            "epochs": (0.0, None, False, False), "learning_rate": (0.0, None, False, False),
            "reg_lambda": (0.0, None, True, False), "replay": (0.0, 1.0, True, False),
            "weight_decay": (0.0, None, True, False), "warmup_ratio": (0.0, 1.0, True, False),
            "batch_size": (1, None, True, True), "max_length": (1, None, True, True), "ewc_samples": (1, None, True, True),
        }
        for key, (low, high, inclusive, integer) in ranges.items():
            value = getattr(c, key, None)
            kind = "an int" if integer else "a number"
            bounds = f"{'>=' if inclusive else '>'} {low}" + (f" and < {high}" if high is not None else "")
            bad_type = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
            if bad_type or (value < low if inclusive else value <= low) or (high is not None and value >= high):
                problems.append(f"{self.name}.{key} must be {kind} {bounds}. Got {value!r} instead.")
        if problems:
            raise ConfigError("\n".join(problems))

    # -- model -----------------------------------------------------------------------------------
    def _wrap(self, base):
        """The encoder the classifier trains: here the whole base model (PEFT subclasses add adapters)."""
        return base

    def _device(self):
        return next(self.model_.parameters()).device

    # -- training --------------------------------------------------------------------------------
    def _training_set(self, train: TextDataset, source: TextDataset | None) -> tuple[TextDataset, TextDataset | None]:
        if source is None and self.config.replay_data:
            source = load_replay_source(self.config.replay_data)
        if self.config.replay > 0:
            if source is None:
                raise ConfigError(
                    f"{self.name}.replay={self.config.replay} needs source-language examples: pass "
                    f"fit(train, source=...) or set {self.name}.replay_data to a labelled table."
                )
            train = mix_replay(train, source, self.config.replay, seed=self.seed)
        return train, source

    def _fisher_examples(self, data: TextDataset, labels: list[str]):
        """Per-example model inputs for the EWC Fisher estimate (at most `ewc_samples`)."""
        import torch

        unknown = sorted({e.label for e in data} - set(labels))
        if unknown:
            raise DataError(f"EWC data {data.name!r} has labels {unknown} the classifier does not know ({labels}).")
        n = min(len(data), self.config.ewc_samples)
        texts, ys = data.texts[:n], [labels.index(lbl) for lbl in data.labels[:n]]
        device = self._device()

        def examples():
            for text, y in zip(texts, ys):
                enc = self.tokenizer_([self.prompt_ + text], truncation=True, max_length=self.config.max_length,
                                      return_tensors="pt")
                yield {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device),
                       "labels": torch.tensor([y], device=device)}

        return examples

    def _training_arguments(self, output_dir: str, *, checkpoint: bool = False):
        from polyglot_transfer.adapt.base import training_arguments

        return training_arguments(
            output_dir, epochs=self.config.epochs, lr=self.config.learning_rate, batch_size=self.config.batch_size,
            seed=self.seed, checkpoint=checkpoint, trainer_args=getattr(self.config, "trainer_args", None),
            where=f"{self.name}.trainer_args", weight_decay=self.config.weight_decay,
            warmup_steps=self.config.warmup_ratio,  # a float < 1 is a ratio of the total steps
            lr_scheduler_type="linear", optim=self.config.optim,
        )

    def fit(self, train: TextDataset, *, source: TextDataset | None = None) -> FullStrategy:
        """Fine-tune on `train`; `source` (labelled source-language data) feeds ``replay`` and the EWC Fisher."""
        from datasets import Dataset
        from transformers import DataCollatorWithPadding, PrinterCallback

        from polyglot_transfer.adapt.forgetting import RegularizedTrainer

        self._validate()
        self._check_train(train)
        check_support(self, resolve_model(self.model))
        mixed, source = self._training_set(train, source)
        labels = self._check_train(mixed)
        self.model_ = self._build(len(labels))
        enc = self._tokenize(mixed.texts)
        y = [labels.index(lbl) for lbl in mixed.labels]
        if self.config.init_head == "probe":
            self._init_head_from_probe(enc, y)
        fisher_data = source if source is not None else train
        if self.config.regularizer == "ewc":
            logger.info("%s: EWC Fisher information from %s (%d examples max)", self.name, fisher_data.name,
                        self.config.ewc_samples)
        penalty = make_penalty(self.config.regularizer, self.model_, self.config.reg_lambda,
                               fisher_examples=self._fisher_examples(fisher_data, labels))
        ds = Dataset.from_dict({**enc, "labels": y})
        checkpoints = getattr(self, "checkpoint_dir", None)  # set by the runner: resume interrupted training
        with contextlib.ExitStack() as stack:
            out = str(checkpoints) if checkpoints else stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"pgt-{self.name}-"))
            trainer = RegularizedTrainer(
                model=self.model_, args=self._training_arguments(out, checkpoint=bool(checkpoints)),
                train_dataset=ds, data_collator=DataCollatorWithPadding(self.tokenizer_), penalty=penalty,
            )
            trainer.remove_callback(PrinterCallback)  # losses go to our logger, not stdout
            resume = bool(checkpoints) and any(Path(checkpoints).glob("checkpoint-*"))
            if resume:
                logger.info("%s: resuming interrupted training from %s", self.name, checkpoints)
            result = trainer.train(resume_from_checkpoint=True if resume else None)
        self.train_loss_ = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        self.penalty_log_ = list(trainer.penalty_log_)  # the penalty at each training step (ewc / l2sp)
        self.n_train_ = len(mixed)
        logger.info("%s: trained %d steps on %d examples, final loss %.4f", self.name, result.global_step,
                    len(mixed), result.training_loss)
        self.model_.eval()
        self.labels_ = labels
        return self

    # -- inference (device-aware versions of LoraStrategy's) --------------------------------------
    def _pooled(self, enc: dict, batch_size: int = 64) -> np.ndarray:
        import torch

        self.model_.eval()
        device = self._device()
        feats = []
        with torch.inference_mode():
            for start in range(0, len(enc["input_ids"]), batch_size):
                chunk = {k: v[start : start + batch_size] for k, v in enc.items()}
                batch = self.tokenizer_.pad(chunk, return_tensors="pt")
                feats.append(self.model_.pool(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                             .float().cpu())
        return torch.cat(feats).numpy()

    def features(self, texts: list[str]) -> np.ndarray:
        """The pooled (normalised) sentence vectors the head classifies."""
        self._require_fitted()
        return self._pooled(self._tokenize(list(texts)))

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        self._require_fitted()
        self.model_.eval()
        device = self._device()
        texts = list(texts)
        probs = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # length-sorted batches pad less
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer_([self.prompt_ + texts[i] for i in idx], truncation=True,
                                        max_length=self.config.max_length, padding=True, return_tensors="pt")
                logits = self.model_(batch["input_ids"].to(device), batch["attention_mask"].to(device))["logits"]
                probs[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probs

    # -- persistence -----------------------------------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        from safetensors.torch import save_model

        save_model(self.model_, str(folder / "model.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from safetensors.torch import load_model

        self.model_ = self._build(len(self.labels_))
        load_model(self.model_, str(folder / "model.safetensors"), device=str(self._device()))
        self.model_.eval()
