"""Tasks over the user's own data: files (JSONL/CSV/TSV tables, CoNLL) or a `datasets` dataset (a hub id or
a folder written by ``save_to_disk``), of a declared task type.

Files: ``train`` / ``test`` / ``heldout`` are one path or a mapping language -> path. A table needs a
``lang`` column unless it is in one language (the single source, or the mapping's key); CoNLL files have
no language column, so a CoNLL ``test`` is a mapping (or one file when there is one target).

Datasets: ``dataset`` is a hub id or a folder; ``{lang}`` in it (or in ``dataset_config``) is replaced by
the language's code as the dataset writes it (a folder is written as an absolute, ./ or ~/ path) (``language_codes``: {hau_Latn: hau}; default the code as
written in the config). Without ``{lang}`` the dataset needs a language column (``columns: {lang: ...}``).
``splits`` maps train / heldout / test to the dataset's split names (default train / validation / test).
Columns: text, label (classification) or tokens, tags (token_classification); ClassLabel ids become names.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from polyglot_transfer.data.conll import TokenDataset, TokenSentence, load_conll
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import DataError, LanguageError, PGTError
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.tasks.base import Task, TaskConfig, TaskCorpus

logger = logging.getLogger(__name__)

DEFAULT_SPLITS = {"train": "train", "heldout": "validation", "test": "test"}
DEFAULT_COLUMNS = {
    "classification": {"text": "text", "label": "label", "lang": "lang", "id": "id"},
    "token_classification": {"tokens": "tokens", "tags": "ner_tags", "lang": "lang", "id": "id"},
    "generative_qa": {"text": "question", "label": "answer", "lang": "lang", "id": "id"},
}


def _by_language(value: str | dict[str, str] | None, default_lang: str | None, what: str) -> dict[str, Path] | Path | None:
    """A mapping language -> path (canonical codes), or one path (whose rows carry their language)."""
    if value is None:
        return None
    if isinstance(value, dict):
        out = {}
        for key, path in value.items():
            try:
                out[resolve_language(str(key)).code] = Path(path).expanduser()
            except LanguageError as exc:
                raise DataError(f"task.{what}: key {key!r}: {exc}") from None
        return out
    return Path(value).expanduser()


def _single(langs: list[str]) -> str | None:
    return langs[0] if len(langs) == 1 and "+" not in langs[0] else None


# -- files ----------------------------------------------------------------------------------------------


def _table_loader(config: TaskConfig, value: Any, default_lang: str | None, what: str):
    from polyglot_transfer.data.loaders import load_table

    spec = _by_language(value, default_lang, what)
    cols = config.columns or None
    if spec is None:
        return lambda lang: None
    if isinstance(spec, dict):
        cache_: dict[str, TextDataset] = {}

        def load_one(lang: str) -> TextDataset | None:
            if lang not in spec:
                return None
            if lang not in cache_:
                cache_[lang] = load_table(spec[lang], columns=cols, lang=lang, label_required=True)
            return cache_[lang]
        return load_one
    table = load_table(spec, columns=cols, lang=default_lang, label_required=True)
    parts = table.by_language()
    return parts.get


def _conll_loader(config: TaskConfig, value: Any, default_lang: str | None, what: str):
    spec = _by_language(value, default_lang, what)
    if spec is None:
        return lambda lang: None
    if not isinstance(spec, dict):
        if default_lang is None:
            raise DataError(f"task.{what} is one CoNLL file ({spec}) but CoNLL files carry no language and there is "
                            f"not exactly one language to give it. Write task.{what} as a mapping "
                            "{language: file}, e.g. {hau_Latn: data/hau/test.txt}.")
        spec = {default_lang: spec}
    return lambda lang: (load_conll(spec[lang], lang, tag_column=config.tag_column, name=f"{spec[lang].stem}-{lang}",
                                    id_prefix=f"{lang}-{what}-{spec[lang].stem}") if lang in spec else None)


def _files_load(config: TaskConfig, sources: list[str], targets: list[str], kind: str) -> TaskCorpus:
    from polyglot_transfer.data.loaders import load_table

    make = _conll_loader if kind == "token_classification" else _table_loader
    train = make(config, config.train, _single(sources), "train")
    test = make(config, config.test, _single(targets), "test")
    heldout = make(config, config.heldout, _single(sources), "heldout") if config.heldout else test
    documents = (load_table(config.documents, columns=config.columns or None, label_required=True)
                 if config.documents else None)
    first = config.train if isinstance(config.train, str) else next(iter((config.train or {}).values()), "task")
    return TaskCorpus(name=config.name or Path(first).stem, train=train, test=test, heldout=heldout,
                      documents=documents)


def _files_check(config: TaskConfig, sources: list[str], targets: list[str], kind: str) -> list[str]:
    problems = []
    for what in ("train", "test", "heldout"):
        spec = getattr(config, what)
        paths = spec.values() if isinstance(spec, dict) else [spec] if spec else []
        for path in paths:
            if not Path(path).expanduser().is_file():
                problems.append(f"{what} file {path} does not exist.")
    if config.documents and not Path(config.documents).expanduser().is_file():
        problems.append(f"documents file {config.documents} does not exist.")
    if problems or kind != "token_classification":
        return problems
    try:  # CoNLL files are cheap to parse: a malformed line is reported now, as file:line, before any training
        corpus = _files_load(config, sources, targets, kind)
        for lang in dict.fromkeys(lang for src in sources for lang in src.split("+")):
            if corpus.train(lang) is None:
                problems.append(f"no training file for source {lang}; task.train has {_keys(config.train)}.")
        for lang in targets:
            if corpus.test(lang) is None:
                problems.append(f"no test file for target {lang}; task.test has {_keys(config.test)}.")
    except PGTError as exc:
        problems.append(str(exc))
    return problems


def _keys(spec: Any) -> str:
    return ", ".join(spec) if isinstance(spec, dict) else "one file"


@cache
def files_task(kind: str) -> Task:
    return Task(name="files", type=kind, description=f"your own {kind} files",
                load=lambda c, s, t: _files_load(c, s, t, kind), check=lambda c, s, t: _files_check(c, s, t, kind),
                builtin=False)


# -- datasets (hub id or save_to_disk folder) ------------------------------------------------------------


def _names(feature: Any) -> list[str] | None:
    """ClassLabel names of a feature (or of a Sequence / list of ClassLabel), else None."""
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    target = inner if inner is not None else feature
    return list(target.names) if hasattr(target, "names") else None


def _local(dataset: str) -> bool:
    """A folder path (absolute, ./, ../ or ~/) rather than a hub id (owner/name)."""
    return dataset.startswith((".", "/", "~"))


def _open(config: TaskConfig, lang_code: str | None, split: str) -> Any:
    """One split of the dataset (for one language when the id has {lang}); None when it has no such split."""
    import datasets

    ident = config.dataset.replace("{lang}", lang_code or "")
    name = config.dataset_config.replace("{lang}", lang_code or "") if config.dataset_config else None
    folder = Path(ident).expanduser()
    if folder.exists():
        loaded = datasets.load_from_disk(str(folder))
        if isinstance(loaded, datasets.DatasetDict):
            return loaded[split] if split in loaded else None
        return loaded if split in ("train", DEFAULT_SPLITS["train"]) else None
    if _local(config.dataset):
        return None  # a (per-language) folder that does not exist: no data in that language
    try:
        return datasets.load_dataset(ident, name, split=split)
    except ValueError:  # unknown split
        return None
    except Exception as exc:  # noqa: BLE001  (hub, network and script errors all mean: cannot load)
        raise DataError(f"task.dataset {ident!r} (config {name!r}, split {split!r}) could not be loaded: {exc}. "
                        "Check the hub id and config, or give a folder written by save_to_disk (offline).") from None


def _rows(config: TaskConfig, kind: str, ds: Any, lang: str, split: str) -> Any:
    cols = {**DEFAULT_COLUMNS[kind], **config.columns}
    features = ds.features
    lang_col = cols["lang"] if "{lang}" not in config.dataset + (config.dataset_config or "") else None
    if lang_col and lang_col not in ds.column_names:
        raise DataError(f"task.dataset {config.dataset!r} has no language column {lang_col!r} (columns: "
                        f"{', '.join(ds.column_names)}). Map it with task.columns.lang, or put {{lang}} in the "
                        "dataset id or config.")
    wanted = ("tokens", "tags") if kind == "token_classification" else ("text", "label")
    for key in wanted:
        if cols[key] not in ds.column_names:
            raise DataError(f"task.dataset {config.dataset!r} split {split!r} has no {key} column {cols[key]!r} "
                            f"(columns: {', '.join(ds.column_names)}). Map it with task.columns.{key}.")
    code = config.language_codes.get(lang, lang)
    names = _names(features[cols[wanted[1]]])
    out = []
    for i, row in enumerate(ds):
        if lang_col and str(row[lang_col]) not in (lang, code):
            continue
        rid = str(row[cols["id"]]) if cols["id"] in row and row[cols["id"]] is not None else str(i)
        rid = f"{lang}-{split}-{rid}"
        value = row[cols[wanted[1]]]
        if kind == "token_classification":
            tags = [names[t] if names and isinstance(t, int) else str(t) for t in value]
            out.append(TokenSentence(rid, [str(t) for t in row[cols["tokens"]]], tags, lang))
        else:
            label = names[value] if names and isinstance(value, int) else value
            out.append(Example(rid, str(row[cols["text"]]), None if label is None else str(label), lang))
    if not out:
        return None
    name = f"{Path(config.dataset).name}-{lang}-{split}"
    return TokenDataset(out, name=name) if kind == "token_classification" else TextDataset(out, name=name)


def _dataset_load(config: TaskConfig, sources: list[str], targets: list[str], kind: str) -> TaskCorpus:
    splits = {**DEFAULT_SPLITS, **config.splits}

    def loader(which: str):
        def load(lang: str) -> Any:
            code = config.language_codes.get(lang, lang)
            ds = _open(config, code, splits[which])
            return None if ds is None else _rows(config, kind, ds, lang, which)
        return load

    return TaskCorpus(name=config.name or Path(config.dataset).name.replace("{lang}", "").strip("-_") or "dataset",
                      train=loader("train"), heldout=loader("heldout"), test=loader("test"),
                      cards=[{"name": config.name or config.dataset, "description": f"datasets: {config.dataset}"
                              + (f" ({config.dataset_config})" if config.dataset_config else ""),
                              "licence": "", "how_made": "", "languages": sorted(set(targets))}])


def _dataset_check(config: TaskConfig, sources: list[str], targets: list[str], kind: str) -> list[str]:
    problems = [f"splits: unknown key {k!r}; expected train, heldout, test." for k in config.splits
                if k not in DEFAULT_SPLITS]
    if "{lang}" in config.dataset:
        for lang in dict.fromkeys([*(p for s in sources for p in s.split("+")), *targets]):
            code = config.language_codes.get(lang, lang)
            folder = Path(config.dataset.replace("{lang}", code)).expanduser()
            if _local(config.dataset) and not folder.exists():
                problems.append(f"dataset folder {folder} (for {lang}) does not exist.")
    elif _local(config.dataset) and not Path(config.dataset).expanduser().exists():
        problems.append(f"dataset folder {config.dataset} does not exist (a save_to_disk folder or a hub id).")
    return problems


@cache
def dataset_task(kind: str) -> Task:
    return Task(name="dataset", type=kind, description=f"a datasets {kind} dataset (hub id or save_to_disk folder)",
                load=lambda c, s, t: _dataset_load(c, s, t, kind), check=lambda c, s, t: _dataset_check(c, s, t, kind),
                builtin=False)
