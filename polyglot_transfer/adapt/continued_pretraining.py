"""Continued pretraining (DAPT/TAPT) on unlabelled target text, then a task stage on the adapted encoder.

Stage 1 trains the whole model with its own pretraining objective on unlabelled text: masked LM
(`AutoModelForMaskedLM` + `DataCollatorForLanguageModeling`) for encoders, causal LM for decoders,
through the transformers `Trainer` (so accelerate / torchrun work unchanged). The adapted encoder is
written as a model folder (safetensors, tokenizer, sentence-transformers modules). Stage 2 fits an
ordinary `head` or `lora` strategy on the labelled source data on top of that folder.

Encoders saved without an MLM head (e5 and most sentence embedders) get a freshly initialised head,
with a warning: its first steps teach the head, not the encoder, so give such models more epochs.

This module also holds the helpers the other "adapt the encoder, then train a task" strategies share
(`has_mlm_head`, `read_unlabelled`, `train_language_model`, `AdaptedEncoderStrategy`); config checks and
the TrainingArguments builder every strategy uses are in `base.py`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from polyglot_transfer.adapt.base import (
    STRATEGIES, AtLeastOne, Epochs, Length, Positive, Probability, Strategy, build_strategy, check_support,
    model_family, read_model_config, train_model, validate_params,
)
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

TaskStrategy = Literal["head", "lora"]  # the task stage fitted on the adapted encoder
_ST_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")


# --- helpers shared by the adaptation strategies -----------------------------------------------------

def has_mlm_head(path: str | Path) -> bool:
    """Whether the checkpoint in `path` stores a masked-LM head (architectures, else weight names)."""
    path = Path(path)
    if any(a.endswith("ForMaskedLM") for a in read_model_config(path).get("architectures") or []):
        return True
    from safetensors import safe_open

    for weights in path.glob("*.safetensors"):
        with safe_open(str(weights), framework="pt") as f:
            if any(k.startswith(("cls.predictions", "lm_head")) for k in f.keys()):
                return True
    return False


def read_unlabelled(texts: list[str] | None, path: str | None, where: str) -> list[str] | None:
    """Unlabelled texts from a list or a file (.txt: one text per line; .jsonl: a "text" field per row)."""
    if texts is not None and path is not None:
        raise ConfigError(f"{where}: give unlabelled text as `texts` or as `path`, not both.")
    if texts is not None:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"{where}.texts must be a list of strings. Got {type(texts).__name__} instead.")
        out = [t for t in texts if t.strip()]
    elif path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"{where}.path: {p} does not exist; expected a .txt (one text per line) or .jsonl file.")
        if p.suffix == ".jsonl":
            out = []
            for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or "text" not in row:
                    raise DataError(f"{p}:{lineno}: expected a JSON object with a 'text' field.")
                out.append(str(row["text"]))
        else:
            out = [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        return None
    if not out:
        raise DataError(f"{where}: the unlabelled text is empty; expected at least one non-empty text.")
    return out


def task_stage_problems(config: Any, where: str) -> list[str]:
    """Unlabelled text given once; the task stage's params checked against its strategy's config."""
    problems = [f"{where}: give unlabelled text as `texts` or as `path`, not both."] \
        if config.texts is not None and config.path is not None else []
    return problems + validate_params(STRATEGIES.get(config.task_strategy).config_class, config.task_params,
                                      f"{where}.task_params")


def copy_sentence_transformers_modules(source: Path, out: Path) -> None:
    """Copy the sentence-transformers module files (pooling, normalisation, prompts) of `source` to `out`."""
    for name in _ST_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    for sub in source.iterdir():
        if sub.is_dir() and sub.name[:1].isdigit() and "_" in sub.name:
            shutil.copytree(sub, out / sub.name, dirs_exist_ok=True)


def train_language_model(
    model_path: Path, texts: list[str], out_dir: Path, *, objective: str, epochs: float, lr: float, batch_size: int,
    max_length: int, mlm_probability: float, seed: int, model: Any = None, tokenizer: Any = None,
) -> list[float]:
    """Train `model` (loaded from `model_path` when None) on `texts` with MLM or causal LM, write its
    base encoder + tokenizer + sentence-transformers modules to `out_dir`, return the per-epoch losses."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    torch.manual_seed(seed)
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_path))
    if objective == "mlm":
        if model is None:
            model, info = AutoModelForMaskedLM.from_pretrained(str(model_path), output_loading_info=True)
            fresh = [k for k in info.get("missing_keys", []) if "predictions" in k or "lm_head" in k]
            if fresh:
                logger.warning(
                    "%s has no masked-LM head: training a freshly initialised one (%d tensors). The first steps "
                    "mostly fit the head; use more epochs than for a model pretrained with MLM.",
                    model_path, len(fresh),
                )
        if tokenizer.mask_token is None:
            raise UnsupportedError(
                f"{model_path}: its tokenizer has no mask token, so masked-LM training is impossible. "
                "Use objective 'causal' for decoders."
            )
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=mlm_probability)
    elif objective == "causal":
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = model or AutoModelForCausalLM.from_pretrained(str(model_path))
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    else:
        raise ConfigError(f"objective must be 'mlm' or 'causal'. Got {objective!r} instead.")
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    ds = Dataset.from_dict({k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")})
    result, losses = train_model(f"{objective} pretraining", model, ds, collator, epochs=epochs, lr=lr,
                                 batch_size=batch_size, seed=seed, warmup_steps=0.1, lr_scheduler_type="linear")
    logger.info("%s pretraining: %d steps on %d texts, final loss %.4f", objective, result.global_step,
                len(texts), result.training_loss)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.base_model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    copy_sentence_transformers_modules(model_path, out_dir)
    return losses


class AdaptedEncoderStrategy(Strategy):
    """Adapt the model into a new encoder folder (`_adapt`), then fit a `head` / `lora` task strategy on it.

    Saved layout: `encoder/` (the adapted model folder) and `task/` (the task strategy's weights).
    Subclasses implement `_adapt(model_path, texts, out_dir)`; their configs carry `texts`, `path`,
    `task_strategy` and `task_params`.
    """

    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    model_families: ClassVar[frozenset[str]] = frozenset({"encoder"})

    def _adapt(self, model_path: Path, texts: list[str], out_dir: Path) -> None:
        raise NotImplementedError

    def _unlabelled(self, unlabelled: list[str] | None, train: TextDataset) -> list[str]:
        if unlabelled is not None:
            texts = read_unlabelled(list(unlabelled), None, f"{self.name} fit(unlabelled=...)")
        else:
            texts = read_unlabelled(self.config.texts, self.config.path, self.name)
        if texts is None:
            logger.info("%s: no unlabelled text given (config texts/path or fit(unlabelled=...)); adapting on the "
                        "%d training texts instead (task-adaptive pretraining).", self.name, len(train))
            texts = train.texts
        return texts

    def fit(self, train: TextDataset, *, unlabelled: list[str] | None = None) -> AdaptedEncoderStrategy:
        """Adapt on `unlabelled` (else config texts/path, else the training texts), then fit the task stage."""
        labels = self._check_train(train)
        path = resolve_model(self.model)
        check_support(self, path)
        texts = self._unlabelled(unlabelled, train)
        self._workdir = tempfile.TemporaryDirectory(prefix=f"pgt-{self.name}-")
        encoder_dir = Path(self._workdir.name) / "encoder"
        self._adapt(path, texts, encoder_dir)
        self.encoder_dir_ = encoder_dir
        self.task_ = build_strategy(self.config.task_strategy, self.config.task_params, encoder_dir, seed=self.seed)
        self.task_.fit(train)
        self.labels_ = labels
        return self

    @property
    def train_loss_(self) -> list[float]:
        """The task stage's per-epoch training loss (the `lora` task stage has one; `head` has none)."""
        loss = getattr(getattr(self, "task_", None), "train_loss_", None)
        if loss is None:
            raise AttributeError("train_loss_")
        return loss

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameters of the task stage (delegated to the `lora` task strategy)."""
        if not hasattr(getattr(self, "task_", None), "trainable_parameters"):
            raise AttributeError(f"the {self.config.task_strategy!r} task stage has no torch parameters to count")
        return self.task_.trainable_parameters()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        return self.task_.predict_proba(list(texts))

    def _save_weights(self, folder: Path) -> None:
        shutil.copytree(self.encoder_dir_, folder / "encoder", dirs_exist_ok=True)
        (folder / "task").mkdir(exist_ok=True)
        self.task_._save_weights(folder / "task")

    def _load_weights(self, folder: Path) -> None:
        self.encoder_dir_ = folder / "encoder"
        self.task_ = build_strategy(self.config.task_strategy, self.config.task_params, self.encoder_dir_,
                                    seed=self.seed)
        self.task_.labels_ = list(self.labels_)
        self.task_._load_weights(folder / "task")


@dataclass
class AdaptedEncoderFields:
    """Config fields of an AdaptedEncoderStrategy: the unlabelled text, its LM training, the task stage."""

    texts: list[str] | None = None  # unlabelled target text ...
    path: str | None = None  # ... or a .txt / .jsonl file of it
    lr: Positive = 5e-5
    mlm_probability: Probability = 0.15
    batch_size: AtLeastOne = 16
    max_length: Length = 128
    task_strategy: TaskStrategy = "head"  # fitted on the adapted encoder
    task_params: dict[str, Any] = field(default_factory=dict)

    def check(self, where: str) -> list[str]:
        return task_stage_problems(self, where)


@typed
@dataclass
class ContinuedPretrainingConfig(AdaptedEncoderFields):
    objective: Literal["auto", "mlm", "causal"] = "auto"  # "auto": mlm for encoders, causal for decoders
    epochs: Epochs = 1


@STRATEGIES.register("continued_pretraining")
class ContinuedPretrainingStrategy(AdaptedEncoderStrategy):
    """MLM (encoders) or causal-LM (decoders) pretraining on unlabelled text, then `head` / `lora`."""

    name = "continued_pretraining"
    config_class = ContinuedPretrainingConfig
    model_families: ClassVar[frozenset[str]] = frozenset({"encoder", "decoder"})

    def _adapt(self, model_path: Path, texts: list[str], out_dir: Path) -> None:
        objective = self.config.objective
        family = model_family(model_path)
        if objective == "auto":
            objective = "causal" if family == "decoder" else "mlm"
        elif objective == "mlm" and family == "decoder":
            raise UnsupportedError(f"continued_pretraining: objective 'mlm' needs an encoder; {self.model} is a "
                                   "decoder. Use objective 'causal' or 'auto'.")
        self.objective_ = objective
        self.pretrain_loss_ = train_language_model(
            model_path, texts, out_dir, objective=objective, epochs=self.config.epochs, lr=self.config.lr,
            batch_size=self.config.batch_size, max_length=self.config.max_length,
            mlm_probability=self.config.mlm_probability, seed=self.seed,
        )
