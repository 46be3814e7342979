"""Adaptation strategies: corpus -> dataset -> strategy -> adapted model, one declaration per strategy.

The strategies that train weights are declarations over one engine (:mod:`polyglot_transfer.adapt.engine`).
"""

from polyglot_transfer.adapt.base import STRATEGIES, Strategy, build_strategy, load_strategy, predict_for_language
from polyglot_transfer.adapt import head, lora, full, peft_methods, token_classification, generation  # noqa: F401  (register)
from polyglot_transfer.adapt import zero_shot, few_shot, multi_source, prompting  # noqa: F401  (register)
from polyglot_transfer.adapt import continued_pretraining, vocab_extension, language_adapter  # noqa: F401  (register)

__all__ = ["STRATEGIES", "Strategy", "build_strategy", "load_strategy", "predict_for_language"]
