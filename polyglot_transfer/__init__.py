"""polyglot-transfer: transfer learning to low-resource languages, with evidence.

The Python front door (the same functions the ``pgt`` CLI calls)::

    import polyglot_transfer as pgt

    config = pgt.load_config("demo", overrides=["seeds=[0,1]"])   # a YAML file or a shipped example
    result = pgt.compare(config)                                  # fine-tuning vs RAG vs both, per language
    report = result.reports["markdown"]                           # path of the run's report.md

    embedder = pgt.Embedder("intfloat/multilingual-e5-small")
    index = pgt.VectorIndex(embedder.dim, embedder_identity=embedder.identity)
    retriever = pgt.IndexRetriever(index=index, embedder=embedder, k=5)
    head = pgt.build_strategy("head", {}, "intfloat/multilingual-e5-small")  # strategies by name: pgt.STRATEGIES

Names are loaded on first use (torch and FAISS are imported only when a name that needs them is touched),
so ``import polyglot_transfer`` and ``pgt --help`` stay fast. Type checkers and IDEs read the same names,
imported eagerly, from ``__init__.pyi``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    # run a comparison, configs
    "compare": "polyglot_transfer.api",
    "load_config": "polyglot_transfer.api",
    "validate_config": "polyglot_transfer.api",
    "config_path": "polyglot_transfer.api",
    "run_compare": "polyglot_transfer.evaluation.compare",
    "RunResult": "polyglot_transfer.evaluation.compare",
    "CompareConfig": "polyglot_transfer.evaluation.config",
    "write_reports": "polyglot_transfer.evaluation.report",
    "list_example_configs": "polyglot_transfer.data.corpora",
    # data
    "TextDataset": "polyglot_transfer.data.dataset",
    "Example": "polyglot_transfer.data.dataset",
    "load_table": "polyglot_transfer.data.loaders",
    "load_demo_corpus": "polyglot_transfer.data.corpora",
    "resolve_language": "polyglot_transfer.languages",
    # models
    "CATALOG": "polyglot_transfer.models.catalog",
    "pull_model": "polyglot_transfer.models.provision",
    "resolve_model": "polyglot_transfer.models.provision",
    # strategies by name
    "STRATEGIES": "polyglot_transfer.adapt",
    "Strategy": "polyglot_transfer.adapt",
    "build_strategy": "polyglot_transfer.adapt",
    "load_strategy": "polyglot_transfer.adapt",
    # retrieval
    "Embedder": "polyglot_transfer.retrieval.embedder",
    "VectorIndex": "polyglot_transfer.retrieval.faiss_index",
    "IndexRetriever": "polyglot_transfer.retrieval.retriever",
    "HybridRetriever": "polyglot_transfer.retrieval.hybrid",
    "BM25Index": "polyglot_transfer.retrieval.bm25",
    "CrossEncoderReranker": "polyglot_transfer.retrieval.rerank",
    "RetrievalVoteClassifier": "polyglot_transfer.retrieval.vote",
    "build_task_index": "polyglot_transfer.retrieval.vote",
    "build_index": "polyglot_transfer.retrieval.index_ops",
    "open_index": "polyglot_transfer.retrieval.index_ops",
    "RagChain": "polyglot_transfer.retrieval.rag_chain",
    "build_rag_chain": "polyglot_transfer.retrieval.rag_chain",
    "PGTEmbeddings": "polyglot_transfer.retrieval.langchain_store",
    "PGTVectorStore": "polyglot_transfer.retrieval.langchain_store",
    # diagnostics
    "diagnose": "polyglot_transfer.diagnostics.diagnose",
    "tokenizer_fit": "polyglot_transfer.diagnostics.tokenizer_fit",
    "domain_gap": "polyglot_transfer.diagnostics.domain_gap",
    "plan_setups": "polyglot_transfer.diagnostics.planner",
    "Resources": "polyglot_transfer.diagnostics.planner",
    "recommend_sources": "polyglot_transfer.diagnostics.recommend",
    # errors
    "PGTError": "polyglot_transfer.errors",
    "ConfigError": "polyglot_transfer.errors",
    "DataError": "polyglot_transfer.errors",
    "ModelError": "polyglot_transfer.errors",
    "IntegrityError": "polyglot_transfer.errors",
    "UnsupportedError": "polyglot_transfer.errors",
}

# ---- tasks by name -------------------------------------------------------------------------------------
# `pgt.tasks` is the task registry package (polyglot_transfer/tasks/) when this installation has it.
_SUBPACKAGES: tuple[str, ...] = tuple(
    name for name in ("tasks",) if importlib.util.find_spec(f"polyglot_transfer.{name}") is not None
)
# ---------------------------------------------------------------------------------------------------------

__all__ = ["__version__", *_LAZY, *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562) and cache the name in this module."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"polyglot_transfer.{name}")
    else:
        raise AttributeError(f"module 'polyglot_transfer' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (for tab completion), loaded or not."""
    return sorted(set(globals()) | set(__all__))
