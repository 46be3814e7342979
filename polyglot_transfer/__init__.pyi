"""Type stub of the front door: the names ``polyglot_transfer/__init__.py`` loads lazily, imported eagerly for type
checkers and IDEs (kept apart so that the import contract does not see the root package importing every layer)."""

from typing import Any

from polyglot_transfer.adapt import (
    STRATEGIES as STRATEGIES,
    Strategy as Strategy,
    build_strategy as build_strategy,
    load_strategy as load_strategy,
)
from polyglot_transfer.api import (
    compare as compare,
    config_path as config_path,
    load_config as load_config,
    validate_config as validate_config,
)
from polyglot_transfer.data.corpora import (
    list_example_configs as list_example_configs,
    load_demo_corpus as load_demo_corpus,
)
from polyglot_transfer.data.dataset import Example as Example, TextDataset as TextDataset
from polyglot_transfer.data.loaders import load_table as load_table
from polyglot_transfer.diagnostics.diagnose import diagnose as diagnose
from polyglot_transfer.diagnostics.domain_gap import domain_gap as domain_gap
from polyglot_transfer.diagnostics.planner import Resources as Resources, plan_setups as plan_setups
from polyglot_transfer.diagnostics.recommend import recommend_sources as recommend_sources
from polyglot_transfer.diagnostics.tokenizer_fit import tokenizer_fit as tokenizer_fit
from polyglot_transfer.errors import (
    ConfigError as ConfigError,
    DataError as DataError,
    IntegrityError as IntegrityError,
    ModelError as ModelError,
    PGTError as PGTError,
    UnsupportedError as UnsupportedError,
)
from polyglot_transfer.evaluation.compare import RunResult as RunResult, run_compare as run_compare
from polyglot_transfer.evaluation.config import CompareConfig as CompareConfig
from polyglot_transfer.evaluation.report import write_reports as write_reports
from polyglot_transfer.languages import resolve_language as resolve_language
from polyglot_transfer.models.catalog import CATALOG as CATALOG
from polyglot_transfer.models.provision import pull_model as pull_model, resolve_model as resolve_model
from polyglot_transfer.retrieval.bm25 import BM25Index as BM25Index
from polyglot_transfer.retrieval.embedder import Embedder as Embedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex as VectorIndex
from polyglot_transfer.retrieval.hybrid import HybridRetriever as HybridRetriever
from polyglot_transfer.retrieval.index_ops import build_index as build_index, open_index as open_index
from polyglot_transfer.retrieval.langchain_store import (
    PGTEmbeddings as PGTEmbeddings,
    PGTVectorStore as PGTVectorStore,
)
from polyglot_transfer.retrieval.rag_chain import RagChain as RagChain, build_rag_chain as build_rag_chain
from polyglot_transfer.retrieval.rerank import CrossEncoderReranker as CrossEncoderReranker
from polyglot_transfer.retrieval.retriever import IndexRetriever as IndexRetriever
from polyglot_transfer.retrieval.vote import (
    RetrievalVoteClassifier as RetrievalVoteClassifier,
    build_task_index as build_task_index,
)

__version__: str
__all__: list[str]

def __getattr__(name: str) -> Any: ...
def __dir__() -> list[str]: ...
