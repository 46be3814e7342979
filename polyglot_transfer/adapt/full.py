"""Full fine-tuning: every weight of the encoder and a linear head, through the engine.

With ``init_head="probe"`` (the default) the head starts from a linear probe on the frozen features
(LP-FT, Kumar et al. 2022), which matters here: the encoder learning rate is small (3e-5), so a
zero-initialised head would hardly move in a few epochs. The forgetting mitigations of
:mod:`polyglot_transfer.adapt.forgetting` (``replay``, ``ewc``, ``l2sp``) are options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from polyglot_transfer.adapt.base import STRATEGIES, AtLeastOne, Autocast, Epochs, Length, NonNegative, Positive, Share
from polyglot_transfer.adapt.base import check_support, model_family  # noqa: F401  (their old home: head.py imports them here)
from polyglot_transfer.adapt.engine import TunedStrategy, forgetting_problems
from polyglot_transfer.typed_config import typed


@typed
@dataclass
class FullConfig:
    epochs: Epochs = 3
    learning_rate: Positive = 3e-5
    batch_size: AtLeastOne = 16
    max_length: Length = 64
    weight_decay: NonNegative = 0.01
    warmup_ratio: Share = 0.1
    optim: str = "adamw_torch"  # any transformers optimizer name ("sgd", "adafactor", ...)
    init_head: Literal["probe", "zeros"] = "probe"  # "probe": LP-FT (head starts from a linear probe)
    regularizer: Literal["none", "ewc", "l2sp"] = "none"  # keeps weights near the pre-trained ones
    reg_lambda: NonNegative = 1.0  # strength of the ewc / l2sp penalty
    ewc_samples: AtLeastOne = 200  # examples used to estimate the EWC Fisher information
    replay: Share = 0.0  # share of source-language examples mixed into training
    replay_data: str | None = None  # a labelled table of source examples (or fit(..., source=...))
    autocast: Autocast = "none"  # inference precision on CUDA
    trainer_args: dict[str, Any] = field(default_factory=dict)  # to TrainingArguments (deepspeed, fsdp, report_to...)

    def check(self, where: str) -> list[str]:
        return forgetting_problems(self, where)


@STRATEGIES.register("full")
class FullStrategy(TunedStrategy):
    """Full fine-tuning of the encoder + linear head (LP-FT option, replay / EWC / L2-SP mitigations)."""

    name = "full"
    config_class = FullConfig
    tasks = ("classification", "token_classification")
    model_families = frozenset({"encoder"})
    method = "none"
    trainer_settings = {"weight_decay": "weight_decay", "warmup_ratio": "warmup_steps", "optim": "optim"}
