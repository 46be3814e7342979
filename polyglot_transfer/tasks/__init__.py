"""tasks/: the task registry. A task (name, type, data loader, metrics, allowed strategies, data card) is
declared once here; config validation, the compare runner, diagnostics, the CLI and the report read it.

    >>> from polyglot_transfer.tasks import TASKS
    >>> sorted(TASKS)
    ['afriqa', 'agri_advice', 'agri_advice_qa', 'masakhaner', 'nusax']
"""

from polyglot_transfer.tasks.base import (
    TASK_TYPES,
    TASKS,
    Task,
    TaskConfig,
    TaskCorpus,
    TaskType,
)
from polyglot_transfer.tasks.resolve import as_texts, check_task, resolve_task, task_texts
from polyglot_transfer.tasks import builtin as _builtin  # noqa: F401,E402  (registers the built-in tasks)

__all__ = [
    "TASKS", "TASK_TYPES", "Task", "TaskConfig", "TaskCorpus", "TaskType", "as_texts", "check_task", "resolve_task",
    "task_texts",
]
