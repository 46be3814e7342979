"""Question-answering sets as JSON Lines: one question per row with its reference answer and gold passage.

Row format (UTF-8, one object per line; the shipped ``corpora/agri_advice/qa.jsonl`` uses it)::

    {"id": "qa-001-hau", "lang": "hau_Latn", "question": "...", "answer": "sau biyu a mako",
     "answer_eng": "twice a week", "doc_id": "doc-001", "item": "qa-001"}

``id``, ``lang``, ``question`` and ``answer`` are required; ``answer`` may also be a non-empty list of
reference answers. ``answer_eng`` (the answer in the pivot language), ``doc_id`` (the id of the gold
passage in the task's document collection) and ``item`` (shared by the translations of one question,
for paired comparisons across languages) are optional. Every problem is reported as ``file:line``.

Questions load as a `TextDataset` with the question as text and, in ``meta``, the same keys as the
AfriQA loader: ``answers`` (list), ``translated_answer`` (list), ``pivot_lang``, plus ``doc_id`` and
``item``, so QA setups read both sources the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from polyglot_transfer.data.dataset import Example, TextDataset, nfc
from polyglot_transfer.data.loaders import _json_rows
from polyglot_transfer.errors import DataError, LanguageError
from polyglot_transfer.languages import resolve_language

__all__ = ["QA_REQUIRED_KEYS", "load_qa_jsonl"]

QA_REQUIRED_KEYS = ("id", "lang", "question", "answer")
PIVOT_LANG = "eng_Latn"


def _answers(value: Any, where: str, key: str) -> list[str]:
    """A non-empty list of non-blank answer strings, or DataError naming `where`."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or (isinstance(value, str) and not value.strip()):
        raise DataError(
            f"{where}: {key!r} is {value!r}; expected a non-empty string (or a non-empty list of strings). "
            "Every question needs a reference answer: write one or remove the row."
        )
    out = []
    for item in values:
        if not isinstance(item, str) or not item.strip():
            raise DataError(
                f"{where}: {key!r} holds {item!r}; expected non-blank strings. Write the reference answer or "
                "remove the row."
            )
        out.append(nfc(item.strip()))
    return out


def load_qa_jsonl(
    path: str | Path, *, doc_ids: Iterable[str] | None = None, languages: Iterable[str] | None = None
) -> TextDataset:
    """Load a QA JSONL file; `doc_ids` (the document collection's ids) makes unknown ``doc_id`` an error.

    `languages` keeps only those languages (codes or aliases). Raises DataError with ``file:line`` for a
    row without a question or an answer, an unknown language, a duplicate id or a ``doc_id`` that is
    not in `doc_ids`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"QA file {path} does not exist; expected a JSON Lines file of questions and answers.")
    known_docs = set(doc_ids) if doc_ids is not None else None
    keep = {resolve_language(code).code for code in languages} if languages is not None else None
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for where, row in _json_rows(path, "jsonl"):
        missing = [key for key in QA_REQUIRED_KEYS if key not in row]
        if missing:
            raise DataError(
                f"{where}: missing {', '.join(repr(k) for k in missing)} (the row has: {', '.join(row) or 'nothing'}). "
                f"Each row needs {', '.join(QA_REQUIRED_KEYS)}."
            )
        qid = row["id"]
        if not isinstance(qid, str | int) or isinstance(qid, bool) or not str(qid).strip():
            raise DataError(f"{where}: 'id' is {qid!r}; expected a non-empty string.")
        qid = str(qid)
        if qid in seen:
            raise DataError(f"{where}: duplicate id {qid!r} (first at {seen[qid]}). Ids must be unique.")
        seen[qid] = where
        question = row["question"]
        if not isinstance(question, str) or not question.strip():
            raise DataError(f"{where}: 'question' is {question!r}; expected the question text.")
        try:
            lang = resolve_language(str(row["lang"])).code
        except LanguageError as exc:
            raise DataError(f"{where}: {exc}") from None
        answers = _answers(row["answer"], where, "answer")
        pivot = _answers(row["answer_eng"], where, "answer_eng") if row.get("answer_eng") is not None else []
        doc_id = row.get("doc_id")
        if doc_id is not None:
            doc_id = str(doc_id)
            if known_docs is not None and doc_id not in known_docs:
                raise DataError(
                    f"{where}: doc_id {doc_id!r} is not in the document collection "
                    f"({len(known_docs)} documents). Fix the id or add the document."
                )
        if keep is not None and lang not in keep:
            continue
        meta = {
            "answers": answers,
            "translated_answer": pivot,
            "pivot_lang": PIVOT_LANG,
            "doc_id": doc_id,
            "item": str(row.get("item") or qid),
            "source": where,
        }
        examples.append(Example(id=qid, text=question.strip(), label=None, lang=lang, meta=meta))
    if not examples:
        which = f" in {sorted(keep)}" if keep is not None else ""
        raise DataError(f"{path} holds no questions{which}; expected at least one row.")
    return TextDataset(examples, name=path.stem)
