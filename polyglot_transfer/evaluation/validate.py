"""Validate before work: every check `pgt compare` / `pgt adapt` make on a config, its data files and its run
folder, run before any model loads or any file is written. `pgt validate` runs exactly these checks, so a
config that passes it does not fail later for a reason it could have seen.

Checks, all reported at once:

1. the config itself (types, ranges, unknown keys, languages unique after alias resolution, the baseline
   is a setup, each strategy supports the model's family): :func:`~polyglot_transfer.evaluation.config.build_config`;
2. the model folder's weights are complete (safetensors headers against file sizes, no weights loaded);
3. the task's data: every file exists, is non-empty and parses (the loaders of ``data/``; reading is cheap),
   every target has test data, every source's training set has at least two labels;
4. the run folder can be written (no file in the way, writable), and a run already there was made with
   the same config (a different one would be refused by compare after its resolved config was replaced).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import ConfigError, DataError, IntegrityError, PGTError
from polyglot_transfer.evaluation.config import CompareConfig, build_config, read_config_file
from polyglot_transfer.evaluation.task_data import load_task_data
from polyglot_transfer.fileio import sha256_text
from polyglot_transfer.tasks import resolve_task

Problem = tuple[type[PGTError], str]  # (the error class whose exit code applies, the message)


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unusable (truncated, garbled header), or None; reads the header only."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{path} is truncated ({size} bytes; a safetensors file starts with an 8-byte header size)"
            n = int.from_bytes(head, "little")
            if n > min(size - 8, 100_000_000):
                return f"{path} is truncated or not a safetensors file (its header claims {n} bytes of {size})"
            header = json.loads(handle.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        return f"{path} has a garbled safetensors header ({exc})"
    if 8 + n + end > size:
        return f"{path} is truncated: its tensors need {8 + n + end} bytes, the file has {size}"
    return None


def check_model(config: CompareConfig) -> list[Problem]:
    """A local (or provisioned) model folder's weights are complete; nothing is loaded."""
    from polyglot_transfer.models.catalog import CATALOG
    from polyglot_transfer.models.provision import model_path

    folder = Path(config.model).expanduser()
    if not folder.is_dir() and config.model in CATALOG:
        folder = model_path(config.model)
    if not folder.is_dir():
        return []  # a catalog model not provisioned yet: compare pulls and verifies it
    how = ("provision it again: pgt models pull NAME --force" if config.model in CATALOG
           else "copy or save the model folder again")
    return [(IntegrityError, f"model: {problem}. The weights are damaged; {how}.")
            for weights in sorted(folder.rglob("*.safetensors"))
            if (problem := safetensors_problem(weights)) is not None]


def check_data(config: CompareConfig) -> list[Problem]:
    """Load the task's data (cheap: text files) and check what training and scoring need."""
    try:
        data = load_task_data(config)
    except PGTError as exc:
        return [(type(exc), str(exc))]
    except (UnicodeDecodeError, OSError) as exc:  # a loader that let an I/O error through
        return [(DataError, f"The task data cannot be read: {exc}")]
    problems: list[Problem] = []
    classification = resolve_task(config.task).type == "classification"
    for src, train in (data.trains.items() if classification else ()):
        labels = sorted({e.label for e in train if e.label is not None})
        if len(labels) < 2:
            problems.append((DataError, (
                f"task: the training set of source {src} ({train.name}, {len(train)} example(s)) has "
                f"{'one label' if labels else 'no labels'} ({', '.join(map(repr, labels)) or 'none'}); a "
                "classifier needs at least 2 labels. Add examples of the other labels or check the label column.")))
    for lang, test in data.tests.items():
        if len(test) == 0:
            problems.append((DataError, f"task: the test set of {lang} is empty. Add test rows for {lang} or "
                                        "remove it from target_languages."))
    return problems


def _run_dir(config: CompareConfig, run_dir: str | os.PathLike | None) -> Path:
    return Path(run_dir or config.output_dir or Path("runs") / config.name)


def check_run_folder(config: CompareConfig, run_dir: str | os.PathLike | None = None) -> list[Problem]:
    """The run folder can be created and written, and a run already in it used this config."""
    folder = _run_dir(config, run_dir)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "the run folder itself" if existing == folder else f"a parent of the run folder {folder}"
        return [(ConfigError, f"run folder: {existing} is a file, but it is {what}. Move the file away or "
                              "choose another folder (--output-dir or output_dir).")]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [(ConfigError, f"run folder: {existing} is not writable. Fix its permissions or choose another "
                              "folder (--output-dir or output_dir).")]
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return []  # compare rewrites a damaged manifest; nothing to compare against
        if isinstance(old, dict) and old.get("config_sha256") not in (
                None, sha256_text(json.dumps(config.to_dict(), sort_keys=True))):
            return [(ConfigError, f"run folder: {folder} holds a run with a different config or data (the config "
                                  "hash in its manifest.json differs). Resuming would mix results: use another "
                                  "output_dir (e.g. --set output_dir=runs/new) or delete the old folder.")]
    return []


def check_raw(raw: dict[str, Any], source: str, *, run_dir: str | os.PathLike | None = None,
              ) -> tuple[CompareConfig | None, list[Problem]]:
    """Every problem of a raw compare config: the config, then (when it is sound) its data and run folder."""
    config, messages = build_config(raw, source=source)
    if config is None:
        return None, [(ConfigError, m) for m in messages]
    problems = check_model(config) + check_data(config) + check_run_folder(config, run_dir)
    return (None if problems else config), problems


def raise_problems(problems: list[Problem], source: str) -> None:
    """One error listing every problem; its class (exit code) is the problems' own when they agree."""
    if not problems:
        return
    kinds = {kind for kind, _ in problems}
    kind = kinds.pop() if len(kinds) == 1 else ConfigError
    messages = [m for _, m in problems]
    raise kind(f"{len(messages)} problem(s) in {source}:\n- " + "\n- ".join(messages))


def validate_config(path: str | os.PathLike, overrides: list[str] | None = None, *,
                    run_dir: str | os.PathLike | None = None) -> list[str]:
    """Every problem in a compare config file, its data and its run folder, without loading a model."""
    try:
        raw = read_config_file(path, overrides)
    except ConfigError as exc:
        return [str(exc)]
    return [m for _, m in check_raw(raw, str(path), run_dir=run_dir)[1]]


def load_checked_config(path: str | os.PathLike, overrides: list[str] | None = None, *,
                        run_dir: str | os.PathLike | None = None) -> CompareConfig:
    """The config `pgt compare` runs: read, override, build and check everything; raises listing every problem."""
    config, problems = check_raw(read_config_file(path, overrides), str(path), run_dir=run_dir)
    raise_problems(problems, str(path))
    return config  # type: ignore[return-value]
