"""The strategy interface, its registry, and config validation shared by every strategy.

A strategy is built from a config dataclass (`build_strategy("lora", {"r": 8})`), learns from a
labelled TextDataset with `fit` (returns self; learned state ends in `_`), predicts class
probabilities with `predict_proba`, and round-trips through `save` / `load_strategy` with
safetensors weights and a JSON description only.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, IntegrityError, UnsupportedError, did_you_mean
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.registry import Registry

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
STRATEGY_FILE = "strategy.json"


def config_from_dict(config_class: type, params: dict[str, Any], where: str) -> Any:
    """Build a config dataclass from a dict, rejecting unknown keys and wrong types with a clear error."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    problems = []
    for key in params:
        if key not in fields:
            problems.append(f"{where}: unknown key {key!r}.{did_you_mean(key, fields)} Known keys: {', '.join(fields)}.")
    if problems:
        raise ConfigError("\n".join(problems))
    config = config_class(**params)
    hints = typing.get_type_hints(config_class)  # resolves string annotations (from __future__ import annotations)
    for name in fields:
        value = getattr(config, name)
        expected = hints.get(name) if isinstance(hints.get(name), type) else None
        if expected in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}.{name} must be a number. Got {value!r} instead.")
        if expected is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}.{name} must be an int. Got {value!r} instead.")
    return config


class Strategy(ABC):
    """Base class: `fit(train)` -> self, `predict_proba(texts)`, `save(folder)`."""

    name: ClassVar[str]
    config_class: ClassVar[type]

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


def trainer_arguments(defaults: dict[str, Any], overrides: dict[str, Any] | None, where: str) -> Any:
    """transformers TrainingArguments from the strategy's defaults plus a config's `trainer_args`.

    `trainer_args` passes anything the Trainer knows straight through — `deepspeed` (a config path),
    `fsdp`, `report_to`, `gradient_accumulation_steps`, `bf16`, `save_strategy`... — so multi-GPU and
    tracking set-ups work unchanged; an unknown key is a ConfigError with a did-you-mean.
    """
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ConfigError("\n".join(
            f"{where}: {k!r} is not a transformers TrainingArguments field.{did_you_mean(k, known)}" for k in unknown))
    return TrainingArguments(**{**defaults, **overrides})


def training_arguments(
    output_dir: str | Path, *, epochs: float, lr: float, batch_size: int, seed: int, checkpoint: bool = False,
    trainer_args: dict[str, Any] | None = None, where: str = "trainer_args", **settings: Any,
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
    return trainer_arguments({**defaults, **settings}, trainer_args, where)


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


# --- config checks shared by the strategies ------------------------------------------------------

def check_number(where: str, value: Any, *, low: float, high: float | None = None, integer: bool = False,
                 low_open: bool = False) -> None:
    """Uniform parameter errors: "must be an int in [1, inf). Got 0 instead."."""
    kind = "an int" if integer else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float):
        ok = value.is_integer()
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        upper = f"{high}]" if high is not None else "inf)"
        interval = f"{'(' if low_open else '['}{low}, {upper}"
        raise ConfigError(f"{where} must be {kind} in {interval}. Got {value!r} instead.")


def check_choice(where: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{where} must be one of {', '.join(map(repr, choices))}. Got {value!r} instead."
            f"{did_you_mean(str(value), choices)}"
        )


def check_family(strategy: str, family: str, supported: frozenset[str] | set[str], model: str) -> None:
    """UnsupportedError when `family` (of `model`) is not one the strategy handles."""
    if family not in supported:
        raise UnsupportedError(
            f"Strategy {strategy!r} does not support {family} models (got {model}); it supports "
            f"{', '.join(sorted(supported))} models. Pick a model of that kind or another strategy."
        )


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
    config = config_from_dict(cls.config_class, dict(params or {}), where or f"strategy {name!r}")
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
