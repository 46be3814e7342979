"""CoNLL-style token-tagging files (NER: MasakhaNER, WikiANN exports, CoNLL-2003) -> a TokenDataset.

One token per line, whitespace-separated columns with the token first and the tag in `tag_column`
(the last column by default, so both ``token TAG`` and CoNLL-2003's ``token POS CHUNK TAG`` work),
blank lines between sentences, ``-DOCSTART-`` lines (and the blank line after them) skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from polyglot_transfer.data.dataset import nfc
from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = ["TokenSentence", "TokenDataset", "load_conll"]


@dataclass(frozen=True)
class TokenSentence:
    """One sentence: its tokens, one tag per token, a canonical language code."""

    id: str
    tokens: list[str]
    tags: list[str]
    lang: str
    meta: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise DataError(f"TokenSentence {self.id!r}: {len(self.tokens)} tokens but {len(self.tags)} tags; "
                            "every token needs exactly one tag.")
        if not self.tokens:
            raise DataError(f"TokenSentence {self.id!r} has no tokens.")


class TokenDataset:
    """An ordered list of :class:`TokenSentence` (the token-level counterpart of TextDataset)."""

    def __init__(self, sentences: list[TokenSentence], name: str = "tokens") -> None:
        self.sentences = list(sentences)
        self.name = name
        ids = [s.id for s in self.sentences]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"TokenDataset {name!r}: duplicate sentence id {dup!r}; ids must be unique.")

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self) -> Iterator[TokenSentence]:
        return iter(self.sentences)

    def __getitem__(self, index: int) -> TokenSentence:
        return self.sentences[index]

    def __repr__(self) -> str:
        return f"TokenDataset(name={self.name!r}, sentences={len(self)}, tags={self.tag_set})"

    @property
    def tokens(self) -> list[list[str]]:
        return [s.tokens for s in self.sentences]

    @property
    def tags(self) -> list[list[str]]:
        return [s.tags for s in self.sentences]

    @property
    def tag_set(self) -> list[str]:
        """Sorted unique tags."""
        return sorted({t for s in self.sentences for t in s.tags})

    @property
    def languages(self) -> list[str]:
        return sorted({s.lang for s in self.sentences})

    def fingerprint(self) -> str:
        """sha256 over (id, tokens, tags, lang) of every sentence, in order."""
        h = hashlib.sha256()
        for s in self.sentences:
            h.update(json.dumps([s.id, s.tokens, s.tags, s.lang], ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()


def _require_utf8(path: Path) -> None:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start}). Re-save the file as "
                        "UTF-8.") from None


def load_conll(path: str | Path, lang: str, *, tag_column: int = -1, name: str | None = None) -> TokenDataset:
    """Read a CoNLL file into a TokenDataset; sentence ids are ``<file stem>-<n>`` (n from 0)."""
    path = Path(path)
    code = resolve_language(lang).code
    if not path.is_file():
        raise DataError(f"CoNLL file {path} does not exist.")
    sentences: list[TokenSentence] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            sentences.append(TokenSentence(f"{path.stem}-{len(sentences)}", list(tokens), list(tags), code))
            tokens.clear()
            tags.clear()

    _require_utf8(path)
    with path.open(encoding="utf-8-sig") as f:  # -sig: a byte-order mark is not part of the first token
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                flush()
                continue
            if line.startswith("-DOCSTART-"):
                flush()
                continue
            cols = line.split()
            if len(cols) < 2:
                raise DataError(f"{path}:{lineno}: expected a token and a tag separated by whitespace, got "
                                f"{line!r}. Sentences are separated by blank lines.")
            try:
                tag = cols[tag_column]
            except IndexError:
                raise DataError(f"{path}:{lineno}: tag_column {tag_column} is out of range for {len(cols)} "
                                f"columns ({line!r}).") from None
            tokens.append(nfc(cols[0]))
            tags.append(tag)
    flush()
    if not sentences:
        raise DataError(f"{path} holds no sentences (expected 'token tag' lines separated by blank lines).")
    bad = sorted({t for s in sentences for t in s.tags if t != "O" and t[:2] not in ("B-", "I-", "E-", "S-")})
    if bad:
        raise DataError(f"{path}: tags {bad[:5]} are not BIO/IOBES tags (O, B-X, I-X, E-X, S-X); check tag_column "
                        f"(now {tag_column}).")
    return TokenDataset(sentences, name=name or f"{path.stem}-{code}")
