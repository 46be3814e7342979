"""Diagnostics that explain why a language fails: tokenizer fit, domain gap, label shift, UDHR fertility."""

from polyglot_transfer.diagnostics.domain_gap import (
    GapResult,
    LabelShift,
    VocabularyGap,
    domain_gap,
    label_shift,
    vocabulary_gap,
)
from polyglot_transfer.diagnostics.tokenizer_fit import TokenizerFit, compare_fit, load_tokenizer, tokenizer_fit
from polyglot_transfer.diagnostics.udhr import UdhrEntry, UdhrText, list_udhr, load_udhr, udhr_fertility_table

__all__ = [
    "GapResult",
    "LabelShift",
    "TokenizerFit",
    "UdhrEntry",
    "UdhrText",
    "VocabularyGap",
    "compare_fit",
    "domain_gap",
    "label_shift",
    "list_udhr",
    "load_tokenizer",
    "load_udhr",
    "tokenizer_fit",
    "udhr_fertility_table",
    "vocabulary_gap",
]
