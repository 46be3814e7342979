"""The one in-memory dataset type every loader returns and every strategy, retriever and evaluator reads.

An :class:`Example` is a text with an optional label, a canonical language code (``yor_Latn``) and
free-form metadata. Text is NFC-normalised when an Example is created, so hashing, matching and
deduplication never depend on how the source file composed its accents (Yoruba mixes both forms).
A :class:`TextDataset` is an ordered list of examples with unique ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = ["Example", "TextDataset", "make_example", "nfc"]


def nfc(text: str) -> str:
    """Unicode NFC normalisation (composed characters)."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Example:
    """One text. `lang` is a canonical code such as 'yor_Latn'; `text` is NFC-normalised on creation."""

    id: str
    text: str
    label: str | None
    lang: str
    meta: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise DataError(f"Example id must be a non-empty string; got {self.id!r}.")
        if not isinstance(self.text, str):
            raise DataError(f"Example {self.id!r}: text must be a string; got {type(self.text).__name__}.")
        if self.label is not None and not isinstance(self.label, str):
            raise DataError(
                f"Example {self.id!r}: label must be a string or None; got {type(self.label).__name__} "
                f"{self.label!r}. Convert labels with str() first."
            )
        if not isinstance(self.lang, str) or not self.lang:
            raise DataError(f"Example {self.id!r}: lang must be a language code such as 'yor_Latn'; got {self.lang!r}.")
        normalised = nfc(self.text)
        if normalised != self.text:
            object.__setattr__(self, "text", normalised)
        if self.label is not None:
            object.__setattr__(self, "label", nfc(self.label))


def make_example(
    id: Any,
    text: str,
    label: Any = None,
    lang: str = "",
    meta: Mapping[str, Any] | None = None,
) -> Example:
    """Build an Example from loosely typed values: id and label become str, `lang` is resolved.

    An empty label ("" or None) becomes None.
    """
    lang_code = resolve_language(lang).code
    if label is not None:
        label = str(label).strip()
        if not label:
            label = None
    return Example(id=str(id), text=text, label=label, lang=lang_code, meta=dict(meta or {}))


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return set(value)


class TextDataset:
    """An ordered collection of :class:`Example` with unique ids and a name (used in reports and run records)."""

    def __init__(self, examples: Iterable[Example], name: str = "dataset") -> None:
        self.examples: list[Example] = list(examples)
        self.name = name
        seen: dict[str, int] = {}
        for position, example in enumerate(self.examples):
            if not isinstance(example, Example):
                raise DataError(
                    f"TextDataset {name!r}: item {position} is a {type(example).__name__}, expected an Example "
                    "(build one with make_example(...))."
                )
            if example.id in seen:
                raise DataError(
                    f"TextDataset {name!r}: duplicate id {example.id!r} at positions {seen[example.id]} and "
                    f"{position}. Ids must be unique; give the rows distinct ids."
                )
            seen[example.id] = position

    # --- sequence protocol ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    @overload
    def __getitem__(self, index: int) -> Example: ...

    @overload
    def __getitem__(self, index: slice) -> TextDataset: ...

    def __getitem__(self, index: int | slice) -> Example | TextDataset:
        if isinstance(index, slice):
            return TextDataset(self.examples[index], name=self.name)
        if isinstance(index, str):
            raise DataError(
                f"TextDataset {self.name!r} is indexed by position, not by {index!r}. "
                f"Use .texts / .labels / .ids for columns, or .filter(...) to select rows."
            )
        return self.examples[index]

    def __repr__(self) -> str:
        return (
            f"TextDataset(name={self.name!r}, examples={len(self)}, languages={self.languages}, "
            f"labels={self.label_set})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextDataset):
            return NotImplemented
        return self.examples == other.examples

    __hash__ = None  # type: ignore[assignment]  # mutable container

    # --- columns ---------------------------------------------------------------------------------------
    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[str | None]:
        return [e.label for e in self.examples]

    @property
    def langs(self) -> list[str]:
        return [e.lang for e in self.examples]

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.examples]

    @property
    def label_set(self) -> list[str]:
        """Sorted unique labels (None left out)."""
        return sorted({e.label for e in self.examples if e.label is not None})

    @property
    def languages(self) -> list[str]:
        """Sorted unique language codes."""
        return sorted({e.lang for e in self.examples})

    # --- selection -------------------------------------------------------------------------------------
    def filter(
        self,
        lang: str | Iterable[str] | None = None,
        label: str | Iterable[str] | None = None,
    ) -> TextDataset:
        """Examples whose language (any alias: 'jav', 'javanese') and label match; None means any."""
        langs = None
        if lang is not None:
            langs = {resolve_language(v).code for v in ([lang] if isinstance(lang, str) else lang)}
        labels = _as_set(label)
        kept = [
            e
            for e in self.examples
            if (langs is None or e.lang in langs) and (labels is None or e.label in labels)
        ]
        return TextDataset(kept, name=self.name)

    def by_language(self) -> dict[str, TextDataset]:
        """One dataset per language, keys sorted; each keeps the original order."""
        groups: dict[str, list[Example]] = {}
        for e in self.examples:
            groups.setdefault(e.lang, []).append(e)
        return {lang: TextDataset(groups[lang], name=f"{self.name}[{lang}]") for lang in sorted(groups)}

    def sample_per_label(self, k: int, seed: int = 0) -> TextDataset:
        """Up to `k` examples per label (unlabelled examples are dropped), in the original order.

        Each label is shuffled by its own RNG seeded with (seed, label), and the first `k` are taken, so
        samples are nested (the 8-shot set is inside the 16-shot set for the same seed) and one label's
        sample does not change when other labels are added. A label with fewer than `k` examples gives all
        of them, with a warning.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise DataError(f"sample_per_label: k must be an int >= 1. Got {k!r} instead.")
        positions: dict[str, list[int]] = {}
        for i, e in enumerate(self.examples):
            if e.label is not None:
                positions.setdefault(e.label, []).append(i)
        chosen: list[int] = []
        for label in sorted(positions):
            idx = list(positions[label])
            if len(idx) < k:
                logger.warning(
                    "%s: label %r has only %d examples (asked for %d per label); taking all of them.",
                    self.name, label, len(idx), k,
                )
            random.Random(f"{seed}\x1f{label}").shuffle(idx)
            chosen.extend(idx[:k])
        return TextDataset([self.examples[i] for i in sorted(chosen)], name=f"{self.name}-{k}shot-seed{seed}")

    # --- identity and export ---------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """sha256 over (id, text, label, lang) of every example, in order. Meta and name are not included."""
        h = hashlib.sha256()
        for e in self.examples:
            h.update(json.dumps([e.id, e.text, e.label, e.lang], ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    def to_records(self) -> list[dict[str, Any]]:
        """Plain dicts (id, text, label, lang, meta), e.g. for JSONL export."""
        return [
            {"id": e.id, "text": e.text, "label": e.label, "lang": e.lang, "meta": dict(e.meta)}
            for e in self.examples
        ]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], name: str = "dataset") -> TextDataset:
        """Inverse of :meth:`to_records`; `lang` values are resolved, so aliases are accepted."""
        examples = []
        for i, r in enumerate(records):
            missing = [k for k in ("id", "text", "lang") if k not in r]
            if missing:
                raise DataError(f"{name}: record {i} has no {', '.join(missing)} (it has: {', '.join(r)}).")
            examples.append(make_example(r["id"], r["text"], r.get("label"), r["lang"], r.get("meta")))
        return cls(examples, name=name)

    @classmethod
    def concat(cls, datasets: Iterable[TextDataset], name: str | None = None) -> TextDataset:
        """Concatenate datasets (ids must stay unique)."""
        datasets = list(datasets)
        examples = [e for d in datasets for e in d]
        return cls(examples, name=name or "+".join(d.name for d in datasets))
