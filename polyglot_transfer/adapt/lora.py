"""LoRA: low-rank adapters on the encoder's attention + a trained linear head, through the engine.

The same path as ``peft`` with ``method: lora`` (one LoRA code path: :mod:`polyglot_transfer.adapt.engine`);
this declaration keeps the short name and the defaults the demo was tuned with (targets query / value,
no forgetting mitigations, the Trainer's default optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from polyglot_transfer.adapt.base import (
    STRATEGIES,
    Autocast,
    AtLeastOne,
    Dropout,
    Epochs,
    Length,
    NonNegative,
    Positive,
    Share,
)
from polyglot_transfer.adapt.engine import TunedStrategy
from polyglot_transfer.typed_config import typed


@typed
@dataclass
class LoraConfig:
    r: AtLeastOne = 8
    alpha: AtLeastOne = 16
    dropout: Dropout = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"])
    epochs: Epochs = 5
    learning_rate: Positive = 1e-3
    batch_size: AtLeastOne = 16
    max_length: Length = 64
    weight_decay: NonNegative = 0.0
    warmup_ratio: Share = 0.1
    init_head: Literal["probe", "zeros"] = "probe"  # "probe": start from a linear probe on frozen features (LP-FT)
    autocast: Autocast = "none"  # inference precision on CUDA
    trainer_args: dict[str, Any] = field(default_factory=dict)  # to TrainingArguments (deepspeed, fsdp, report_to...)


@STRATEGIES.register("lora")
class LoraStrategy(TunedStrategy):
    """LoRA adapters on the encoder's attention + a trained linear head on mean-pooled states (or a token head)."""

    name = "lora"
    config_class = LoraConfig
    tasks = ("classification", "token_classification")
    model_families = frozenset({"encoder"})
    method = "lora"
