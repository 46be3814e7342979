"""The strategy interface, its registry, and the one config validation path every strategy goes through.

A strategy is built from a typed config dataclass (`build_strategy("lora", {"r": 8})`): its fields carry
their ranges (``Annotated[int, Ge(1)]``, see :mod:`polyglot_transfer.typed_config`), rules across fields
live in the config's ``check(where) -> list[str]``, and :func:`validate_params` reports every problem at
once with its dotted path. A strategy learns from a labelled dataset with `fit` (returns self; learned
state ends in `_`), predicts with `predict_proba`, and round-trips through `save` / `load_strategy` with
safetensors weights and a JSON description only.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from annotated_types import Ge, Gt, Interval

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, IntegrityError, UnsupportedError, did_you_mean
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.registry import Registry
from polyglot_transfer.typed_config import validate

logger = logging.getLogger(__name__)

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
STRATEGY_FILE = "strategy.json"

# Ranges the strategy configs share (annotated_types constraints, checked by typed_config).
Epochs = Annotated[int, Ge(1)]
Positive = Annotated[float, Gt(0)]
NonNegative = Annotated[float, Ge(0)]
AtLeastOne = Annotated[int, Ge(1)]
Length = Annotated[int, Ge(8)]
Dropout = Annotated[float, Interval(ge=0, lt=1)]
Share = Annotated[float, Interval(ge=0, lt=1)]
Probability = Annotated[float, Interval(gt=0, le=1)]
Autocast = Literal["none", "bf16", "fp16"]  # inference precision on CUDA (ignored elsewhere)

_DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi", "phi3",
                  "gpt2", "gpt_neox", "falcon", "olmo", "smollm3", "mixtral"}


# Field groups the strategy configs share (a config inherits them and may override a default).
@dataclasses.dataclass
class LoraFields:
    """LoRA adapter fields (PEFT's r, lora_alpha, lora_dropout, target_modules)."""

    r: AtLeastOne = 8
    alpha: AtLeastOne = 16
    dropout: Dropout = 0.1
    target_modules: list[str] = dataclasses.field(default_factory=lambda: ["query", "value"])


@dataclasses.dataclass
class TrainerFields:
    """Fields the engine's Trainer reads (TunedStrategy), and the inference precision."""

    epochs: Epochs = 5
    learning_rate: Positive = 1e-3
    batch_size: AtLeastOne = 16
    weight_decay: NonNegative = 0.0
    warmup_ratio: Share = 0.1
    autocast: Autocast = "none"  # inference precision on CUDA
    # to TrainingArguments (deepspeed, fsdp, report_to...)
    trainer_args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ForgettingFields:
    """The optimizer and the forgetting mitigations of an encoder fine-tuning (LP-FT head, EWC / L2-SP, replay)."""

    optim: str = "adamw_torch"  # any transformers optimizer name ("sgd", "adafactor", ...)
    init_head: Literal["probe", "zeros"] = "probe"  # "probe": LP-FT (head starts from a linear probe)
    regularizer: Literal["none", "ewc", "l2sp"] = "none"  # keeps weights near the pre-trained ones
    reg_lambda: NonNegative = 1.0  # strength of the ewc / l2sp penalty
    ewc_samples: AtLeastOne = 200  # examples used to estimate the EWC Fisher information
    replay: Share = 0.0  # share of source-language examples mixed into training
    replay_data: str | None = None  # a labelled table of source examples (or fit(..., source=...))

    def check(self, where: str) -> list[str]:
        return forgetting_problems(self, where)


def forgetting_problems(config: Any, where: str) -> list[str]:
    """Cross-field rules of the forgetting mitigations (regularizer / init_head)."""
    if config.regularizer == "ewc" and config.init_head != "probe":
        return [f"{where}.regularizer='ewc' needs init_head='probe': with a zero-initialised head the Fisher "
                "information of every encoder weight is zero, so EWC would do nothing."]
    return []


def _validated(config_class: type, params: Any, where: str) -> tuple[Any, list[str]]:
    config, problems = validate(config_class, params, where)
    if config is not None and callable(getattr(config, "check", None)):
        problems = list(config.check(where))  # rules across fields, once every field is in range
    return config, problems


def validate_params(config_class: type, params: Any, where: str) -> list[str]:
    """Every problem of `params` as a `config_class` (types, ranges, unknown keys, cross-field rules)."""
    return _validated(config_class, params, where)[1]


def config_from_dict(config_class: type, params: dict[str, Any], where: str) -> Any:
    """Build a config dataclass from a dict; one ConfigError lists every problem with its dotted path."""
    config, problems = _validated(config_class, params, where)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {where}:\n- " + "\n- ".join(problems))
    return config


class Strategy(ABC):
    """Base class: `fit(train)` -> self, `predict_proba(texts)`, `save(folder)`.

    Declarations every strategy makes: `name`, `config_class` (a typed dataclass), `tasks` and
    `model_families` (checked by :func:`check_support` before any weight loads).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    model_families: ClassVar[frozenset[str]] = frozenset({"encoder"})

    def __init__(self, config: Any, model: str | Path, *, seed: int = 0, embedder: Any = None) -> None:
        self.config = config
        self.model = str(model)
        self.seed = seed
        self.embedder = embedder
        self.labels_: list[str] | None = None

    @abstractmethod
    def fit(self, train: TextDataset) -> Strategy: ...

    @abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    @abstractmethod
    def _save_weights(self, folder: Path) -> None: ...

    @abstractmethod
    def _load_weights(self, folder: Path) -> None: ...

    def predict(self, texts: list[str]) -> list[str]:
        probs = self.predict_proba(texts)
        return [self.labels_[i] for i in probs.argmax(axis=1)]

    def _check_train(self, train: TextDataset) -> list[str]:
        require_text_dataset(self.name, train)
        labels = [e.label for e in train]
        if any(lbl is None for lbl in labels):
            raise DataError(f"{self.name}: every training example needs a label; {labels.count(None)} have none.")
        label_set = sorted(set(labels))
        if len(label_set) < 2:
            raise DataError(f"{self.name}: training needs at least 2 labels. Got {label_set}.")
        return label_set

    def _require_fitted(self) -> list[str]:
        if self.labels_ is None:
            raise DataError(f"This {self.name} strategy is not fitted yet: call fit() first.")
        return self.labels_

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_weights(folder)
        atomic_write_json(folder / STRATEGY_FILE, {
            "strategy": self.name,
            "config": dataclasses.asdict(self.config),
            "model": self.model,
            "seed": self.seed,
            "labels": self._require_fitted(),
        })
        return folder


def trainer_arguments(defaults: dict[str, Any], overrides: dict[str, Any] | None, where: str,
                      args_class: Any = None) -> Any:
    """transformers TrainingArguments from the strategy's defaults plus a config's `trainer_args`.

    `trainer_args` passes anything the Trainer knows straight through — `deepspeed` (a config path),
    `fsdp`, `report_to`, `gradient_accumulation_steps`, `bf16`, `save_strategy`... — so multi-GPU and
    tracking set-ups work unchanged; an unknown key is a ConfigError with a did-you-mean. `args_class`: a
    TrainingArguments subclass to build instead (sentence-transformers' for its trainer).
    """
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ConfigError("\n".join(
            f"{where}: {k!r} is not a transformers TrainingArguments field.{did_you_mean(k, known)}" for k in unknown))
    return (args_class or TrainingArguments)(**{**defaults, **overrides})


def training_arguments(
    output_dir: str | Path, *, epochs: float, lr: float, batch_size: int, seed: int, checkpoint: bool = False,
    trainer_args: dict[str, Any] | None = None, where: str = "trainer_args", args_class: Any = None, **settings: Any,
) -> Any:
    """TrainingArguments with the package's defaults: per-epoch loss logs, no reporting, no progress bar,
    checkpoints only when `checkpoint` (one kept, per epoch), the GPU when there is one.

    `settings` add to or replace the defaults (weight_decay, warmup_steps, optim...); `trainer_args`, a
    config's pass-through mapping, goes on top of everything and is checked by `trainer_arguments`.
    """
    import torch

    defaults = dict(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, seed=seed, data_seed=seed, save_strategy="epoch" if checkpoint else "no",
        save_total_limit=1, report_to=[], logging_strategy="epoch", disable_tqdm=True,
        dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
    )
    return trainer_arguments({**defaults, **settings}, trainer_args, where, args_class)


class TrainingProgress:
    """A Trainer callback that logs training progress (step, epoch, loss, elapsed, ETA) about every tenth
    of the run, so a long fit shows signs of life also when output goes to a file (the Trainer's own bar is
    off: it garbles piped logs). Add it with ``trainer.add_callback(TrainingProgress("lora"))``."""

    def __init__(self, name: str, every: float = 0.1) -> None:
        self.name, self.every = name, every
        self._start = 0.0
        self._next = 0
        self._loss: float | None = None

    def _log(self, state: Any, final: bool = False) -> None:
        elapsed = time.monotonic() - self._start
        total = max(int(state.max_steps or 0), 1)
        done = int(state.global_step)
        eta = elapsed / done * (total - done) if done else float("nan")
        loss = f", loss {self._loss:.4f}" if self._loss is not None else ""
        tail = f"done in {elapsed:.0f} s" if final else f"elapsed {elapsed:.0f} s, ETA {eta:.0f} s"
        logger.info("%s training: step %d/%d (%d%%), epoch %.1f%s, %s", self.name, done, total,
                    100 * done // total, float(state.epoch or 0), loss, tail)

    def __getattr__(self, name: str) -> Any:  # every other TrainerCallback event: nothing to do
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.monotonic()
        self._next = max(1, int(self.every * (state.max_steps or 0)))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= self._next:
            self._log(state)
            self._next = state.global_step + max(1, int(self.every * (state.max_steps or 0)))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._log(state, final=True)


def train_model(name: str, model: Any, dataset: Any, collator: Any, *, epochs: float, lr: float, batch_size: int,
                seed: int, **settings: Any) -> tuple[Any, list[float]]:
    """Train `model` with the transformers Trainer (outputs in a temporary folder, progress logged as `name`);
    returns the Trainer's result and the per-epoch losses. `settings` go to `training_arguments`."""
    from transformers import Trainer

    with tempfile.TemporaryDirectory(prefix="pgt-train-") as tmp:
        args = training_arguments(tmp, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, **settings)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                          callbacks=[TrainingProgress(name)])
        result = trainer.train()
    return result, epoch_losses(trainer)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of class scores (shifted by the row maximum, so exp cannot overflow)."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def softmax_weights(clf: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn linear classifier's (coef, intercept) as float32 softmax weights, one row per class
    (a binary model stores one row w: it becomes -w/2 and w/2)."""
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(intercept, dtype=np.float32)


def epoch_losses(trainer: Any) -> list[float]:
    return [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]


def predict_for_language(strategy: Strategy, texts: list[str], lang: str) -> np.ndarray:
    """`predict_proba`, routed to `lang` for strategies with per-language parts (language adapters).

    A strategy opts in by accepting `lang=` in predict_proba and listing its `languages`; other
    languages (and other strategies) get the language-neutral prediction.
    """
    if lang in (getattr(strategy, "languages", None) or []) and \
            "lang" in inspect.signature(strategy.predict_proba).parameters:
        return strategy.predict_proba(texts, lang=lang)
    return strategy.predict_proba(texts)


# --- what a model is, and whether a strategy handles it ------------------------------------------

def read_model_config(path: str | Path) -> dict[str, Any]:
    cfg = Path(path) / "config.json"
    return json.loads(cfg.read_text()) if cfg.is_file() else {}


def model_family(path: str | Path) -> str:
    """'encoder', 'decoder' or 'encoder-decoder', read from the model folder's config.json."""
    cfg = read_model_config(path)
    if not cfg:
        return "encoder"  # a sentence-transformers folder without a transformers config: an embedder
    if cfg.get("is_encoder_decoder"):
        return "encoder-decoder"
    archs = cfg.get("architectures") or []
    if cfg.get("model_type") in _DECODER_TYPES or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "decoder"
    return "encoder"


def check_support(strategy: Any, path: str | Path, task: str | None = None) -> str:
    """The family of the model at `path`; UnsupportedError unless `strategy` declares it (and `task`)."""
    family = model_family(path)
    tasks, families = sorted(strategy.tasks), sorted(strategy.model_families)
    task = task or tasks[0]
    if task not in tasks or family not in families:
        raise UnsupportedError(
            f"Strategy {strategy.name!r} does not support {family} models for task {task!r}: it supports {tasks} "
            f"with {families} models, and {path} is a {family} model. Pick a model of a supported family (for "
            "example intfloat/multilingual-e5-small for encoders) or another strategy (`pgt ls strategies`)."
        )
    return family


def require_text_dataset(strategy: str, train: Any) -> None:
    """UnsupportedError unless `train` is a TextDataset (classification strategies cannot train on tags)."""
    if not isinstance(train, TextDataset):
        raise UnsupportedError(
            f"Strategy {strategy!r} trains sentence classifiers on a TextDataset; got {type(train).__name__}. "
            "For token tagging (a TokenDataset from load_conll) use 'token_classification'."
        )


def build_strategy(name: str, params: dict[str, Any] | None, model: str | Path, *, seed: int = 0,
                   embedder: Any = None, where: str | None = None) -> Strategy:
    """A strategy by registered name with its parameters checked, e.g. ``build_strategy("lora", {"r": 8}, model)``."""
    cls = STRATEGIES.get(name)
    config = config_from_dict(cls.config_class, dict(params or {}), where or name)
    return cls(config, model, seed=seed, embedder=embedder)


def load_strategy(folder: str | Path, *, embedder: Any = None) -> Strategy:
    """Rebuild a saved strategy from its folder (strategy.json + safetensors)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / STRATEGY_FILE).read_text())
    except FileNotFoundError:
        raise DataError(f"{folder} holds no {STRATEGY_FILE}; expected a folder written by Strategy.save().") from None
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{folder / STRATEGY_FILE} is corrupt: {exc}") from None
    strategy = build_strategy(meta["strategy"], meta["config"], meta["model"], seed=meta["seed"], embedder=embedder)
    strategy.labels_ = list(meta["labels"])
    strategy._load_weights(folder)
    return strategy
