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
    def texts(self) -> list[str]:
        """Each sentence as text (tokens joined by spaces), for tokenizer diagnostics and embeddings."""
        return [" ".join(s.tokens) for s in self.sentences]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.sentences]

    @property
    def labels(self) -> list[list[str]]:
        """The gold tags (the counterpart of TextDataset.labels: what a prediction is scored against)."""
        return self.tags

    @property
    def label_set(self) -> list[str]:
        return self.tag_set

    def sample(self, n: int, seed: int = 0) -> TokenDataset:
        """At most `n` sentences drawn without replacement (in their original order); all when n >= len."""
        if n >= len(self):
            return self
        import random

        keep = sorted(random.Random(seed).sample(range(len(self)), n))
        return TokenDataset([self.sentences[i] for i in keep], name=f"{self.name}-sample{n}")

    @classmethod
    def concat(cls, datasets: list[TokenDataset], name: str | None = None) -> TokenDataset:
        return cls([s for d in datasets for s in d], name=name or "+".join(d.name for d in datasets))

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


def load_conll(path: str | Path, lang: str, *, tag_column: int = -1, name: str | None = None,
               id_prefix: str | None = None) -> TokenDataset:
    """Read a CoNLL file into a TokenDataset; sentence ids are ``<id_prefix>-<n>`` (n from 0; the prefix
    defaults to the file stem: give one per language when files of several languages share a name)."""
    path = Path(path)
    code = resolve_language(lang).code
    if not path.is_file():
        raise DataError(f"CoNLL file {path} does not exist.")
    sentences: list[TokenSentence] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            sentences.append(TokenSentence(f"{id_prefix or path.stem}-{len(sentences)}", list(tokens), list(tags), code))
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
            if tag != "O" and (tag[:2] not in ("B-", "I-", "E-", "S-") or len(tag) < 3):
                raise DataError(f"{path}:{lineno}: tags [{tag!r}] are not BIO/IOBES tags (O, B-X, I-X, E-X, S-X) "
                                f"(line {line!r}); check tag_column (now {tag_column}) and the file's format.")
            tokens.append(nfc(cols[0]))
            tags.append(tag)
    flush()
    if not sentences:
        raise DataError(f"{path} holds no sentences (expected 'token tag' lines separated by blank lines).")
    return TokenDataset(sentences, name=name or f"{path.stem}-{code}")
