"""Adaptation strategies: corpus -> dataset -> strategy -> adapted model, one file per strategy."""

from polyglot_transfer.adapt.base import STRATEGIES, Strategy, build_strategy, load_strategy
from polyglot_transfer.adapt import head as _head  # noqa: F401  (registers "head")
from polyglot_transfer.adapt import lora as _lora  # noqa: F401  (registers "lora")
from polyglot_transfer.adapt import zero_shot, full, peft_methods, few_shot, multi_source  # noqa: F401,E501  (register "zero_shot", "full", "peft", "few_shot", "multi_source")
from polyglot_transfer.adapt import continued_pretraining, vocab_extension, language_adapter, prompting, token_classification, generation  # noqa: F401,E501  (register "continued_pretraining", "vocab_extension", "language_adapter", "prompting", "token_classification", "generation")

__all__ = ["STRATEGIES", "Strategy", "build_strategy", "load_strategy"]
