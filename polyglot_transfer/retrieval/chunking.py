"""Split long documents into chunks that end on sentence boundaries, with a character budget and overlap.

Sentence ends are found with one regex over Unicode sentence punctuation: ``. ! ?`` (followed by a
space), and the script-specific marks ``। ॥`` (Devanagari, Bengali...), ``။`` (Myanmar), ``。！？``
(CJK, no space needed), ``؟ ۔`` (Arabic script), ``። ፧ ፨`` (Ethiopic), ``჻`` and ``…``. A sentence longer
than the budget is cut at the last space before the budget (or hard, for scripts without spaces).

`chunk_documents(..., max_tokens=, count_tokens=)` budgets in tokens of the embedder's tokenizer
instead: a document that fits the model's input (e5 reads 512 tokens) is kept whole, and only longer
ones are cut, on sentence boundaries, into pieces that fit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from polyglot_transfer.errors import ConfigError

# Marks that end a sentence wherever they occur, and ASCII-like marks that need a following space.
_SENTENCE_END = regex.compile(
    r"(?:[।॥။።፧፨。！？؟۔]+[\"'”’»）)\]]*\s*)|(?:[.!?…]+[\"'”’»)\]]*(?:\s+|$))"
)


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offsets in the source text
    end: int
    index: int
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)


def split_sentences(text: str, lang: str | None = None) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, covering it without gaps.

    `lang` is accepted for future language-specific rules; the punctuation set covers all scripts.
    """
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            spans.append((start, m.end()))
            start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars + 1)
        cut = cut + 1 if cut > start else start + max_chars
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def chunk_text(
    text: str, *, max_chars: int = 1000, overlap_chars: int = 200, lang: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[Chunk]:
    """Chunks of whole sentences of at most `max_chars` characters each.

    Consecutive chunks share trailing sentences of up to `overlap_chars` characters, so a fact that
    straddles a boundary appears whole in at least one chunk.
    """
    if not isinstance(max_chars, int) or max_chars < 1:
        raise ConfigError(f"max_chars must be an int >= 1. Got {max_chars!r} instead.")
    if not isinstance(overlap_chars, int) or not 0 <= overlap_chars < max_chars:
        raise ConfigError(f"overlap_chars must be an int in [0, max_chars={max_chars}). Got {overlap_chars!r} instead.")
    units: list[tuple[int, int]] = []
    for s, e in split_sentences(text, lang):
        units.extend(_cut_long(text, s, e, max_chars))
    # the cost of units i..j-1 is the characters they span (gaps between sentences included)
    return _windows(text, units, lambda i, j: units[j - 1][1] - units[i][0], max_chars, overlap_chars, metadata)


def _windows(text: str, units: Sequence[tuple[int, ...]], cost: Callable[[int, int], int], budget: int,
             overlap: int, metadata: dict[str, Any] | None) -> list[Chunk]:
    """Greedy windows over consecutive `units` ((start, end, ...) spans of `text`): each chunk takes units while
    `cost(i, j)` of units i..j-1 stays within `budget` (at least one unit), and the next chunk starts back over
    trailing units that fit in `overlap`, but always makes progress."""
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j = i
        while j < len(units) and cost(i, j + 1) <= budget:
            j += 1
        j = max(j, i + 1)
        start, end = units[i][0], units[j - 1][1]
        body = text[start:end].strip()
        lead = len(text[start:end]) - len(text[start:end].lstrip())
        chunks.append(Chunk(body, start + lead, start + lead + len(body), len(chunks), dict(metadata or {})))
        if j >= len(units):
            break
        k = j
        while k - 1 > i and cost(k - 1, j) <= overlap:
            k -= 1
        i = k
    return chunks


def chunk_documents(
    texts: list[str], metadatas: list[dict[str, Any]] | None = None, *, max_chars: int = 1000,
    overlap_chars: int = 200, lang_key: str = "lang",
) -> tuple[list[str], list[dict[str, Any]]]:
    """Chunk many documents; each chunk's metadata is its document's plus parent, chunk, start, end."""
    out_texts, out_metas = [], []
    for parent, text in enumerate(texts):
        meta = dict(metadatas[parent]) if metadatas else {}
        for c in chunk_text(text, max_chars=max_chars, overlap_chars=overlap_chars, lang=meta.get(lang_key)):
            out_texts.append(c.text)
            out_metas.append({**meta, "parent": parent, "chunk": c.index, "start": c.start, "end": c.end})
    return out_texts, out_metas


def chunk_text_tokens(
    text: str, count_tokens: Callable[[Sequence[str]], list[int]], *, max_tokens: int, overlap_tokens: int = 0,
    metadata: dict[str, Any] | None = None,
) -> list[Chunk]:
    """Chunks of whole sentences of at most `max_tokens` tokens as `count_tokens` counts them.

    A sentence longer than the budget is cut at spaces into pieces of proportionally fewer characters.
    Consecutive chunks share trailing sentences of up to `overlap_tokens` tokens.
    """
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ConfigError(f"max_tokens must be an int >= 1. Got {max_tokens!r} instead.")
    if not isinstance(overlap_tokens, int) or not 0 <= overlap_tokens < max_tokens:
        raise ConfigError(f"overlap_tokens must be an int in [0, max_tokens={max_tokens}). Got {overlap_tokens!r}.")
    spans = split_sentences(text)
    lengths = count_tokens([text[s:e] for s, e in spans]) if spans else []
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(spans, lengths):
        if n <= max_tokens:
            units.append((s, e, n))
            continue
        chars = max(1, int((e - s) * max_tokens / n * 0.9))  # a margin: token density varies along a sentence
        pieces = _cut_long(text, s, e, chars)
        for (ps, pe), pn in zip(pieces, count_tokens([text[a:b] for a, b in pieces])):
            units.append((ps, pe, pn))
    totals = [0, *itertools.accumulate(n for _, _, n in units)]  # the cost of units i..j-1: their tokens
    return _windows(text, units, lambda i, j: totals[j] - totals[i], max_tokens, overlap_tokens, metadata)


def chunk_documents_tokens(
    texts: list[str], metadatas: list[dict[str, Any]] | None, count_tokens: Callable[[Sequence[str]], list[int]], *,
    max_tokens: int, overlap_tokens: int = 0,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Like :func:`chunk_documents` with a token budget; documents that fit stay whole (chunk 0, the full span)."""
    out_texts, out_metas = [], []
    whole = count_tokens(texts) if texts else []
    for parent, (text, n) in enumerate(zip(texts, whole)):
        meta = dict(metadatas[parent]) if metadatas else {}
        if n <= max_tokens:
            chunks = [Chunk(text, 0, len(text), 0)]
        else:
            chunks = chunk_text_tokens(text, count_tokens, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
        for c in chunks:
            out_texts.append(c.text)
            out_metas.append({**meta, "parent": parent, "chunk": c.index, "start": c.start, "end": c.end})
    return out_texts, out_metas
