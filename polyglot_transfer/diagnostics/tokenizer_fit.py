"""How well a subword tokenizer fits a language: fertility, unknown pieces, character coverage.

A tokenizer that was trained without a language splits its words into many short pieces (high
*fertility*: longer sequences, less context per window, weaker embeddings) or maps its script to the
unknown token outright (the model sees ``<unk> <unk> <unk>`` and nothing can transfer). Both explain
why a language fails before any model is trained, so :func:`tokenizer_fit` measures them on a sample
of text and :func:`compare_fit` phrases the difference to a source language ("Yoruba needs 2.1x the
pieces per word of English").

Units. Fertility is subword pieces per whitespace-separated word. For scripts written without spaces
between words (Thai, Lao, Khmer, Myanmar, Tibetan, Han, Japanese, Yi ...) a "word" would be a whole
clause, so the unit becomes the (non-space) character and :attr:`TokenizerFit.unit` says so. The
Ethiopic wordspace ``፡`` (used instead of spaces in many Amharic and Tigrinya texts) separates words
like a space does.

Coverage. :attr:`TokenizerFit.char_coverage` is the share of non-space characters that reach the
model as something other than the unknown token, read from the tokenizer's offset mapping (fast
tokenizers). Format characters (zero-width joiners, bidi marks) and control characters are not
counted: tokenizers drop them by design. Lone word-boundary markers (``▁``) cover nothing.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import DataError, ModelError
from polyglot_transfer.languages import resolve_language, script_of_text, split_words

logger = logging.getLogger(__name__)

__all__ = [
    "TokenizerFit",
    "tokenizer_fit",
    "compare_fit",
    "fertility_ratio",
    "load_tokenizer",
    "split_words",
    "NO_SPACE_SCRIPTS",
    "POOR_COVERAGE_UNK_RATE",
    "POOR_COVERAGE_CHAR_COVERAGE",
    "HIGH_FERTILITY_RATIO",
    "HIGH_FERTILITY_PER_WORD",
    "HIGH_FERTILITY_PER_CHAR",
    "HIGH_BYTE_FALLBACK_RATE",
    "NO_SPACE_WORD_LENGTH",
]

# --- thresholds (documented, used for flags) ---------------------------------------------------------

#: "script poorly covered" when more than this share of pieces is the unknown token ...
POOR_COVERAGE_UNK_RATE = 0.05
#: ... or when fewer than this share of non-space characters survive tokenisation.
POOR_COVERAGE_CHAR_COVERAGE = 0.95
#: "high fertility" when the target needs more than this many times the source's pieces per unit ...
HIGH_FERTILITY_RATIO = 2.0
#: ... or more than this many pieces per word (absolute, no source needed) ...
HIGH_FERTILITY_PER_WORD = 3.0
#: ... or, for scripts measured per character, more pieces than characters.
HIGH_FERTILITY_PER_CHAR = 1.0
#: "many byte-fallback pieces" when more than this share of pieces are raw bytes such as <0xE1>.
HIGH_BYTE_FALLBACK_RATE = 0.05
#: A script not known to be written without spaces is still measured per character when its
#: whitespace "words" average more than this many characters (no real language's words do).
NO_SPACE_WORD_LENGTH = 20.0

#: ISO 15924 scripts written without spaces between words: fertility is measured per character.
NO_SPACE_SCRIPTS = frozenset(
    {"Hani", "Hans", "Hant", "Jpan", "Hira", "Kana", "Thai", "Laoo", "Khmr", "Mymr", "Tibt", "Yiii", "Java", "Bali"}
)

_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
_BOUNDARY_MARKERS = "▁Ġ#"  # SentencePiece, byte-level BPE, WordPiece continuation
_NOT_COUNTED = {"Cc", "Cf", "Zs", "Zl", "Zp"}  # control and format characters, separators
_BATCH = 256


@dataclass
class TokenizerFit:
    """How one tokenizer fits one sample of text. Rates are shares in [0, 1].

    `fertility` is pieces per `unit` ("word" or "character"); `continuation_rate` is the share of
    words split into more than one piece (None when the unit is the character).
    """

    lang: str | None
    n_words: int
    n_chars: int
    n_tokens: int
    unit: str
    fertility: float
    unk_rate: float
    byte_fallback_rate: float
    char_coverage: float
    script: str | None
    continuation_rate: float | None
    flags: list[str] = field(default_factory=list)
    label: str | None = None
    unk_token: str | None = None

    @property
    def display_name(self) -> str:
        """A name for messages: the language's English name, else the label, else the code."""
        if self.lang:
            try:
                return resolve_language(self.lang).name
            except DataError:
                return self.lang
        return self.label or "this text"

    @property
    def poorly_covered(self) -> bool:
        """True when too many pieces are the unknown token or too few characters reach the model."""
        return self.unk_rate > POOR_COVERAGE_UNK_RATE or self.char_coverage < POOR_COVERAGE_CHAR_COVERAGE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


def load_tokenizer(name_or_path: str | os.PathLike) -> Any:
    """Load a Hugging Face tokenizer from a local model folder or a provisioned catalog name, offline."""
    from transformers import AutoTokenizer

    from polyglot_transfer.models.provision import resolve_model

    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        folder = resolve_model(name_or_path, pull=False)
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not load a tokenizer from {folder} ({exc}). Expected a folder with tokenizer.json or "
            "tokenizer_config.json; pass a model folder or a catalog name such as 'intfloat/multilingual-e5-small'."
        ) from exc


def _counted(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in _NOT_COUNTED


def _is_marker_only(piece: str) -> bool:
    return piece.strip(_BOUNDARY_MARKERS) == ""


def _as_text_list(texts: Iterable[str] | str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise DataError(
                f"tokenizer_fit expects a list of strings; item {i} is {type(text).__name__} {text!r}. "
                "Pass the texts, e.g. [ex.text for ex in dataset]."
            )
    return out


def _choose_unit(script: str | None, words: Sequence[str], n_chars: int) -> str:
    if script in NO_SPACE_SCRIPTS:
        return "character"
    if words and n_chars / len(words) > NO_SPACE_WORD_LENGTH:
        return "character"
    return "word"


def _tokenize_words(
    tokenizer: Any, words: list[list[str]]
) -> tuple[list[list[str]], list[list[tuple[int, int]]] | None, list[list[int | None]]]:
    """Pieces, per-word offsets (None for slow tokenizers) and word ids of each text's words."""
    pieces: list[list[str]] = []
    offsets: list[list[tuple[int, int]]] | None = [] if getattr(tokenizer, "is_fast", False) else None
    word_ids: list[list[int | None]] = []
    for start in range(0, len(words), _BATCH):
        batch = words[start : start + _BATCH]
        if offsets is not None:
            enc = tokenizer(
                batch, is_split_into_words=True, add_special_tokens=False, return_offsets_mapping=True,
                truncation=False, verbose=False,
            )
            for i in range(len(batch)):
                pieces.append(tokenizer.convert_ids_to_tokens(enc["input_ids"][i]))
                offsets.append([tuple(o) for o in enc["offset_mapping"][i]])
                word_ids.append(enc.word_ids(i))
        else:  # slow tokenizer: one word at a time, no offsets
            for text_words in batch:
                text_pieces: list[str] = []
                ids: list[int | None] = []
                for w_index, word in enumerate(text_words):
                    word_pieces = tokenizer.tokenize(word)
                    text_pieces.extend(word_pieces)
                    ids.extend([w_index] * len(word_pieces))
                pieces.append(text_pieces)
                word_ids.append(ids)
    return pieces, offsets, word_ids


def tokenizer_fit(
    tokenizer: Any,
    texts: Iterable[str] | str,
    lang: str | None = None,
    *,
    label: str | None = None,
) -> TokenizerFit:
    """Measure how `tokenizer` (a Hugging Face tokenizer, or a model folder / catalog name) fits `texts`.

    `lang` (any spelling :func:`resolve_language` accepts) is recorded and checked against the script
    of the text; `label` names the sample in tables (e.g. a UDHR file name). Texts are NFC-normalised.
    Raises DataError when the texts hold no words.
    """
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = load_tokenizer(tokenizer)
    if not callable(getattr(tokenizer, "tokenize", None)):
        raise ModelError(
            f"tokenizer_fit needs a Hugging Face tokenizer (with .tokenize); got {type(tokenizer).__name__}. "
            "Load one with polyglot_transfer.diagnostics.load_tokenizer(folder)."
        )
    language = resolve_language(lang) if lang is not None else None
    texts = [unicodedata.normalize("NFC", t) for t in _as_text_list(texts)]
    words = [split_words(t) for t in texts]
    words = [w for w in words if w]
    n_words = sum(len(w) for w in words)
    if n_words == 0:
        raise DataError(
            f"tokenizer_fit got {len(texts)} text(s) with no words{f' for {label}' if label else ''}; "
            "expected at least one non-empty text."
        )
    n_chars = sum(_counted(c) for text_words in words for word in text_words for c in word)
    script = script_of_text(" ".join(" ".join(w) for w in words[:200]))
    if script is None and language is not None:
        script = language.script  # a script the detector does not know (e.g. Tglg): trust the code
    unit = _choose_unit(script, [word for text_words in words for word in text_words], n_chars)

    pieces, offsets, word_ids = _tokenize_words(tokenizer, words)
    unk = getattr(tokenizer, "unk_token", None)
    n_tokens = sum(len(p) for p in pieces)
    n_unk = sum(piece == unk for p in pieces for piece in p) if unk is not None else 0
    n_bytes = sum(bool(_BYTE_PIECE.match(piece)) for p in pieces for piece in p)

    # pieces per word -> continuation rate; covered characters -> char coverage
    n_split = 0
    covered_chars = 0
    for t, text_words in enumerate(words):
        per_word = [0] * len(text_words)
        covered = [set() for _ in text_words]
        lost = [set() for _ in text_words]
        for k, (piece, w_id) in enumerate(zip(pieces[t], word_ids[t], strict=True)):
            if w_id is None:
                continue
            per_word[w_id] += 1
            if offsets is not None:
                start, end = offsets[t][k]
                if piece == unk:
                    lost[w_id].update(range(start, end))
                elif not _is_marker_only(piece):
                    covered[w_id].update(range(start, end))
            elif piece != unk and not _is_marker_only(piece):  # slow tokenizer: estimate from piece lengths
                done = len(covered[w_id])
                covered[w_id].update(range(done, done + len(piece.strip(_BOUNDARY_MARKERS))))
        for w_id, word in enumerate(text_words):
            n_split += per_word[w_id] > 1
            ok = covered[w_id] - lost[w_id]
            covered_chars += sum(1 for i, c in enumerate(word) if _counted(c) and i in ok)

    denominator = n_words if unit == "word" else max(n_chars, 1)
    fit = TokenizerFit(
        lang=language.code if language else None,
        n_words=n_words,
        n_chars=n_chars,
        n_tokens=n_tokens,
        unit=unit,
        fertility=n_tokens / denominator,
        unk_rate=n_unk / n_tokens if n_tokens else 0.0,
        byte_fallback_rate=n_bytes / n_tokens if n_tokens else 0.0,
        char_coverage=covered_chars / n_chars if n_chars else 1.0,
        script=script,
        continuation_rate=n_split / n_words if unit == "word" else None,
        label=label,
        unk_token=unk,
    )
    fit.flags = _flags(fit, language.script if language else None)
    if fit.flags:
        logger.debug("tokenizer fit for %s: %s", fit.display_name, "; ".join(fit.flags))
    return fit


def _flags(fit: TokenizerFit, expected_script: str | None) -> list[str]:
    flags: list[str] = []
    if fit.poorly_covered:
        flags.append(
            f"script poorly covered: {1 - fit.char_coverage:.0%} of characters and {fit.unk_rate:.0%} of pieces "
            f"map to {fit.unk_token or 'the unknown token'} (script {fit.script or 'unknown'}); the model never sees "
            "those characters"
        )
    limit = HIGH_FERTILITY_PER_WORD if fit.unit == "word" else HIGH_FERTILITY_PER_CHAR
    if fit.fertility > limit:
        flags.append(
            f"high fertility: {fit.fertility:.2f} pieces per {fit.unit} (more than {limit:g}); sequences are "
            "long and each piece carries little meaning"
        )
    if fit.byte_fallback_rate > HIGH_BYTE_FALLBACK_RATE:
        flags.append(
            f"many byte-fallback pieces: {fit.byte_fallback_rate:.0%} of pieces are raw bytes; the vocabulary "
            "lacks this script's characters"
        )
    if expected_script and fit.script and expected_script != fit.script and not (
        expected_script in {"Hans", "Hant"} and fit.script == "Hani"
    ):
        flags.append(
            f"script mismatch: the language code says {expected_script} but the text is mostly {fit.script}"
        )
    return flags


def fertility_ratio(target: TokenizerFit, source: TokenizerFit) -> float | None:
    """Target pieces per unit over the source's; None when they are measured in different units (word vs
    character) or the source has no pieces. `pgt diagnose` and `pgt plan` both report this number."""
    if target.unit != source.unit or source.fertility <= 0:
        return None
    return target.fertility / source.fertility


def compare_fit(target: TokenizerFit, source: TokenizerFit) -> list[str]:
    """Plain-language notes on how much worse (or better) the tokenizer fits `target` than `source`."""
    notes: list[str] = []
    t_name, s_name = target.display_name, source.display_name
    if t_name == s_name:
        t_name, s_name = f"{t_name} (target)", f"{s_name} (source)"
    ratio = fertility_ratio(target, source)
    if ratio is not None:
        notes.append(
            f"{t_name} needs {ratio:.1f}x the pieces per {target.unit} of {s_name} "
            f"({target.fertility:.2f} vs {source.fertility:.2f})."
        )
        if ratio > HIGH_FERTILITY_RATIO:
            notes.append(
                f"high fertility: more than {HIGH_FERTILITY_RATIO:g}x the source's; the same context window holds "
                f"about {1 / ratio:.0%} as much {t_name} text."
            )
    else:
        notes.append(
            f"{t_name} is measured per {target.unit} ({target.fertility:.2f}) and {s_name} per {source.unit} "
            f"({source.fertility:.2f}); the fertilities cannot be compared directly."
        )
        limit = HIGH_FERTILITY_PER_WORD if target.unit == "word" else HIGH_FERTILITY_PER_CHAR
        if target.fertility > limit:
            notes.append(f"high fertility: {target.fertility:.2f} pieces per {target.unit} (more than {limit:g}).")
    if target.poorly_covered:
        notes.append(
            f"script poorly covered: {1 - target.char_coverage:.0%} of {t_name} characters map to "
            f"{target.unk_token or 'the unknown token'}, vs {1 - source.char_coverage:.0%} for {s_name}."
        )
    if target.script and source.script and target.script != source.script:
        notes.append(
            f"{t_name} is written in {target.script} and {s_name} in {source.script}: few subword pieces are "
            "shared, so transfer must go through the model's cross-lingual alignment alone."
        )
    if (
        target.continuation_rate is not None
        and source.continuation_rate is not None
        and target.continuation_rate - source.continuation_rate > 0.2
    ):
        notes.append(
            f"{target.continuation_rate:.0%} of {t_name} words are split into several pieces, vs "
            f"{source.continuation_rate:.0%} for {s_name}."
        )
    return notes
