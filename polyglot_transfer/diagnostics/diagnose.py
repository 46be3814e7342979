"""`pgt diagnose` as a Python API: everything that can explain a language's failure, before any training.

For each language in the data: how well the model's tokenizer fits it (and how that compares to the
source language), and whether the texts the model will meet differ from each other. Up to four
samples per language take part:

- ``train``: the labelled source-language training texts (the data filtered to `source`);
- ``data``: the data's texts in this language;
- ``documents``: the retrieval corpus (its rows in this language when it has a ``lang`` column with
  some, else all of it);
- ``queries``: incoming queries in this language (a file with ``text`` and ``lang``).

Each pair that exists is compared three ways (see :mod:`polyglot_transfer.diagnostics.domain_gap`):
sentence embeddings (MMD and a classifier two-sample test, with p-values), word vocabulary (overlap
and OOV rate), and labels (when both sides are labelled). All samples are embedded with the same
(query) prompt so that the tests see content, not prompt differences. Samples larger than
`max_texts` are randomly subsampled; a text repeated within a sample, or present in both, is tested once.

What is flagged: the tokenizer's problems, a domain gap between samples of the same kind (training
texts, the data's texts, incoming queries), and label shift. Pairs with ``documents`` are reported but
not flagged as domain gaps: documents are passages and the others are short messages, so the embedding
tests tell them apart whatever their topic (their vocabulary overlap is the useful number there).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.tasks import TASKS, task_texts
from polyglot_transfer.diagnostics.domain_gap import (
    DEFAULT_PERMUTATIONS,
    MIN_ROWS,
    GapResult,
    LabelShift,
    VocabularyGap,
    domain_gap,
    label_shift,
    vocabulary_gap,
)
from polyglot_transfer.diagnostics.tokenizer_fit import (
    TokenizerFit,
    compare_fit,
    fertility_ratio,
    load_tokenizer,
    tokenizer_fit,
)
from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = ["PairGap", "LanguageDiagnosis", "DiagnosisReport", "diagnose", "load_diagnosis_data", "sample_dataset",
           "BUILTIN_DATA", "DEFAULT_MAX_TEXTS"]

#: Names `data` may take instead of a file: every registered task (`pgt ls tasks`).
BUILTIN_DATA = TASKS
#: Texts per sample (larger samples are subsampled with the seed); `pgt plan` measures fertility on the same.
DEFAULT_MAX_TEXTS = 300


@dataclass
class PairGap:
    """Two samples of one language compared: embeddings, vocabulary and (when labelled) labels."""

    a: str
    b: str
    n_a: int
    n_b: int
    embedding: GapResult | None
    vocabulary: VocabularyGap
    labels: LabelShift | None = None

    @property
    def name(self) -> str:
        return f"{self.a} vs {self.b}"

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self) | {"name": self.name}


@dataclass
class LanguageDiagnosis:
    """Tokenizer fit and domain gaps for one language; `flags` lists what needs attention.

    `fertility_ratio` is this language's pieces per unit over the source's (None when the units differ).
    """

    lang: str
    name: str
    n_texts: int
    fit: TokenizerFit
    vs_source: list[str]
    gaps: list[PairGap] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    fertility_ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang, "name": self.name, "n_texts": self.n_texts, "fit": self.fit.to_dict(),
            "vs_source": self.vs_source, "gaps": [g.to_dict() for g in self.gaps], "flags": self.flags,
            "fertility_ratio": self.fertility_ratio,
        }


@dataclass
class DiagnosisReport:
    """`pgt diagnose`'s result: one LanguageDiagnosis per language (and the UDHR table when asked)."""

    model: str
    source: str
    data: str
    languages: list[LanguageDiagnosis]
    udhr: list[TokenizerFit] | None = None

    @property
    def flagged(self) -> dict[str, list[str]]:
        """language -> flags, only languages with any."""
        return {d.lang: d.flags for d in self.languages if d.flags}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "source": self.source, "data": self.data,
            "languages": [d.to_dict() for d in self.languages],
            "udhr": None if self.udhr is None else [f.to_dict() for f in self.udhr],
        }


# --------------------------------------------------------------------------- loading


def load_diagnosis_data(data: str | Path | TextDataset, languages: list[str] | None = None) -> tuple[TextDataset, TextDataset | None]:
    """(texts with `lang`, default documents) from a registered task's name (`pgt ls tasks`), a file or a dataset."""
    if isinstance(data, TextDataset):
        return data, None
    name = str(data)
    if name in TASKS:
        return task_texts(name, languages)
    path = Path(name).expanduser()
    if not path.is_file():
        from polyglot_transfer.errors import did_you_mean

        raise DataError(f"--data {name!r} is neither a file nor a built-in corpus.{did_you_mean(name, TASKS)} "
                        f"Pass a JSONL/CSV/TSV file with text and lang columns, or a task: {', '.join(TASKS)}.")
    from polyglot_transfer.data.loaders import load_table

    return load_table(path), None


def _load_optional(path: str | Path | TextDataset | None, what: str) -> TextDataset | None:
    if path is None or isinstance(path, TextDataset):
        return path
    from polyglot_transfer.data.loaders import load_table

    if not Path(path).expanduser().is_file():
        raise DataError(f"{what} file {path} does not exist. Pass a JSONL/CSV/TSV file with a text column.")
    return load_table(Path(path).expanduser())


def sample_dataset(ds: TextDataset, n: int, seed: int) -> TextDataset:
    """`ds` itself when it has at most `n` rows, else `n` rows drawn with `seed` (in their original order)."""
    if len(ds) <= n:
        return ds
    rows = sorted(random.Random(seed).sample(range(len(ds)), n))
    return TextDataset([ds[i] for i in rows], name=ds.name)


# --------------------------------------------------------------------------- the diagnosis


def _distinct_texts(a: TextDataset, b: TextDataset) -> tuple[list[str], list[str]]:
    """Each sample's texts once, and a text present in both only in the smaller sample (independent draws)."""
    ta, tb = list(dict.fromkeys(a.texts)), list(dict.fromkeys(b.texts))
    if len(ta) >= len(tb):
        in_b = set(tb)
        ta = [t for t in ta if t not in in_b]
    else:
        in_a = set(ta)
        tb = [t for t in tb if t not in in_a]
    return ta, tb


def _compare(a_name: str, a: TextDataset, b_name: str, b: TextDataset, vectors: Any, n_permutations: int,
             seed: int, alpha: float) -> PairGap:
    emb = None
    ta, tb = _distinct_texts(a, b)
    if len(ta) >= MIN_ROWS and len(tb) >= MIN_ROWS:
        emb = domain_gap(vectors(ta), vectors(tb), n_permutations=n_permutations, seed=seed, alpha=alpha)
    labels = None
    if all(x is not None for x in a.labels) and all(x is not None for x in b.labels) and len(a) and len(b):
        labels = label_shift(a.labels, b.labels)
    return PairGap(a=a_name, b=b_name, n_a=len(a), n_b=len(b), embedding=emb,
                   vocabulary=vocabulary_gap(a.texts, b.texts), labels=labels)


def diagnose(
    model: str | Path,
    data: str | Path | TextDataset,
    source: str,
    *,
    languages: list[str] | None = None,
    documents: str | Path | TextDataset | None = None,
    queries: str | Path | TextDataset | None = None,
    embedder: Any = None,
    tokenizer: Any = None,
    max_texts: int = DEFAULT_MAX_TEXTS,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    alpha: float = 0.05,
    seed: int = 0,
    udhr: bool = False,
    udhr_root: str | Path | None = None,
    progress: bool = False,
) -> DiagnosisReport:
    """Tokenizer fit and domain gaps per language (see the module docstring); `udhr=True` adds the UDHR table.

    `embedder` (an Embedder; default: one for `model`) and `tokenizer` (default: `model`'s) may be
    passed to reuse loaded ones or to test with light ones. `languages` defaults to every language
    in the data (and queries). `progress` shows a bar over the languages (tqdm, on stderr).
    """
    if not isinstance(max_texts, int) or max_texts < MIN_ROWS:
        raise DataError(f"max_texts must be an int >= {MIN_ROWS}. Got {max_texts!r} instead.")
    source_code = resolve_language(source).code
    wanted = None if not languages else [resolve_language(x).code for x in languages]
    table, default_docs = load_diagnosis_data(data, None if wanted is None else [source_code, *wanted])
    docs = _load_optional(documents, "--documents") if documents is not None else default_docs
    query_set = _load_optional(queries, "--queries")
    by_lang = table.by_language()
    if source_code not in by_lang:
        raise DataError(f"The data has no texts in the source language {source_code}; it has "
                        f"{', '.join(sorted(by_lang)) or 'none'}. Pass --source with one of those.")
    query_by_lang = query_set.by_language() if query_set is not None else {}
    langs = wanted or sorted(set(by_lang) | set(query_by_lang), key=lambda c: (c != source_code, c))
    missing = [x for x in langs if x not in by_lang and x not in query_by_lang]
    if missing:
        raise DataError(f"No texts in {', '.join(missing)} in the data or queries; they have "
                        f"{', '.join(sorted(set(by_lang) | set(query_by_lang)))}.")
    if tokenizer is None:
        tokenizer = load_tokenizer(model)
    elif isinstance(tokenizer, str | Path):
        tokenizer = load_tokenizer(tokenizer)
    if embedder is None:
        from polyglot_transfer.retrieval.embedder import Embedder

        embedder = Embedder(model)

    def vectors(texts: list[str]):
        return embedder.encode_queries(texts)

    train = sample_dataset(by_lang[source_code], max_texts, seed)
    source_fit = tokenizer_fit(tokenizer, train.texts, source_code)
    doc_langs = docs.by_language() if docs is not None else {}
    results: list[LanguageDiagnosis] = []
    for lang in tqdm(langs, desc="diagnose", unit="language", disable=not progress, dynamic_ncols=True):
        own = sample_dataset(by_lang[lang], max_texts, seed) if lang in by_lang else None
        queries_l = sample_dataset(query_by_lang[lang], max_texts, seed) if lang in query_by_lang else None
        sample_for_fit = own if own is not None else queries_l
        fit = tokenizer_fit(tokenizer, sample_for_fit.texts, lang)
        diag = LanguageDiagnosis(lang=lang, name=resolve_language(lang).name, n_texts=len(sample_for_fit), fit=fit,
                                 vs_source=[] if lang == source_code else compare_fit(fit, source_fit),
                                 fertility_ratio=fertility_ratio(fit, source_fit))
        docs_l = None
        if docs is not None:
            docs_l = sample_dataset(doc_langs.get(lang) or docs, max_texts, seed)
        samples = [("train", train)]
        if own is not None and lang != source_code:
            samples.append(("data", own))
        if docs_l is not None:
            samples.append(("documents", docs_l))
        if queries_l is not None:
            samples.append(("queries", queries_l))
        for i in range(len(samples)):
            for j in range(i + 1, len(samples)):
                (na, a), (nb, b) = samples[i], samples[j]
                diag.gaps.append(_compare(na, a, nb, b, vectors, n_permutations, seed, alpha))
        diag.flags = _flags(diag)
        results.append(diag)
        logger.info("diagnosed %s: %d flag(s)", lang, len(diag.flags))
    udhr_fits = None
    if udhr:
        from polyglot_transfer.diagnostics.udhr import udhr_fertility_table

        udhr_fits = udhr_fertility_table(tokenizer, udhr_root)
    return DiagnosisReport(model=str(model), source=source_code, data=str(getattr(data, "name", data)),
                           languages=results, udhr=udhr_fits)


def _flags(diag: LanguageDiagnosis) -> list[str]:
    flags = list(diag.fit.flags)
    flags += [n for n in diag.vs_source if n.startswith("high fertility") and not any(f.startswith("high fertility") for f in flags)]
    for gap in diag.gaps:
        if (gap.embedding is not None and gap.embedding.differs and (gap.a, gap.b) != ("train", "data")
                and "documents" not in (gap.a, gap.b)):
            # train vs data in another language always differs (the language itself), and documents are passages
            # rather than messages (see the module docstring): both reported, not flagged
            flags.append(f"domain gap {gap.name}: {gap.embedding.summary}")
        if gap.labels is not None and gap.labels.p_value < 0.05 and gap.labels.tvd > 0.1:
            flags.append(f"label shift {gap.name}: {gap.labels.summary}")
    return flags
