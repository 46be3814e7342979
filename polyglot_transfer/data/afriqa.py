"""AfriQA (masakhane-io/afriqa, CC BY 4.0): questions in 10 African languages with gold English/French passages.

Layout read here (the repository's ``data/`` folder)::

    <root>/data/queries/<lang>/queries.afriqa.<lang>.<en|fr>.<split>.json
    <root>/data/gold_passages/<lang>/gold_span_passages.afriqa.<lang>.<en|fr>.<split>.json

Both are JSON Lines despite the suffix. Splits are train/dev/test; gold passages exist for 9 of the 10
languages (none for Wolof) and Yoruba and Swahili lack some splits. Facts about the copy in
../shared/corpora/afriqa:

- ``answers`` and ``translated_answer`` are Python-list-looking strings (``"['15,000']"``). About 500
  of them are not valid Python because an apostrophe inside the answer is not escaped
  (``"['People's Party']"``); every answer list holds one item or none, so those are read as the text
  between the outer ``['`` and ``']``. About 28% of questions have an empty answer list.
- One question (twi dev, id 108) is empty; it is skipped with a warning.
- Some gold-passage rows have a null or empty ``context`` (no passage was found for that question;
  45 of 259 in kin train); they are skipped with a warning.
- Answer offsets (``answer_start``) are off by a few characters for about 1% of spans; they are
  re-located in the passage (see :func:`_locate`).
- Passages repeat: several questions share one gold passage, so passages are de-duplicated on
  (title, context) and carry the ids of all their questions.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from polyglot_transfer.data.dataset import Example, TextDataset, nfc
from polyglot_transfer.errors import DataError, did_you_mean
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = [
    "AFRIQA_LANGUAGES",
    "AFRIQA_SPLITS",
    "afriqa_root",
    "parse_answer_list",
    "load_afriqa_queries",
    "load_afriqa_passages",
]

# canonical code -> folder / file code
_AFRIQA_FOLDERS: dict[str, str] = {
    resolve_language(folder).code: folder
    for folder in ("bem", "fon", "hau", "ibo", "kin", "swa", "twi", "wol", "yor", "zul")
}
AFRIQA_LANGUAGES: tuple[str, ...] = tuple(_AFRIQA_FOLDERS)
AFRIQA_SPLITS: tuple[str, ...] = ("train", "dev", "test")
_SPLIT_ALIASES = {"valid": "dev", "validation": "dev", "val": "dev"}
_PIVOTS = {"en": "eng_Latn", "fr": "fra_Latn"}


def afriqa_root(root: str | Path) -> Path:
    """The folder holding ``data/queries``: `root` itself, or `root`/afriqa (a shared corpora folder)."""
    root = Path(root)
    for candidate in (root, root / "afriqa"):
        if (candidate / "data" / "queries").is_dir():
            return candidate
    raise DataError(
        f"{root} does not look like an AfriQA checkout: expected {root / 'data' / 'queries'}. "
        "Point root at the folder that holds data/ (a clone of github.com/masakhane-io/afriqa)."
    )


def _split(split: str) -> str:
    value = _SPLIT_ALIASES.get(str(split).lower(), str(split).lower())
    if value not in AFRIQA_SPLITS:
        raise DataError(
            f"Unknown AfriQA split {split!r}.{did_you_mean(str(split), AFRIQA_SPLITS)} "
            f"Expected one of: {', '.join(AFRIQA_SPLITS)} ('valid' means 'dev')."
        )
    return value


def _language(language: str) -> tuple[str, str]:
    code = resolve_language(language).code
    if code not in _AFRIQA_FOLDERS:
        raise DataError(
            f"AfriQA has no language {language!r} (resolved to {code}). It has: {', '.join(AFRIQA_LANGUAGES)}."
        )
    return code, _AFRIQA_FOLDERS[code]


def _find_file(folder: Path, prefix: str, lang: str, split: str) -> tuple[Path, str]:
    """The file for (lang, split) and its pivot language code ('eng_Latn' / 'fra_Latn')."""
    matches = sorted(folder.glob(f"{prefix}.afriqa.{lang}.*.{split}.json"))
    if not matches:
        available = sorted(
            {p.name.split(".")[-2] for p in folder.glob(f"{prefix}.afriqa.{lang}.*.json")}
        ) if folder.is_dir() else []
        raise DataError(
            f"AfriQA has no {prefix.replace('_', ' ')} file for {lang} {split} in {folder} "
            f"(available splits: {', '.join(available) or 'none'})."
        )
    path = matches[0]
    pivot = path.name.split(".")[-3]
    if pivot not in _PIVOTS:
        raise DataError(f"{path}: unexpected pivot language {pivot!r} in the file name; expected 'en' or 'fr'.")
    return path, _PIVOTS[pivot]


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg}).") from None
    return rows


def parse_answer_list(value: Any) -> list[str]:
    """Parse an answers field: a list, or a string such as "['15,000']" (no code is executed).

    Falls back to the text between the outer ``['`` and ``']`` when an unescaped apostrophe makes the
    string invalid Python (``"['People's Party']"``).
    """
    if value is None:
        return []
    if isinstance(value, list):
        return [nfc(str(v)) for v in value]
    if not isinstance(value, str):
        return [nfc(str(value))]
    text = value.strip()
    if not text:
        return []
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        parsed = None
    if isinstance(parsed, list | tuple):
        return [nfc(str(v)) for v in parsed]
    if isinstance(parsed, str):
        return [nfc(parsed)]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            inner = inner[1:-1]
        return [nfc(inner)] if inner else []
    return [nfc(text)]


def _locate(context: str, answer: str, start: int) -> int:
    """The offset of `answer` in `context` closest to the source's `start`; -1 when it does not occur.

    Source offsets are off by a few characters for ~1% of spans, and NFC can shift them.
    """
    if start < 0 or not answer:
        return -1
    if context[start : start + len(answer)] == answer:
        return start
    best, pos = -1, context.find(answer)
    while pos != -1:
        if best == -1 or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(answer, pos + 1)
    return best


def load_afriqa_queries(root: str | Path, language: str, split: str) -> TextDataset:
    """AfriQA questions in their language (unlabelled).

    Ids are ``afriqa-<lang>-<split>-<qid>``. meta: qid, translated_question, answers (list),
    translated_answer (list), pivot_lang ('eng_Latn' / 'fra_Latn'), split.
    """
    code, folder = _language(language)
    split = _split(split)
    path, pivot = _find_file(afriqa_root(root) / "data" / "queries" / folder, "queries", folder, split)
    examples: list[Example] = []
    skipped = 0
    for lineno, row in _read_jsonl(path):
        for key in ("id", "question"):
            if key not in row:
                raise DataError(f"{path}:{lineno}: no {key!r} field (fields: {', '.join(row)}).")
        question = row["question"] or ""
        if not question.strip():
            skipped += 1
            logger.warning("%s:%d: empty question (id %s) skipped.", path, lineno, row["id"])
            continue
        qid = str(row["id"])
        examples.append(
            Example(
                id=f"afriqa-{folder}-{split}-{qid}",
                text=question.strip(),
                label=None,
                lang=code,
                meta={
                    "qid": qid,
                    "split": split,
                    "pivot_lang": pivot,
                    "translated_question": nfc(row.get("translated_question") or ""),
                    "answers": parse_answer_list(row.get("answers")),
                    "translated_answer": parse_answer_list(row.get("translated_answer")),
                },
            )
        )
    if not examples:
        raise DataError(f"{path} holds no questions.")
    if skipped:
        logger.info("%s: %d empty question(s) skipped, %d kept.", path, skipped, len(examples))
    return TextDataset(examples, name=f"afriqa-queries-{folder}-{split}")


def load_afriqa_passages(root: str | Path, language: str, split: str) -> TextDataset:
    """Gold passages (English or French Wikipedia) for one language's questions, de-duplicated.

    Each example's text is a passage; lang is the pivot language (eng_Latn, or fra_Latn for Fon/Wolof).
    Ids are ``afriqa-<lang>-<split>-passage-<sha256[:12] of title+context>`` (stable under reordering).
    meta: title, question_ids (qids as in the queries), query_ids (ids of the query examples),
    answer_spans (one dict per answer: question_id, text, answer_start), split. ``answer_start`` is checked
    against the (NFC) passage: it is the occurrence of the answer text closest to the source offset, or
    -1 when the answer is not a span of the passage (yes/no answers, paraphrases).
    """
    _, folder = _language(language)
    split = _split(split)
    path, pivot = _find_file(
        afriqa_root(root) / "data" / "gold_passages" / folder, "gold_span_passages", folder, split
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    no_context = 0
    for _lineno, row in _read_jsonl(path):
        context = row.get("context")
        if not isinstance(context, str) or not context.strip():
            no_context += 1  # the question has no gold passage (null or empty context)
            continue
        title = nfc(str(row.get("title") or ""))
        context = nfc(context)
        qid = str(row.get("id"))
        group = groups.setdefault((title, context), {"question_ids": [], "answer_spans": []})
        group["question_ids"].append(qid)
        pivot_answer = row.get("answer_pivot") or {}
        texts = pivot_answer.get("text") or []
        starts = pivot_answer.get("answer_start") or []
        for i, text in enumerate(texts):
            text = nfc(str(text))
            start = int(starts[i]) if i < len(starts) and starts[i] is not None else -1
            span = {"question_id": qid, "text": text, "answer_start": _locate(context, text, start)}
            group["answer_spans"].append(span)
    if no_context:
        logger.info("%s: %d question(s) without a gold passage (empty context) skipped.", path, no_context)
    if not groups:
        raise DataError(f"{path} holds no passages with a non-empty context.")
    examples = []
    for (title, context), group in groups.items():
        digest = hashlib.sha256(f"{title}\n{context}".encode()).hexdigest()[:12]
        examples.append(
            Example(
                id=f"afriqa-{folder}-{split}-passage-{digest}",
                text=context,
                label=None,
                lang=pivot,
                meta={
                    "title": title,
                    "question_ids": group["question_ids"],
                    "query_ids": [f"afriqa-{folder}-{split}-{q}" for q in group["question_ids"]],
                    "answer_spans": group["answer_spans"],
                    "split": split,
                },
            )
        )
    return TextDataset(examples, name=f"afriqa-passages-{folder}-{split}")
