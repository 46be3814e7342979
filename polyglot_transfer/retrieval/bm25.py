"""BM25 (via `bm25s`) with per-language tokenisation, over the same ids as a :class:`VectorIndex`.

Tokenisation: NFC, casefold, then Unicode words (letters, combining marks and digits, so Devanagari
vowel signs and Yoruba tone marks stay inside their words). Scripts written without spaces (Han, kana,
Thai, Lao, Khmer, Myanmar, Tibetan) are split into characters plus character bigrams. English alone
gets English stop words removed; no stemmer and no English stop words are ever applied to other
languages. Queries are tokenised with the index's analyzer so that they match its terms.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import regex

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.faiss_index import metadata_matches, resolve_filter

logger = logging.getLogger(__name__)

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")
_NOSPACE = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}][\p{M}]*"
)
_NOSPACE_RUN = regex.compile(
    r"(?:[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}][\p{M}]*)+"
)


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def _base_language(lang: str | None) -> str | None:
    """'eng_Latn' / 'en' / 'eng' -> 'eng'; None stays None."""
    if not lang:
        return None
    code = lang.split("_")[0].split("-")[0].lower()
    return {"en": "eng"}.get(code, code)


def tokenize(text: str, lang: str | None = None) -> list[str]:
    """Tokens of `text` for BM25 in language `lang` (a code such as 'yor_Latn', 'eng', or None)."""
    text = unicodedata.normalize("NFC", text).casefold()
    tokens: list[str] = []
    for word in _WORD.findall(text):
        if not _NOSPACE.search(word):
            tokens.append(word)
            continue
        pos = 0
        for run in _NOSPACE_RUN.finditer(word):
            if run.start() > pos:
                tokens.append(word[pos : run.start()])
            chars = _NOSPACE.findall(run.group())
            tokens.extend(chars)
            tokens.extend(a + b for a, b in zip(chars, chars[1:]))
            pos = run.end()
        if pos < len(word):
            tokens.append(word[pos:])
    if _base_language(lang) == "eng":
        stop = _english_stopwords()
        tokens = [t for t in tokens if t not in stop]
    return tokens


@dataclass
class BM25Hit:
    id: int
    score: float
    text: str
    metadata: dict[str, Any]


class BM25Index:
    """A BM25 index whose documents carry caller-chosen integer ids (e.g. a VectorIndex's ids).

    `language` picks the analyzer for documents and queries (see :func:`tokenize`). The bm25s index is
    rebuilt lazily after documents change.
    """

    def __init__(self, *, language: str | None = None, k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> None:
        if not (k1 >= 0 and 0 <= b <= 1):
            raise ConfigError(f"BM25 needs k1 >= 0 and 0 <= b <= 1. Got k1={k1!r}, b={b!r} instead.")
        self.language, self.k1, self.b, self.method = language, k1, b, method
        self._ids: list[int] = []
        self._texts: list[str] = []
        self._metas: list[dict[str, Any]] = []
        self._model: Any = None

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, texts: Sequence[str], metadatas: Sequence[dict[str, Any]] | None = None, *, ids: Sequence[int] | None = None) -> list[int]:
        """Add documents; `ids` default to consecutive integers after the largest id so far."""
        n = len(texts)
        if ids is None:
            start = max(self._ids, default=-1) + 1
            ids = list(range(start, start + n))
        if len(ids) != n or (metadatas is not None and len(metadatas) != n):
            raise DataError(f"BM25Index.add() got {n} texts, {len(ids)} ids and "
                            f"{'no' if metadatas is None else len(metadatas)} metadata dicts; the counts must match.")
        known = set(self._ids)
        clash = [i for i in ids if i in known]
        if clash or len(set(ids)) != n:
            raise DataError(f"BM25Index.add(): ids must be new and unique; {clash[:5] or 'duplicates'} repeat.")
        self._ids.extend(int(i) for i in ids)
        self._texts.extend(str(t) for t in texts)
        self._metas.extend(dict(m) for m in (metadatas or [{}] * n))
        self._model = None
        return [int(i) for i in ids]

    @classmethod
    def from_vector_index(cls, index: Any, *, language: str | None = None, **kwargs: Any) -> BM25Index:
        """A BM25 index over the documents of a VectorIndex, with the same ids."""
        bm = cls(language=language, **kwargs)
        ids = index.ids
        docs = [index.get(i) for i in ids]
        bm.add([d["text"] for d in docs], [d["metadata"] for d in docs], ids=ids)
        return bm

    def _fit(self) -> Any:
        if self._model is None:
            import bm25s

            bm25s_logger = logging.getLogger("bm25s")
            if bm25s_logger.level == logging.DEBUG:  # bm25s sets DEBUG on import, which floods any configured root
                bm25s_logger.setLevel(logging.WARNING)
            model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
            model.index([tokenize(t, self.language) for t in self._texts], show_progress=False)
            self._model = model
        return self._model

    def search(self, queries: Sequence[str], k: int = 10, *, where: Any = None) -> list[list[BM25Hit]]:
        """Top-k documents per query with a positive BM25 score; `where` filters by metadata first."""
        ids, scores = self.search_arrays(queries, k, where=where)
        out: list[list[BM25Hit]] = []
        for row_i, row_s in zip(ids.tolist(), scores.tolist()):
            hits = []
            for doc_id, sc in zip(row_i, row_s):
                if doc_id < 0:
                    break
                j = self._position[doc_id]
                hits.append(BM25Hit(doc_id, sc, self._texts[j], dict(self._metas[j])))
            out.append(hits)
        return out

    @property
    def _position(self) -> dict[int, int]:
        cached = self.__dict__.get("_position_cache")
        if cached is None or len(cached) != len(self._ids):
            cached = {doc_id: j for j, doc_id in enumerate(self._ids)}
            self.__dict__["_position_cache"] = cached
        return cached

    def search_arrays(self, queries: Sequence[str], k: int = 10, *, where: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each (n_queries, k), best first: the documents with a positive BM25 score, id -1 and
        score -inf padding the rest of a row. One vectorised bm25s call for all queries."""
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be an int >= 1. Got {k!r} instead.")
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float64)
        if not self._ids:
            return out_ids, out_scores
        model = self._fit()
        mask = None
        if where is not None:
            where = resolve_filter(where, self._metas)
            mask = np.array([metadata_matches(m, where) for m in self._metas], dtype=bool)
        tokens = [tokenize(q, self.language) for q in queries]
        todo = np.array([i for i, t in enumerate(tokens) if t], dtype=np.int64)
        if not len(todo):
            return out_ids, out_scores
        depth = min(k, len(self._ids))
        # one vectorised bm25s call for all queries; the filter is a weight mask over documents
        docs, scores = model.retrieve([tokens[i] for i in todo], k=depth, show_progress=False, return_as="tuple",
                                      weight_mask=None if mask is None else mask.astype(np.float32))
        docs, scores = np.asarray(docs, dtype=np.int64), np.asarray(scores, dtype=np.float32).astype(np.float64)
        # bm25s returns each row sorted by score; positive scores come first, so dropping the rest keeps order
        positive = scores > 0
        out_ids[todo, :depth] = np.where(positive, np.asarray(self._ids, dtype=np.int64)[docs], -1)
        out_scores[todo, :depth] = np.where(positive, scores, -np.inf)
        return out_ids, out_scores
