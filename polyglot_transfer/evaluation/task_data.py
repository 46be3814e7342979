"""Load what a compare config's `task` names: source training data, per-language test sets, documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import CompareConfig


@dataclass
class TaskData:
    name: str
    train: TextDataset
    tests: dict[str, TextDataset]  # language code -> test set
    documents: TextDataset | None
    labels: list[str]
    cards: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)  # language code -> "high" / "low", where a card says


def _nusax_root(config: CompareConfig) -> Path:
    from polyglot_transfer.data.corpora import find_shared_corpora

    if config.task.corpus_root:
        return Path(config.task.corpus_root)
    shared = find_shared_corpora()
    if shared is None:
        raise DataError(
            "task.corpus is 'nusax' but no corpus_root was given and no shared corpora folder was found. "
            "Set task.corpus_root to the NusaX folder (the one holding datasets/sentiment) or PGT_CORPORA_DIR."
        )
    return shared / "nusax"


def load_task_data(config: CompareConfig) -> TaskData:
    task, src = config.task, config.source_language
    cards: list[dict[str, Any]] = []
    resource: dict[str, str] = {}
    if task.corpus == "agri_advice":
        from polyglot_transfer.data.corpora import load_demo_corpus

        corpus = load_demo_corpus(task.corpus_root)
        train = corpus.train.filter(lang=src)
        all_tests = corpus.test.by_language()
        documents = corpus.documents
        card = corpus.card
        cards.append({
            "name": card.get("name", "agri_advice"),
            "description": card.get("description", ""),
            "licence": card.get("license", card.get("licence", "")),
            "languages": [lang.get("code", lang) if isinstance(lang, dict) else lang for lang in card.get("languages", [])],
            "how_made": card.get("provenance", card.get("how_made", "")),
        })
        resource = {lang["code"]: lang["resource"] for lang in card.get("languages", [])
                    if isinstance(lang, dict) and "code" in lang and "resource" in lang}
        name = task.name or "agri_advice"
    elif task.corpus == "nusax":
        from polyglot_transfer.data.nusax import load_nusax_sentiment

        root = _nusax_root(config)
        train = load_nusax_sentiment(root, src, "train")
        all_tests = {lang: load_nusax_sentiment(root, lang, "test") for lang in config.target_languages}
        documents = None
        cards.append({"name": "NusaX-senti", "description": "Sentiment (negative/neutral/positive), the same sentences "
                      "translated into 10 local languages of Indonesia, Indonesian and English.",
                      "licence": "CC BY-SA 4.0", "languages": sorted(all_tests),
                      "how_made": "Translated and verified by native speakers (Winata et al., EACL 2023)."})
        resource = {lang: "high" if lang in ("ind_Latn", "eng_Latn") else "low" for lang in all_tests}
        name = task.name or "nusax_sentiment"
    else:
        from polyglot_transfer.data.loaders import load_table

        cols = task.columns or None
        train = load_table(task.train, columns=cols, lang=src, label_required=True).filter(lang=src)
        all_tests = load_table(task.test, columns=cols, label_required=True).by_language()
        documents = load_table(task.documents, columns=cols, label_required=True) if task.documents else None
        name = task.name or Path(task.train).stem
    if len(train) == 0:
        raise DataError(f"No training examples in source language {src} for task {name!r}. "
                        "Check source_language and the data's lang column.")
    if task.max_train_per_label:
        train = train.sample_per_label(task.max_train_per_label, seed=0)
    missing = [lang for lang in config.target_languages if lang not in all_tests]
    if missing:
        raise DataError(f"Task {name!r} has no test data for {', '.join(missing)}; it has {', '.join(sorted(all_tests))}.")
    tests = {lang: all_tests[lang] for lang in config.target_languages}
    labels = train.label_set
    for lang, ds in tests.items():
        unknown = sorted(set(ds.label_set) - set(labels))
        if unknown:
            raise DataError(f"Test set {lang} has labels {unknown} that the training data never shows.")
    return TaskData(name=name, train=train, tests=tests, documents=documents, labels=labels, cards=cards,
                    resource=resource)
