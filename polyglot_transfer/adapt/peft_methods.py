"""Parameter-efficient fine-tuning through PEFT: LoRA, DoRA, (IA)^3, prefix tuning and QLoRA, via the engine.

``method`` picks the PEFT config (:func:`~polyglot_transfer.adapt.engine.peft_config`): ``LoraConfig``
(``use_dora=True`` for DoRA), ``IA3Config``, ``PrefixTuningConfig``; ``qlora`` is LoRA on a 4-bit (NF4)
quantised encoder and needs bitsandbytes and a CUDA device. Only adapter weights and the head train;
adapters are saved the PEFT way (``adapter/``), the head as ``head.safetensors``. The forgetting
mitigations (replay, EWC / L2-SP on the adapter weights) are those of `full`.

Prefix tuning on a bare encoder: PEFT's plain ``PeftModel`` has no forward that injects the prefix, so the
encoder is wrapped as ``FEATURE_EXTRACTION``; an encoder whose attention does not accept
``past_key_values`` raises UnsupportedError at build time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polyglot_transfer.adapt.base import STRATEGIES, AtLeastOne, ForgettingFields, Length, LoraFields, TrainerFields
from polyglot_transfer.adapt.engine import PEFT_METHODS, TunedStrategy, qlora_available
from polyglot_transfer.typed_config import typed

__all__ = ["PEFT_METHODS", "PeftStrategy", "PeftStrategyConfig", "qlora_available"]


@typed
@dataclass
class PeftStrategyConfig(ForgettingFields, TrainerFields, LoraFields):
    method: Literal["lora", "dora", "ia3", "prefix", "qlora"] = "lora"
    # r, alpha: LoRA / DoRA / QLoRA rank and scaling numerator (scale = alpha / r)
    target_modules: list[str] | None = None  # None: PEFT's default for the architecture (BERT: query, value)
    feedforward_modules: list[str] | None = None  # (IA)^3 only: which targets are feed-forward layers
    num_virtual_tokens: AtLeastOne = 10  # prefix tuning: prefix length per layer
    max_length: Length = 64

    def check(self, where: str) -> list[str]:
        problems = super().check(where)
        if self.feedforward_modules is not None and self.method != "ia3":
            problems.append(f"{where}.feedforward_modules only applies to method 'ia3' (method is {self.method!r}).")
        return problems


@STRATEGIES.register("peft")
class PeftStrategy(TunedStrategy):
    """PEFT adapters (method: lora, dora, ia3, prefix, qlora) on the encoder + a trained linear head."""

    name = "peft"
    config_class = PeftStrategyConfig
    tasks = ("classification", "token_classification")
    model_families = frozenset({"encoder"})
    trainer_settings = {"weight_decay": "weight_decay", "warmup_ratio": "warmup_steps", "optim": "optim"}

    def peft_trainable_parameters(self) -> int:
        """Trainable parameters PEFT reports for the adapters alone (the head not included)."""
        encoder = self.model_.encoder if self.task == "classification" else self.model_
        return int(encoder.get_nb_trainable_parameters()[0])
