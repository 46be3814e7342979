"""Which Task a `task:` block names, and every problem with it (checked at `pgt validate` time)."""

from __future__ import annotations

from polyglot_transfer.errors import PGTError, did_you_mean
from polyglot_transfer.tasks import files
from polyglot_transfer.tasks.base import TASK_TYPES, TASKS, Task, TaskConfig

__all__ = ["check_task", "resolve_task"]


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
