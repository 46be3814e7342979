"""LoRA: low-rank adapters on the encoder's attention + a trained linear head, through the engine.

The same path as ``peft`` with ``method: lora`` (one LoRA code path: :mod:`polyglot_transfer.adapt.engine`);
this declaration keeps the short name and the defaults the demo was tuned with (targets query / value,
no forgetting mitigations, the Trainer's default optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polyglot_transfer.adapt.base import STRATEGIES, Length, LoraFields, TrainerFields
from polyglot_transfer.adapt.engine import TunedStrategy
from polyglot_transfer.typed_config import typed


@typed
@dataclass
class LoraConfig(TrainerFields, LoraFields):
    max_length: Length = 64
    init_head: Literal["probe", "zeros"] = "probe"  # "probe": start from a linear probe on frozen features (LP-FT)


@STRATEGIES.register("lora")
class LoraStrategy(TunedStrategy):
    """LoRA adapters on the encoder's attention + a trained linear head on mean-pooled states (or a token head)."""

    name = "lora"
    config_class = LoraConfig
    tasks = ("classification", "token_classification")
    model_families = frozenset({"encoder"})
    method = "lora"
