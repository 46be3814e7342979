"""Load what a compare config's `task` names (through the task registry): training data per source language,
per-language test sets, documents, and a held-out source-language set per source (to measure forgetting).

Datasets are TextDatasets (classification, generative QA) or TokenDatasets (token classification); both
have `ids`, `labels` (the gold a prediction is scored against), `label_set`, `texts` and `fingerprint()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polyglot_transfer.data.conll import TokenDataset
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.tasks import Task, resolve_task

Dataset = TextDataset | TokenDataset


@dataclass
class TaskData:
    name: str
    trains: dict[str, Dataset]  # source language code -> training set (config order)
    tests: dict[str, Dataset]  # target language code -> test set
    documents: TextDataset | None
    labels: list[str]  # class labels (classification) or tags (token classification)
    cards: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)  # language code -> "high" / "low", where a card says
    heldout: dict[str, Dataset] = field(default_factory=dict)  # source -> labelled dev/test set (forgetting)
    task: Task | None = None  # the registered task (type, metrics, card)

    @property
    def train(self) -> Dataset:
        """The training set of the first (primary) source language."""
        return next(iter(self.trains.values()))

    @property
    def type(self) -> str:
        return self.task.type if self.task is not None else "classification"


def _union(parts: list[Dataset], name: str) -> Dataset:
    if isinstance(parts[0], TokenDataset):
        return TokenDataset.concat(parts, name=name)
    return TextDataset([e for p in parts for e in p], name=name)


def _per_source(sources: list[str], load: Any, what: str) -> dict[str, Dataset]:
    """`load(lang)` for every source; a set "a+b" gets the union of its languages' examples."""
    out = {}
    for src in sources:
        parts = [load(lang) for lang in src.split("+")]
        if any(p is None for p in parts):
            continue
        out[src] = parts[0] if len(parts) == 1 else _union(parts, f"{what}-{src}")
    return out


def load_task_data(config: CompareConfig) -> TaskData:
    """Training data for every source in `config.sources`, a test set per target, documents, held-out sets."""
    task_config, sources, targets = config.task, list(config.sources), list(config.target_languages)
    task = resolve_task(task_config)
    corpus = task.load(task_config, sources, targets)
    name = corpus.name
    trains = _per_source(sources, corpus.train, "train")
    heldout = _per_source(sources, corpus.heldout, "heldout")
    all_tests = {lang: ds for lang in targets if (ds := corpus.test(lang)) is not None}
    for src in sources:
        if src not in trains or len(trains[src]) == 0:
            raise DataError(f"No training examples in source language {src} for task {name!r}. "
                            "Check `sources` (or source_language) and the data's lang column.")
    if task_config.max_train_per_label:
        if task.type != "classification":
            raise DataError(f"task.max_train_per_label samples k examples per class label; task {name!r} is a "
                            f"{task.type} task. Use task.max_train (examples or sentences per source) instead.")
        trains = {src: train.sample_per_label(task_config.max_train_per_label, seed=0) for src, train in trains.items()}
    if task_config.max_train:  # a set "a+b" keeps max_train per language, so pooling adds data
        trains = {src: _sample_per_language(train, task_config.max_train) if "+" in src else
                  _sample(train, task_config.max_train) for src, train in trains.items()}
    missing = [lang for lang in targets if lang not in all_tests]
    if missing:
        raise DataError(f"Task {name!r} has no test data for {', '.join(missing)}; it has "
                        f"{', '.join(sorted(all_tests)) or 'none of the targets'}.")
    tests = {lang: all_tests[lang] for lang in targets}
    if task_config.max_test:
        tests = {lang: _sample(ds, task_config.max_test) for lang, ds in tests.items()}
    labels = sorted(set().union(*(set(t.label_set) for t in trains.values())))
    if task.type == "generative_qa":
        return TaskData(name=name, trains=trains, tests=tests, documents=corpus.documents, labels=labels,
                        cards=corpus.cards, resource=corpus.resource, heldout=heldout, task=task)
    for src, train in trains.items():
        if sorted(train.label_set) != labels:
            raise DataError(f"The training data of source {src} has labels {sorted(train.label_set)} but the other "
                            f"sources have {labels}. Every source needs the same label set.")
    for lang, ds in tests.items():
        unknown = sorted(set(ds.label_set) - set(labels))
        if unknown:
            raise DataError(f"Test set {lang} has labels {unknown} that the training data never shows.")
    return TaskData(name=name, trains=trains, tests=tests, documents=corpus.documents, labels=labels,
                    cards=corpus.cards, resource=corpus.resource, heldout=heldout, task=task)


def _sample_per_language(ds: Dataset, n: int) -> Dataset:
    """At most n examples / sentences of each language of `ds` (seed 0), in language order."""
    langs = sorted({x.lang for x in ds})
    if isinstance(ds, TokenDataset):
        parts = [_sample(TokenDataset([x for x in ds if x.lang == lang], name=f"{ds.name}-{lang}"), n) for lang in langs]
    else:
        parts = [_sample(TextDataset([x for x in ds if x.lang == lang], name=f"{ds.name}-{lang}"), n) for lang in langs]
    return _union(parts, f"{ds.name}-sample{n}-per-language")


def _sample(ds: Dataset, n: int) -> Dataset:
    """At most n examples / sentences, drawn with seed 0 (the same subset on every run and resume)."""
    if len(ds) <= n:
        return ds
    if isinstance(ds, TokenDataset):
        return ds.sample(n, seed=0)
    import random

    keep = sorted(random.Random(0).sample(range(len(ds)), n))
    return TextDataset([ds[i] for i in keep], name=f"{ds.name}-sample{n}")
