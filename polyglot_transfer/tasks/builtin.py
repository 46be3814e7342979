"""The built-in tasks: agri_advice (shipped), nusax, masakhaner and afriqa (from the shared corpora folder)."""

from __future__ import annotations

from pathlib import Path

from polyglot_transfer.data.conll import TokenDataset, load_conll
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError, LanguageError, PGTError
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.tasks.base import TASKS, Task, TaskConfig, TaskCorpus, shared_root

# -- agri_advice: the team's own corpus, shipped in corpora/agri_advice ---------------------------------


def _agri_card(card: dict) -> dict:
    return {
        "name": card.get("name", "agri_advice"),
        "description": card.get("description", ""),
        "licence": card.get("license", card.get("licence", "")),
        "languages": [lang.get("code", lang) if isinstance(lang, dict) else lang for lang in card.get("languages", [])],
        "how_made": card.get("provenance", card.get("how_made", "")),
    }


def _agri_load(config: TaskConfig, sources: list[str], targets: list[str]) -> TaskCorpus:
    from polyglot_transfer.data.corpora import load_demo_corpus

    corpus = load_demo_corpus(config.corpus_root)
    tests = corpus.test.by_language()
    resource = {lang["code"]: lang["resource"] for lang in corpus.card.get("languages", [])
                if isinstance(lang, dict) and "code" in lang and "resource" in lang}
    return TaskCorpus(name=config.name or "agri_advice", train=lambda lang: corpus.train.filter(lang=lang),
                      test=tests.get, heldout=tests.get, documents=corpus.documents,
                      cards=[_agri_card(corpus.card)], resource=resource,
                      languages=sorted(set(corpus.train.languages) | set(tests)))


def _agri_check(config: TaskConfig, sources: list[str], targets: list[str]) -> list[str]:
    from polyglot_transfer.data.corpora import load_demo_corpus

    corpus = load_demo_corpus(config.corpus_root)
    problems = []
    have_train, have_test = set(corpus.train.languages), set(corpus.test.languages)
    for src in sources:
        for lang in src.split("+"):
            if lang not in have_train:
                problems.append(f"agri_advice has no training data in {lang}; it has {', '.join(sorted(have_train))}.")
    missing = [lang for lang in targets if lang not in have_test]
    if missing:
        problems.append(f"agri_advice has no test data in {', '.join(missing)}; it has {', '.join(sorted(have_test))}.")
    return problems


# -- agri_advice_qa: the team's domain-QA set over the agri_advice documents (shipped) --------------------

#: Items (question + its translations) whose source-language rows train `ft` / `ft+rag` and give few-shot
#: demonstrations; the other items are the test questions in every language. Split by item, so no test
#: question is seen in training in any language.
AGRI_QA_TRAIN_ITEMS = ("qa-001", "qa-002", "qa-003", "qa-004")


def _agri_qa_rows(config: TaskConfig) -> tuple[TextDataset, TextDataset]:
    """(every QA row, the documents); rows without an answer, unknown languages or doc ids: DataError file:line."""
    from polyglot_transfer.data.corpora import demo_corpus_path, load_demo_corpus
    from polyglot_transfer.data.qa import load_qa_jsonl

    corpus = load_demo_corpus(config.corpus_root)
    rows = load_qa_jsonl(demo_corpus_path(config.corpus_root) / "qa.jsonl", doc_ids=corpus.documents.ids)
    return rows, corpus.documents


def _agri_qa_load(config: TaskConfig, sources: list[str], targets: list[str]) -> TaskCorpus:
    rows, documents = _agri_qa_rows(config)
    train = TextDataset([e for e in rows if e.meta["item"] in AGRI_QA_TRAIN_ITEMS], name="agri_advice_qa-train")
    test = TextDataset([e for e in rows if e.meta["item"] not in AGRI_QA_TRAIN_ITEMS], name="agri_advice_qa-test")
    trains, tests = train.by_language(), test.by_language()
    return TaskCorpus(name=config.name or "agri_advice_qa", train=trains.get, test=tests.get, heldout=lambda lang: None,
                      documents=documents, cards=[{**AGRI_QA_CARD, "languages": sorted(tests)}],
                      languages=sorted(tests))


def _agri_qa_check(config: TaskConfig, sources: list[str], targets: list[str]) -> list[str]:
    rows, _ = _agri_qa_rows(config)  # a row without an answer raises DataError naming file:line
    have = set(rows.languages)
    wanted = [lang for src in sources for lang in src.split("+")] + list(targets)
    missing = [lang for lang in dict.fromkeys(wanted) if lang not in have]
    return [f"agri_advice_qa has no questions in {', '.join(missing)}; it has {', '.join(sorted(have))}."] \
        if missing else []


AGRI_QA_CARD = {
    "name": "agri_advice QA",
    "description": "Ten farming questions with short reference answers, each in 7 languages, answered by English "
                   "advice documents of agri_advice (doc_id: the gold document; its Swahili and Hausa versions, linked by "
                   "translation_of in documents.jsonl, are gold passages too). Items qa-001..qa-004 are the "
                   "training / demonstration items, the other six the test questions.",
    "licence": "CC-BY-4.0",
    "how_made": "Written by the team; translations made with machine assistance, not checked by native speakers. "
                "A demo, not a benchmark: one question moves a language's score by 17 points.",
}

# -- NusaX sentiment -------------------------------------------------------------------------------------


def _nusax_load(config: TaskConfig, sources: list[str], targets: list[str]) -> TaskCorpus:
    from polyglot_transfer.data.nusax import NUSAX_LANGUAGES, load_nusax_sentiment

    root = shared_root(config, "nusax")
    langs = sorted(set(targets) | {lang for src in sources for lang in src.split("+")})
    return TaskCorpus(
        name=config.name or "nusax_sentiment",
        train=lambda lang: load_nusax_sentiment(root, lang, "train"),
        heldout=lambda lang: load_nusax_sentiment(root, lang, "valid"),
        test=lambda lang: load_nusax_sentiment(root, lang, "test"),
        cards=[{**NUSAX_CARD, "languages": langs}],
        resource={lang: "high" if lang in ("ind_Latn", "eng_Latn") else "low" for lang in langs},
        languages=list(NUSAX_LANGUAGES),
    )


def _nusax_check(config: TaskConfig, sources: list[str], targets: list[str]) -> list[str]:
    root = shared_root(config, "nusax")
    if not (root / "datasets" / "sentiment").is_dir():
        return [f"{root} has no datasets/sentiment folder; point task.corpus_root at the NusaX folder."]
    return []


NUSAX_CARD = {
    "name": "NusaX-senti",
    "description": "Sentiment (negative/neutral/positive), the same sentences translated into 10 local languages "
                   "of Indonesia, Indonesian and English.",
    "licence": "CC BY-SA 4.0",
    "how_made": "Translated and verified by native speakers (Winata et al., EACL 2023).",
}

# -- MasakhaNER 1.0 and the user's own CoNLL folders of the same layout ----------------------------------

MASAKHANER_FOLDERS = ("amh", "hau", "ibo", "kin", "lug", "luo", "pcm", "swa", "wol", "yor")
MASAKHANER_CARD = {
    "name": "MasakhaNER 1.0",
    "description": "Named entities (PER, ORG, LOC, DATE) in news text of 10 African languages, CoNLL IOB2, "
                   "train/dev/test per language.",
    "licence": "CC BY-NC 4.0",
    "how_made": "News articles annotated by native speakers (Adelani et al., TACL 2021); "
                "masakhane-io/masakhane-ner, data/.",
}
SPLIT_FILES = {"train": "train.txt", "heldout": "dev.txt", "test": "test.txt"}


def conll_folders(root: Path) -> dict[str, Path]:
    """Canonical language code -> folder, for every sub-folder of `root` (or root/data) named by a language."""
    base = root / "data" if (root / "data").is_dir() else root
    out = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            out[resolve_language(folder.name).code] = folder
        except LanguageError:
            continue
    if not out:
        raise DataError(f"{base} holds no language folders (expected e.g. {base}/hau/train.txt, the MasakhaNER "
                        "layout: <language>/{train,dev,test}.txt in CoNLL format).")
    return out


def _conll_file(folders: dict[str, Path], lang: str, split: str) -> Path | None:
    folder = folders.get(lang)
    path = folder / SPLIT_FILES[split] if folder else None
    return path if path is not None and path.is_file() else None


def _conll_load(config: TaskConfig, sources: list[str], targets: list[str]) -> TaskCorpus:
    folders = conll_folders(shared_root(config, "masakhaner"))

    def loader(split: str):
        def load(lang: str) -> TokenDataset | None:
            path = _conll_file(folders, lang, split)
            return None if path is None else load_conll(path, lang, tag_column=config.tag_column,
                                                          name=f"masakhaner-{lang}-{split}", id_prefix=f"{lang}-{split}")
        return load

    langs = sorted(set(targets) | {lang for src in sources for lang in src.split("+")})
    card = MASAKHANER_CARD if not config.corpus_root else {
        "name": config.name or "CoNLL NER", "description": f"CoNLL NER files under {config.corpus_root}",
        "licence": "", "how_made": ""}
    return TaskCorpus(name=config.name or "masakhaner", train=loader("train"), heldout=loader("heldout"),
                      test=loader("test"), cards=[{**card, "languages": langs}], languages=list(folders))


def _conll_check(config: TaskConfig, sources: list[str], targets: list[str]) -> list[str]:
    """Every needed file exists and parses (a malformed line is reported as file:line)."""
    folders = conll_folders(shared_root(config, "masakhaner"))
    problems = []
    needs = [(lang, "train") for src in sources for lang in src.split("+")] + [(lang, "test") for lang in targets]
    for lang, split in dict.fromkeys(needs):
        path = _conll_file(folders, lang, split)
        if path is None:
            problems.append(f"no {SPLIT_FILES[split]} for {lang}: languages with data are "
                            f"{', '.join(folders)} (folders <language>/{SPLIT_FILES[split]}).")
            continue
        try:
            load_conll(path, lang, tag_column=config.tag_column)
        except PGTError as exc:
            problems.append(str(exc))
    return problems


# -- AfriQA: generative QA (questions in African languages, gold passages as documents) -----------------

AFRIQA_CARD = {
    "name": "AfriQA",
    "description": "Open-retrieval questions in 10 African languages with answers in the question's language and "
                   "in the pivot language (English or French) and gold Wikipedia passages in the pivot language.",
    "licence": "CC BY 4.0",
    "how_made": "Questions written and answered by native speakers (Ogundepo et al., Findings of EMNLP 2023); "
                "masakhane-io/afriqa, data/.",
}


def _afriqa_load(config: TaskConfig, sources: list[str], targets: list[str]) -> TaskCorpus:
    from polyglot_transfer.data.afriqa import AFRIQA_LANGUAGES, load_afriqa_passages, load_afriqa_queries

    root = shared_root(config, "afriqa")

    def split(name: str):
        def load(lang: str) -> TextDataset | None:
            try:
                return load_afriqa_queries(root, lang, name)
            except DataError:
                return None
        return load

    passages = []
    for lang in targets:
        for name in ("train", "dev", "test"):
            try:
                passages.append(load_afriqa_passages(root, lang, name))
            except DataError:
                continue
    documents = None
    if passages:
        seen, merged = set(), []
        for ex in (e for p in passages for e in p):
            if ex.id not in seen:
                seen.add(ex.id)
                merged.append(ex)
        documents = TextDataset(merged, name="afriqa-gold-passages")
    langs = sorted(set(targets) | {lang for src in sources for lang in src.split("+")})
    return TaskCorpus(name=config.name or "afriqa", train=split("train"), heldout=split("dev"), test=split("test"),
                      documents=documents, cards=[{**AFRIQA_CARD, "languages": langs}],
                      languages=list(AFRIQA_LANGUAGES))


def _afriqa_check(config: TaskConfig, sources: list[str], targets: list[str]) -> list[str]:
    root = shared_root(config, "afriqa")
    if not (root / "data" / "queries").is_dir():
        return [f"{root} has no data/queries folder; point task.corpus_root at the AfriQA folder."]
    return []


def _register() -> None:
    from polyglot_transfer.data.afriqa import AFRIQA_LANGUAGES
    from polyglot_transfer.data.nusax import NUSAX_LANGUAGES

    TASKS.add("agri_advice", Task(
        "agri_advice", "classification", "farming advice topics in 7 languages, written by the team (shipped)",
        load=_agri_load, check=_agri_check, card={"name": "agri_advice", "shipped": "corpora/agri_advice"}))
    TASKS.add("agri_advice_qa", Task(
        "agri_advice_qa", "generative_qa", "farming questions and short answers in 7 languages over the agri_advice "
        "documents (shipped, generative QA)", load=_agri_qa_load, check=_agri_qa_check, card=AGRI_QA_CARD))
    TASKS.add("nusax", Task(
        "nusax", "classification", "NusaX sentiment: 10 local languages of Indonesia + ind + eng (shared corpora)",
        load=_nusax_load, check=_nusax_check, languages=tuple(NUSAX_LANGUAGES), card=NUSAX_CARD))
    TASKS.add("masakhaner", Task(
        "masakhaner", "token_classification",
        "MasakhaNER 1.0 named entities in 10 African languages (shared corpora; or corpus_root: your own CoNLL "
        "folders <language>/{train,dev,test}.txt)",
        load=_conll_load, check=_conll_check,
        languages=tuple(resolve_language(f).code for f in MASAKHANER_FOLDERS), card=MASAKHANER_CARD))
    TASKS.add("afriqa", Task(
        "afriqa", "generative_qa", "AfriQA: questions in 10 African languages, gold passages as documents "
        "(shared corpora)", load=_afriqa_load, check=_afriqa_check, languages=tuple(AFRIQA_LANGUAGES),
        card=AFRIQA_CARD))


_register()
