"""Datasets and loaders: one :class:`TextDataset` type, generic table loading, NusaX, AfriQA, the demo corpus."""

from polyglot_transfer.data.afriqa import AFRIQA_LANGUAGES, load_afriqa_passages, load_afriqa_queries
from polyglot_transfer.data.corpora import DemoCorpus, find_shared_corpora, load_demo_corpus
from polyglot_transfer.data.dataset import Example, TextDataset, make_example
from polyglot_transfer.data.loaders import load_table
from polyglot_transfer.data.nusax import (
    NUSAX_LABELS,
    NUSAX_LANGUAGES,
    NUSAX_LOCAL_LANGUAGES,
    load_nusax_parallel,
    load_nusax_sentiment,
)

__all__ = [
    "AFRIQA_LANGUAGES",
    "NUSAX_LABELS",
    "NUSAX_LANGUAGES",
    "NUSAX_LOCAL_LANGUAGES",
    "DemoCorpus",
    "Example",
    "TextDataset",
    "find_shared_corpora",
    "load_afriqa_passages",
    "load_afriqa_queries",
    "load_demo_corpus",
    "load_nusax_parallel",
    "load_nusax_sentiment",
    "load_table",
    "make_example",
]
