"""The shipped agri_advice QA set (corpora/agri_advice/qa.jsonl) and the QA JSONL loader (data/qa.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from polyglot_transfer.data.qa import load_qa_jsonl
from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import script_of_text
from polyglot_transfer.measure.metrics import normalize_answer

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "agri_advice"
LANGS = ["eng_Latn", "fra_Latn", "hin_Deva", "swh_Latn", "hau_Latn", "yor_Latn", "zul_Latn"]


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    rows = [json.loads(line) for line in (CORPUS / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def qa(docs):
    return load_qa_jsonl(CORPUS / "qa.jsonl", doc_ids=docs)


def test_shipped_qa_set_has_every_question_in_seven_languages(qa):
    per_lang = Counter(ex.lang for ex in qa)
    assert per_lang == {lang: 10 for lang in LANGS}
    items = Counter(ex.meta["item"] for ex in qa)
    assert len(items) == 10 and set(items.values()) == {7}
    for item in items:
        rows = [ex for ex in qa if ex.meta["item"] == item]
        assert len({ex.meta["doc_id"] for ex in rows}) == 1, f"{item}: translations name different gold passages"
        assert len({tuple(ex.meta["translated_answer"]) for ex in rows}) == 1, f"{item}: pivot answers differ"
        assert len({ex.text for ex in rows}) == 7, f"{item}: a translation repeats another language's question"


def test_english_answers_are_spans_of_their_gold_document(qa, docs):
    for ex in qa:
        if ex.lang == "eng_Latn":
            gold = normalize_answer(docs[ex.meta["doc_id"]]["text"], "eng")
            assert normalize_answer(ex.meta["answers"][0], "eng") in gold, ex.id
            assert docs[ex.meta["doc_id"]]["lang"] == "eng_Latn"


def test_questions_and_answers_are_in_the_rows_language_script(qa):
    for ex in qa:
        expected = "Deva" if ex.lang == "hin_Deva" else "Latn"
        assert script_of_text(ex.text) == expected, ex.id
        assert script_of_text(ex.meta["answers"][0]) == expected, ex.id


def test_card_documents_the_qa_split(qa):
    card = yaml.safe_load((CORPUS / "card.yaml").read_text(encoding="utf-8"))
    split = card["splits"]["qa"]
    assert split["file"] == "qa.jsonl" and split["n"] == len(qa) and split["n_items"] == 10
    assert split["languages"] == LANGS
    assert "not checked by native" in " ".join(split["provenance"].lower().split())
    assert "qa.jsonl" in (CORPUS / "README.md").read_text(encoding="utf-8")


def _write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


GOOD = {"id": "q1", "lang": "hau", "question": "Sau nawa?", "answer": "sau biyu", "answer_eng": "twice",
        "doc_id": "doc-001"}


def test_loader_reads_rows_like_afriqa(tmp_path):
    ds = load_qa_jsonl(_write(tmp_path, [GOOD, {**GOOD, "id": "q2", "lang": "yor", "answer": ["ẹ̀ẹ̀mejì", "lẹ́ẹ̀mejì"]}]))
    first, second = ds[0], ds[1]
    assert (first.lang, first.text, first.meta["answers"], first.meta["translated_answer"]) == \
        ("hau_Latn", "Sau nawa?", ["sau biyu"], ["twice"])
    assert first.meta["doc_id"] == "doc-001" and first.meta["item"] == "q1" and first.meta["pivot_lang"] == "eng_Latn"
    assert len(second.meta["answers"]) == 2
    assert [ex.id for ex in load_qa_jsonl(tmp_path / "qa.jsonl", languages=["yo"])] == ["q2"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "answer"}, r"qa.jsonl:2: missing 'answer' .*Each row needs id, lang"),
        ({**GOOD, "answer": ""}, r"qa.jsonl:2: 'answer' is ''; expected a non-empty string.*needs a reference answer"),
        ({**GOOD, "answer": []}, r"qa.jsonl:2: 'answer' is \[\]"),
        ({**GOOD, "answer": None}, r"qa.jsonl:2: 'answer' is None"),
        ({**GOOD, "answer": ["ok", "  "]}, r"qa.jsonl:2: 'answer' holds '  '; expected non-blank strings"),
        ({**GOOD, "question": " "}, r"qa.jsonl:2: 'question' is ' '; expected the question text"),
        ({**GOOD, "lang": "zz-nolang"}, r"qa.jsonl:2: .*zz-nolang"),
        ({**GOOD, "doc_id": "doc-999"}, r"qa.jsonl:2: doc_id 'doc-999' is not in the document collection"),
        (GOOD, r"qa.jsonl:2: duplicate id 'q1' \(first at .*qa.jsonl:1\)"),
        ('{"id": "q3", "lang": ', r"qa.jsonl:2: invalid JSON"),
    ],
)
def test_loader_refuses_bad_rows_with_file_and_line(tmp_path, row, message):
    if isinstance(row, dict) and row is not GOOD:
        row = {**row, "id": "q2"}  # only the duplicate-id case repeats q1
    path = _write(tmp_path, [GOOD, row])
    with pytest.raises(DataError, match=message):
        load_qa_jsonl(path, doc_ids={"doc-001"})


def test_loader_refuses_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_qa_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="holds no questions"):
        load_qa_jsonl(tmp_path / "empty.jsonl")
