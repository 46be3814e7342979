"""Task types and tasks: what a compare config's `task:` names, declared once and read by everything else.

A :class:`TaskType` (``classification``, ``token_classification``, ``generative_qa``) says which metrics
make sense, which one is primary, which strategies can train for it (by the ``tasks`` tag each
strategy declares) and whether retrieval setups apply. A :class:`Task` is a registered, named data
source of one type: its data card, its languages, and how its data loads (a built-in corpus, the
user's own files, or a ``datasets`` hub id / ``save_to_disk`` folder). Config validation, the compare
runner, the CLI and the report ask the registries; no other module lists corpus names or task types.

    >>> TASKS.get("masakhaner").type
    'token_classification'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Ge

from polyglot_transfer.errors import DataError
from polyglot_transfer.registry import Registry
from polyglot_transfer.typed_config import typed

__all__ = ["TASKS", "TASK_TYPES", "Task", "TaskConfig", "TaskCorpus", "TaskType", "shared_root"]


@dataclass(frozen=True)
class TaskType:
    """What is common to every task of one kind."""

    name: str
    description: str
    metrics: tuple[str, ...]  # metrics a config may ask for (names in measure.metrics.METRICS)
    default_metrics: tuple[str, ...]  # when the config gives none
    primary_metric: str  # the metric of summaries, wins/ties/losses and the transfer matrix
    strategy_tags: frozenset[str]  # a strategy fits when its `tasks` ClassVar shares a tag
    retrieval: bool  # whether `retrieval:` setups (a kNN vote over labelled neighbours) make sense
    forgetting: bool  # whether source-language forgetting is measured (a sentence-level probe)
    per_type_metric: str | None = None  # NER: this metric is also reported per entity type
    example_unit: str = "example"  # what bootstrap resampling draws: example, sentence, question


TASK_TYPES: Registry[TaskType] = Registry("task type")

for _type in (
    TaskType("classification", "one label per text (sentiment, topic, intent)",
             metrics=("accuracy", "macro_f1"), default_metrics=("accuracy", "macro_f1"), primary_metric="macro_f1",
             strategy_tags=frozenset({"classification"}), retrieval=True, forgetting=True),
    TaskType("token_classification", "one tag per token, IOB2 (named entities)",
             metrics=("entity_f1", "entity_precision", "entity_recall"), default_metrics=("entity_f1",),
             primary_metric="entity_f1", strategy_tags=frozenset({"token_classification"}), retrieval=False,
             forgetting=False, per_type_metric="entity_f1", example_unit="sentence"),
    TaskType("generative_qa", "a free-text answer to a question, optionally from retrieved passages",
             metrics=("token_f1", "exact_match", "chrf", "chrf_pp", "answer_language", "gold_passage_recall",
                      "answer_supported"),
             default_metrics=("exact_match", "token_f1", "chrf_pp", "answer_language", "gold_passage_recall",
                              "answer_supported"),
             primary_metric="token_f1", strategy_tags=frozenset({"generation", "generative_qa"}), retrieval=True,
             forgetting=False, example_unit="question"),
):
    TASK_TYPES.add(_type.name, _type)


@typed
@dataclass
class TaskConfig:
    """The `task:` block of a compare config.

    Name a registered task (``corpus: masakhaner``; `pgt ls tasks`), or give your own data: files
    (``train`` / ``test``, a path or a mapping language -> path; CoNLL for token_classification,
    JSONL/CSV/TSV otherwise), or a ``dataset`` (a hub id or a ``save_to_disk`` folder; ``{lang}`` in it
    or in ``dataset_config`` is replaced by each language's code as written in ``language_codes``).
    """

    corpus: str | None = None  # a registered task name (pgt ls tasks), or give files / a dataset below
    type: str | None = None  # task type of your own files or dataset (default: classification)
    corpus_root: str | None = None  # where the corpus lives (default: the shared corpora folder or the built-in one)
    name: str | None = None
    train: str | dict[str, str] | None = None  # labelled training file, or {language: file}
    test: str | dict[str, str] | None = None  # labelled test file with a `lang` column, or {language: file}
    heldout: str | dict[str, str] | None = None  # labelled source-language dev file(s) (forgetting)
    documents: str | None = None  # labelled task documents for retrieval (optional)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> file/dataset column, e.g. {text: sentence}
    tag_column: int = -1  # CoNLL: the column holding the tag (the last one by default)
    dataset: str | None = None  # a datasets hub id or a save_to_disk folder (may contain {lang})
    dataset_config: str | None = None  # the hub config name (may contain {lang})
    splits: dict[str, str] = field(default_factory=dict)  # {train, heldout, test} -> dataset split names
    language_codes: dict[str, str] = field(default_factory=dict)  # language -> the code the dataset uses for it
    max_train_per_label: Annotated[int, Ge(1)] | None = None  # subsample the training set (k per label)
    max_train: Annotated[int, Ge(1)] | None = None  # at most this many training examples / sentences per source language
    max_test: Annotated[int, Ge(1)] | None = None  # at most this many test examples / sentences per target


@dataclass
class TaskCorpus:
    """What a task's loader hands the runner: per-language loaders and the task's documents and card.

    `train`, `heldout` and `test` take a canonical language code and return a dataset (TextDataset or
    TokenDataset) or None when the task has no such split for that language.
    """

    name: str
    train: Callable[[str], Any]
    test: Callable[[str], Any]
    heldout: Callable[[str], Any] = lambda lang: None
    documents: Any = None
    cards: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)  # languages with data, where the loader knows them


@dataclass(frozen=True)
class Task:
    """A registered task: a name, a type, its data card, its languages and how its data loads.

    `load(config, sources, targets)` returns a :class:`TaskCorpus`; `check(config, sources, targets)`
    returns every problem with the data it can find without loading a model (missing folders, malformed
    files, absent languages). Sources may be sets ("swh_Latn+hau_Latn").
    """

    name: str
    type: str
    description: str
    load: Callable[[TaskConfig, list[str], list[str]], TaskCorpus]
    check: Callable[[TaskConfig, list[str], list[str]], list[str]]
    languages: tuple[str, ...] = ()  # languages with data (empty: whatever the files hold)
    card: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # empty: the task type's
    strategies: tuple[str, ...] = ()  # a subset of the type's strategies (empty: all of them)
    builtin: bool = True

    @property
    def task_type(self) -> TaskType:
        return TASK_TYPES.get(self.type)

    @property
    def allowed_metrics(self) -> tuple[str, ...]:
        return self.metrics or self.task_type.metrics

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return tuple(m for m in self.task_type.default_metrics if m in self.allowed_metrics) or self.allowed_metrics

    @property
    def primary_metric(self) -> str:
        return self.task_type.primary_metric

    def allowed_strategies(self, strategies: Any) -> list[str]:
        """Names in the strategy registry `strategies` that fit this task (by their `tasks` tags)."""
        tags = self.task_type.strategy_tags
        names = [name for name, cls in strategies.items()
                 if set(getattr(cls, "tasks", {"classification"})) & tags]
        return [n for n in names if n in self.strategies] if self.strategies else names


TASKS: Registry[Task] = Registry("task")


def shared_root(config: TaskConfig, folder: str) -> Path:
    """`corpus_root`, else <shared corpora>/<folder>; DataError naming both ways when neither exists."""
    from polyglot_transfer.data.corpora import find_shared_corpora

    if config.corpus_root:
        root = Path(config.corpus_root).expanduser()
        if not root.is_dir():
            raise DataError(f"task.corpus_root {root} is not a folder. Point it at the {folder} folder.")
        return root
    shared = find_shared_corpora()
    if shared is None or not (shared / folder).is_dir():
        raise DataError(f"task.corpus {config.corpus!r} needs its data: set task.corpus_root to the {folder} folder "
                        "or PGT_CORPORA_DIR to the shared corpora folder; none was found.")
    return shared / folder
