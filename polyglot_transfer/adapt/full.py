"""Full fine-tuning: every weight of the encoder and a linear head, through the engine.

With ``init_head="probe"`` (the default) the head starts from a linear probe on the frozen features
(LP-FT, Kumar et al. 2022), which matters here: the encoder learning rate is small (3e-5), so a
zero-initialised head would hardly move in a few epochs. The forgetting mitigations of
:mod:`polyglot_transfer.adapt.forgetting` (``replay``, ``ewc``, ``l2sp``) are options.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyglot_transfer.adapt.base import (
    STRATEGIES, Epochs, ForgettingFields, Length, NonNegative, Positive, TrainerFields,
)
from polyglot_transfer.adapt.engine import TunedStrategy
from polyglot_transfer.typed_config import typed


@typed
@dataclass
class FullConfig(ForgettingFields, TrainerFields):
    epochs: Epochs = 3
    learning_rate: Positive = 3e-5
    weight_decay: NonNegative = 0.01
    max_length: Length = 64


@STRATEGIES.register("full")
class FullStrategy(TunedStrategy):
    """Full fine-tuning of the encoder + linear head (LP-FT option, replay / EWC / L2-SP mitigations)."""

    name = "full"
    config_class = FullConfig
    tasks = ("classification", "token_classification")
    model_families = frozenset({"encoder"})
    method = "none"
    trainer_settings = {"weight_decay": "weight_decay", "warmup_ratio": "warmup_steps", "optim": "optim"}
