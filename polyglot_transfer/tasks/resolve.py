"""Which Task a `task:` block names, and every problem with it (checked at `pgt validate` time)."""

from __future__ import annotations

from typing import Any

from polyglot_transfer.data.conll import TokenDataset
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import DataError, PGTError, did_you_mean
from polyglot_transfer.tasks import files
from polyglot_transfer.tasks.base import TASK_TYPES, TASKS, Task, TaskConfig

__all__ = ["as_texts", "check_task", "resolve_task", "task_texts"]


def resolve_task(config: TaskConfig) -> Task:
    """The Task a `task:` block names: a registered one (`corpus`), or one built from files or a dataset."""
    if config.corpus is not None:
        return TASKS.get(config.corpus)
    kind = config.type or "classification"
    TASK_TYPES.get(kind)
    if config.dataset:
        return files.dataset_task(kind)
    return files.files_task(kind)


def check_task(config: TaskConfig, sources: list[str], targets: list[str], where: str = "task") -> list[str]:
    """Every problem with a `task:` block and its data for `sources` and `targets`, without loading a model."""
    problems: list[str] = []
    if config.type is not None and config.type not in TASK_TYPES:
        problems.append(f"{where}.type {config.type!r} is unknown.{did_you_mean(config.type, TASK_TYPES)} "
                        f"Task types: {', '.join(TASK_TYPES)}.")
    if config.corpus is not None:
        if config.corpus not in TASKS:
            problems.append(f"{where}.corpus {config.corpus!r} is unknown.{did_you_mean(config.corpus, TASKS)} "
                            f"Registered tasks (pgt ls tasks): {', '.join(TASKS)}; or give train/test files or a "
                            "dataset.")
            return problems
        if config.dataset or config.train or config.test:
            problems.append(f"{where}: give either `corpus` ({config.corpus}) or your own data (train/test or "
                            "dataset), not both.")
        task = TASKS.get(config.corpus)
        if config.type is not None and config.type != task.type:
            problems.append(f"{where}.type is {config.type!r} but task {task.name!r} is a {task.type} task. "
                            "Remove `type` (a registered task declares it).")
    elif config.dataset is None and not (config.train and config.test):
        problems.append(f"{where} needs `corpus` (a registered task: {', '.join(TASKS)}), both `train` and `test` "
                        "files, or a `dataset` (hub id or save_to_disk folder).")
        return problems
    if problems:
        return problems
    task = resolve_task(config)
    if task.languages and not config.corpus_root:
        wanted = [*sources, *targets]
        missing = [lang for lang in dict.fromkeys(p for code in wanted for p in code.split("+"))
                   if lang not in task.languages]
        if missing:
            problems.append(f"{where}: task {task.name!r} has no data in {', '.join(missing)}; it has "
                            f"{', '.join(task.languages)}.")
            return problems
    try:
        problems.extend(f"{where}: {p}" for p in task.check(config, list(sources), list(targets)))
    except PGTError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def as_texts(ds: TextDataset | TokenDataset) -> TextDataset:
    """A TextDataset view of any task dataset (a tagged sentence becomes its tokens joined by spaces)."""
    if isinstance(ds, TextDataset):
        return ds
    return TextDataset([Example(s.id, " ".join(s.tokens), None, s.lang) for s in ds], name=ds.name)


def task_texts(name: str, languages: list[str] | None = None) -> tuple[TextDataset, Any]:
    """(the texts of a registered task in `languages` (default: every language it has), its documents).

    For diagnostics: each language's training and test texts, with `lang`. DataError when `name` is not a
    registered task (with did-you-mean) or the task has no text in any of the languages.
    """
    if name not in TASKS:
        raise DataError(f"{name!r} is not a registered task.{did_you_mean(name, TASKS)} Registered: {', '.join(TASKS)}.")
    task = TASKS.get(name)
    config = TaskConfig(corpus=name)
    corpus = task.load(config, [], list(languages or []))
    wanted = list(languages or corpus.languages or task.languages)
    parts = []
    for lang in wanted:
        for loader in (corpus.train, corpus.test):
            try:
                ds = loader(lang)
            except DataError:
                ds = None
            if ds is not None and len(ds):
                parts.append(as_texts(ds))
    if not parts:
        raise DataError(f"Task {name!r} has no texts in {', '.join(wanted) or 'any language'}.")
    seen, examples = set(), []
    for ex in (e for p in parts for e in p):
        if ex.id not in seen:
            seen.add(ex.id)
            examples.append(ex)
    return TextDataset(examples, name=corpus.name), corpus.documents
