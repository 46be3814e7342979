"""Integrity checks for the built-in demo corpus in corpora/agri_advice.

The corpus is data, not code, so these tests read the files with json/yaml only (no package imports):
they pin the counts promised in card.yaml and README.md, the pairing of test items across languages,
Unicode normalisation and the script of the Hindi and Yoruba texts.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "agri_advice"

LABELS = [
    "pests_diseases",
    "irrigation_water",
    "soil_fertilizer",
    "livestock_health",
    "market_prices",
    "weather_planting",
]
TEST_LANGS = ["eng_Latn", "fra_Latn", "hin_Deva", "swh_Latn", "hau_Latn", "yor_Latn", "zul_Latn"]
KEYS = {
    "train.jsonl": {"id", "text", "label", "lang"},
    "test.jsonl": {"id", "item", "text", "label", "lang"},
    "documents.jsonl": {"id", "title", "text", "label", "lang", "translation_of"},
}
TRAIN_PER_LABEL = 35
TEST_ITEMS_PER_LABEL = 10
DOCS_PER_LABEL_LANG = {"eng_Latn": 5, "swh_Latn": 2, "hau_Latn": 1}
TONE_MARKS = {"\u0300", "\u0301", "\u0304"}  # combining grave, acute, macron (after NFD)


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """Read one JSONL file of the corpus, failing with file:line on any malformed row."""
    path = CORPUS / name
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        pytest.fail(f"{path} starts with a UTF-8 BOM; save it as plain UTF-8")
    rows = []
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            pytest.fail(f"{path}:{n} is blank; JSONL files must have one object per line")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{path}:{n} is not valid JSON ({exc})")
        if not isinstance(row, dict):
            pytest.fail(f"{path}:{n} holds a {type(row).__name__}, expected a JSON object")
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def labels() -> dict[str, str]:
    return json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def card() -> dict[str, Any]:
    return yaml.safe_load((CORPUS / "card.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def files() -> dict[str, list[dict[str, Any]]]:
    return {name: load_jsonl(name) for name in KEYS}


@pytest.fixture(scope="module")
def train(files):
    return files["train.jsonl"]


@pytest.fixture(scope="module")
def test_rows(files):
    return files["test.jsonl"]


@pytest.fixture(scope="module")
def docs(files):
    return files["documents.jsonl"]


def test_labels_json_lists_the_six_labels_with_descriptions(labels):
    assert list(labels) == LABELS, f"labels.json keys are {list(labels)}, expected {LABELS} in this order"
    for label, desc in labels.items():
        assert isinstance(desc, str) and desc.strip(), f"labels.json: {label!r} has an empty description"
        assert desc.strip().endswith("."), f"labels.json: description of {label!r} should be one full sentence"


@pytest.mark.parametrize("name", sorted(KEYS))
def test_rows_have_exactly_the_documented_keys(files, name):
    for row in files[name]:
        assert set(row) == KEYS[name], (
            f"{name} row {row.get('id')!r} has keys {sorted(row)}, expected {sorted(KEYS[name])}"
        )
        for key in KEYS[name] - {"translation_of"}:  # translation_of: a document id or null (an original)
            assert isinstance(row[key], str), f"{name} row {row.get('id')!r}: {key!r} must be a string"


@pytest.mark.parametrize("name", sorted(KEYS))
def test_labels_are_known(files, labels, name):
    unknown = {row["label"] for row in files[name]} - set(labels)
    assert not unknown, f"{name} uses labels {sorted(unknown)} that are not in labels.json"


def test_train_is_english_with_35_per_label(train):
    langs = Counter(row["lang"] for row in train)
    assert langs == {"eng_Latn": 6 * TRAIN_PER_LABEL}, f"train.jsonl languages: {dict(langs)}"
    per_label = Counter(row["label"] for row in train)
    assert per_label == {lab: TRAIN_PER_LABEL for lab in LABELS}, f"train.jsonl per label: {dict(per_label)}"


def test_test_counts_per_label_and_language(test_rows):
    per_lang = Counter(row["lang"] for row in test_rows)
    expected = {lang: 6 * TEST_ITEMS_PER_LABEL for lang in TEST_LANGS}
    assert per_lang == expected, f"test.jsonl per language: {dict(per_lang)}, expected {expected}"
    per_pair = Counter((row["lang"], row["label"]) for row in test_rows)
    for lang in TEST_LANGS:
        for lab in LABELS:
            assert per_pair[(lang, lab)] == TEST_ITEMS_PER_LABEL, (
                f"test.jsonl has {per_pair[(lang, lab)]} {lang} rows labelled {lab}, expected {TEST_ITEMS_PER_LABEL}"
            )


def test_every_test_item_is_in_all_languages_with_one_label(test_rows):
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in test_rows:
        by_item[row["item"]].append(row)
        assert row["id"] == f"{row['item']}-{row['lang']}", (
            f"test id {row['id']!r} should be '<item>-<lang>' = {row['item']}-{row['lang']!r}"
        )
    assert len(by_item) == 6 * TEST_ITEMS_PER_LABEL, f"test.jsonl has {len(by_item)} items, expected 60"
    for item, rows in by_item.items():
        langs = sorted(row["lang"] for row in rows)
        assert langs == sorted(TEST_LANGS), (
            f"test item {item} has languages {langs}, expected each of {TEST_LANGS} once"
        )
        item_labels = {row["label"] for row in rows}
        assert len(item_labels) == 1, f"test item {item} has different labels across languages: {item_labels}"


def test_documents_have_8_per_label_in_the_documented_languages(docs):
    per_pair = Counter((row["label"], row["lang"]) for row in docs)
    expected = {(lab, lang): n for lab in LABELS for lang, n in DOCS_PER_LABEL_LANG.items()}
    assert per_pair == expected, f"documents.jsonl (label, lang) counts {dict(per_pair)} != {expected}"
    for row in docs:
        assert row["title"].strip(), f"document {row['id']} has an empty title"
        sentences = row["text"].count(". ") + 1
        assert 2 <= sentences <= 5, f"document {row['id']} has about {sentences} sentences, expected 2-5"


def test_ids_are_unique_and_well_formed(files):
    prefixes = {"train.jsonl": "train-", "test.jsonl": "test-", "documents.jsonl": "doc-"}
    seen: Counter[str] = Counter()
    for name, rows in files.items():
        for row in rows:
            assert row["id"].startswith(prefixes[name]), (
                f"{name}: id {row['id']!r} should start with {prefixes[name]!r}"
            )
            seen[row["id"]] += 1
    dupes = [i for i, n in seen.items() if n > 1]
    assert not dupes, f"duplicate ids across the corpus: {dupes}"


def test_text_is_nfc_nonempty_and_trimmed(files):
    for name, rows in files.items():
        for row in rows:
            for key in ("text", "title"):
                if key not in row:
                    continue
                value = row[key]
                assert value.strip(), f"{name} {row['id']}: empty {key}"
                assert value == value.strip(), f"{name} {row['id']}: {key} has leading/trailing whitespace"
                assert unicodedata.is_normalized("NFC", value), f"{name} {row['id']}: {key} is not NFC-normalised"


def test_no_duplicate_text_within_a_language(files):
    seen: dict[tuple[str, str], str] = {}
    for name, rows in files.items():
        for row in rows:
            key = (row["lang"], " ".join(row["text"].casefold().split()))
            assert key not in seen, f"{name} {row['id']} repeats the {row['lang']} text of {seen[key]}: {row['text']!r}"
            seen[key] = row["id"]


def test_card_matches_files(card, labels, train, test_rows, docs):
    assert card["name"] == "agri_advice", f"card name is {card['name']!r}, expected 'agri_advice'"
    assert card["license"] == "CC-BY-4.0", f"card licence is {card['license']!r}"
    assert card["labels"] == list(labels), f"card labels {card['labels']} != labels.json {list(labels)}"
    splits = card["splits"]
    actual = {
        ("train", "n"): len(train),
        ("train", "n_per_label"): TRAIN_PER_LABEL,
        ("train", "languages"): sorted({r["lang"] for r in train}),
        ("test", "n"): len(test_rows),
        ("test", "n_items"): len({r["item"] for r in test_rows}),
        ("test", "n_items_per_label"): TEST_ITEMS_PER_LABEL,
        ("test", "languages"): TEST_LANGS,
        ("documents", "n"): len(docs),
        ("documents", "n_per_label"): len(docs) // len(LABELS),
        ("documents", "n_per_language"): dict(Counter(r["lang"] for r in docs)),
    }
    for (split, key), value in actual.items():
        assert splits[split][key] == value, (
            f"card.yaml splits.{split}.{key} is {splits[split][key]!r} but the files give {value!r}; update card.yaml"
        )
    per_lang = Counter(r["lang"] for r in test_rows)
    card_langs = {entry["code"]: entry for entry in card["languages"]}
    assert list(card_langs) == TEST_LANGS, f"card languages {list(card_langs)} != {TEST_LANGS}"
    for code, entry in card_langs.items():
        assert entry["n_test"] == per_lang[code], (
            f"card.yaml says {entry['n_test']} {code} test rows, test.jsonl has {per_lang[code]}"
        )
        assert entry["resource"] in {"high", "low"}, f"{code}: resource must be high or low, got {entry['resource']!r}"
        assert entry["name"], f"{code}: empty language name"
    for section in ("description", "provenance", "intended_use", "limitations"):
        assert card.get(section), f"card.yaml is missing {section!r}"
    assert "not checked by native" in " ".join(card["provenance"].lower().split()), (
        "card.yaml provenance must say the translations were NOT checked by native speakers"
    )


def _devanagari_share(text: str) -> float:
    marks = [c for c in text if unicodedata.category(c)[0] in "LM"]
    dev = [c for c in marks if unicodedata.name(c, "").startswith("DEVANAGARI")]
    return len(dev) / len(marks) if marks else 0.0


def test_hindi_is_written_in_devanagari(test_rows):
    hindi = [r for r in test_rows if r["lang"] == "hin_Deva"]
    bad = [(r["id"], round(_devanagari_share(r["text"]), 2)) for r in hindi if _devanagari_share(r["text"]) < 0.95]
    assert not bad, f"Hindi rows whose letters are under 95% Devanagari (id, share): {bad}"


def test_devanagari_check_rejects_romanised_hindi():
    assert _devanagari_share("Meri bakri ko dast ho rahe hain.") == 0.0
    assert _devanagari_share("मेरी बकरी को दस्त हो रहे हैं।") == 1.0


def _has_tone_mark(text: str) -> bool:
    return any(c in TONE_MARKS for c in unicodedata.normalize("NFD", text))


def test_yoruba_carries_tone_marks_in_most_lines(test_rows):
    yoruba = [r for r in test_rows if r["lang"] == "yor_Latn"]
    unmarked = [r["id"] for r in yoruba if not _has_tone_mark(r["text"])]
    share = 1 - len(unmarked) / len(yoruba)
    assert share >= 0.9, f"only {share:.0%} of Yoruba rows carry tone marks; unmarked: {unmarked}"


def test_tone_mark_check_rejects_stripped_yoruba():
    assert _has_tone_mark("Ṣé òjò máa rọ̀ lọ́sẹ̀ yìí?")
    assert not _has_tone_mark("Se ojo maa ro lose yii?")
    assert not _has_tone_mark("Ṣe ọjọ")  # dot-below alone is not a tone mark


def test_english_test_items_do_not_leak_into_train(train, test_rows):
    def norm(text: str) -> str:
        return " ".join(text.casefold().split())

    train_texts = {norm(r["text"]) for r in train}
    leaked = [r["id"] for r in test_rows if r["lang"] == "eng_Latn" and norm(r["text"]) in train_texts]
    assert not leaked, f"English test items also present in train.jsonl: {leaked}"


def test_document_translations_link_to_a_document_of_the_same_topic_in_another_language(docs):
    by_id = {row["id"]: row for row in docs}
    linked = [row for row in docs if row["translation_of"] is not None]
    assert len(linked) == 16, f"{len(linked)} documents have translation_of, the card documents 16"
    for row in linked:
        original = by_id.get(row["translation_of"])
        assert original is not None, f"{row['id']} translates {row['translation_of']!r}, which is not a document"
        assert original["label"] == row["label"], f"{row['id']} and its original {original['id']} differ in label"
        assert original["lang"] != row["lang"], f"{row['id']} 'translates' {original['id']} into the same language"
    assert all(by_id[row["id"]]["lang"] == "eng_Latn" for row in docs if row["translation_of"] is None
               and row["id"] not in ("doc-007", "doc-015")), "only doc-007 and doc-015 are non-English originals"
