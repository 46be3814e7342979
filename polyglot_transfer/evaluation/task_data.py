"""Load what a compare config's `task` names: training data per source language, per-language test sets,
documents, and a held-out source-language set per source (to measure forgetting)."""

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
    trains: dict[str, TextDataset]  # source language code -> training set (config order)
    tests: dict[str, TextDataset]  # target language code -> test set
    documents: TextDataset | None
    labels: list[str]
    cards: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)  # language code -> "high" / "low", where a card says
    heldout: dict[str, TextDataset] = field(default_factory=dict)  # source -> labelled dev/test set (forgetting)

    @property
    def train(self) -> TextDataset:
        """The training set of the first (primary) source language."""
        return next(iter(self.trains.values()))


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


def _per_source(sources: list[str], load: Any, what: str) -> dict[str, TextDataset]:
    """`load(lang)` for every source; a set "a+b" gets the union of its languages' examples."""
    out = {}
    for src in sources:
        parts = [load(lang) for lang in src.split("+")]
        if any(p is None for p in parts):
            continue
        out[src] = parts[0] if len(parts) == 1 else TextDataset(
            [e for p in parts for e in p], name=f"{what}-{src}")
    return out


def load_task_data(config: CompareConfig) -> TaskData:
    """Training data for every source in `config.sources`, a test set per target, documents, held-out sets."""
    task, sources = config.task, list(config.sources)
    cards: list[dict[str, Any]] = []
    resource: dict[str, str] = {}
    heldout: dict[str, TextDataset] = {}
    if task.corpus == "agri_advice":
        from polyglot_transfer.data.corpora import load_demo_corpus

        corpus = load_demo_corpus(task.corpus_root)
        trains = _per_source(sources, lambda lang: corpus.train.filter(lang=lang), "train")
        all_tests = corpus.test.by_language()
        heldout = _per_source(sources, all_tests.get, "heldout")
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
        trains = _per_source(sources, lambda lang: load_nusax_sentiment(root, lang, "train"), "train")
        heldout = _per_source(sources, lambda lang: load_nusax_sentiment(root, lang, "valid"), "heldout")
        all_tests = {lang: load_nusax_sentiment(root, lang, "test") for lang in config.target_languages}
        documents = None
        cards.append({"name": "NusaX-senti", "description": "Sentiment (negative/neutral/positive), the same sentences "
                      "translated into 10 local languages of Indonesia, Indonesian and English.",
                      "licence": "CC BY-SA 4.0",
                      "languages": sorted(set(all_tests) | {lang for src in sources for lang in src.split("+")}),
                      "how_made": "Translated and verified by native speakers (Winata et al., EACL 2023)."})
        resource = {lang: "high" if lang in ("ind_Latn", "eng_Latn") else "low" for lang in all_tests}
        name = task.name or "nusax_sentiment"
    else:
        from polyglot_transfer.data.loaders import load_table

        cols = task.columns or None
        # a train file without a lang column is in the (single) source language
        default_lang = sources[0] if len(sources) == 1 and "+" not in sources[0] else None
        table = load_table(task.train, columns=cols, lang=default_lang, label_required=True)
        trains = _per_source(sources, lambda lang: table.filter(lang=lang), "train")
        all_tests = load_table(task.test, columns=cols, label_required=True).by_language()
        heldout = _per_source(sources, all_tests.get, "heldout")
        documents = load_table(task.documents, columns=cols, label_required=True) if task.documents else None
        name = task.name or Path(task.train).stem
    for src, train in trains.items():
        if len(train) == 0:
            raise DataError(f"No training examples in source language {src} for task {name!r}. "
                            "Check `sources` (or source_language) and the data's lang column.")
    if task.max_train_per_label:
        trains = {src: train.sample_per_label(task.max_train_per_label, seed=0) for src, train in trains.items()}
    missing = [lang for lang in config.target_languages if lang not in all_tests]
    if missing:
        raise DataError(f"Task {name!r} has no test data for {', '.join(missing)}; it has {', '.join(sorted(all_tests))}.")
    tests = {lang: all_tests[lang] for lang in config.target_languages}
    labels = sorted(set().union(*(set(t.label_set) for t in trains.values())))
    for src, train in trains.items():
        if sorted(train.label_set) != labels:
            raise DataError(f"The training data of source {src} has labels {sorted(train.label_set)} but the other "
                            f"sources have {labels}. Every source needs the same label set.")
    for lang, ds in tests.items():
        unknown = sorted(set(ds.label_set) - set(labels))
        if unknown:
            raise DataError(f"Test set {lang} has labels {unknown} that the training data never shows.")
    return TaskData(name=name, trains=trains, tests=tests, documents=documents, labels=labels, cards=cards,
                    resource=resource, heldout=heldout)
