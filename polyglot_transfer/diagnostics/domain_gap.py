"""Is the target data different from the data the model was adapted on? Three two-sample checks.

- :func:`domain_gap` compares two sets of vectors (usually sentence embeddings of the source training
  texts and the target test texts) with two tests that answer the same question in different ways:
  the kernel maximum mean discrepancy (MMD, Gretton et al. 2012; RBF kernel, median-heuristic
  bandwidth, permutation p-value) and a held-out classifier two-sample test (Lopez-Paz & Oquab 2017:
  if a logistic regression tells held-out texts of the two samples apart better than chance, they
  differ). Both p-values are exact under the null, and repeated rows are removed first, so two samples
  of the same data are flagged at rate alpha at most (tests/test_diagnostics_domain_gap.py checks it).
- :func:`vocabulary_gap` compares word (or subword) types: overlap and out-of-vocabulary rate.
- :func:`label_shift` compares label distributions: total variation distance and a chi-square test.

Each result carries a plain-language ``summary`` for reports.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyglot_transfer.languages import split_words
from polyglot_transfer.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = [
    "GapResult",
    "VocabularyGap",
    "LabelShift",
    "domain_gap",
    "vocabulary_gap",
    "label_shift",
    "mmd2_unbiased",
    "MIN_ROWS",
    "MAX_ROWS_PER_SAMPLE",
    "DEFAULT_PERMUTATIONS",
]

#: Fewest rows per sample domain_gap accepts (the classifier test needs a few per fold).
MIN_ROWS = 5
#: Default number of permutations of the MMD test: p-values resolve down to 1/1001, well below alpha / 2.
DEFAULT_PERMUTATIONS = 1000
#: Larger samples are randomly subsampled to this many rows (the kernel matrix is quadratic in size).
MAX_ROWS_PER_SAMPLE = 1000


def _format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# --------------------------------------------------------------------------- embeddings: MMD + classifier


@dataclass
class GapResult:
    """Two-sample tests on vectors. `differs` is True when either p-value is below alpha / 2 (Bonferroni).

    `n_a` / `n_b` are the rows received; `n_repeated` rows were dropped as repeats (within or across the
    samples) before testing; `classifier_n` is the held-out size of the classifier test (`n_folds` is 1).
    """

    n_a: int
    n_b: int
    dim: int
    mmd2: float
    mmd_p_value: float
    bandwidth: float
    n_permutations: int
    classifier_accuracy: float
    classifier_p_value: float
    classifier_n: int
    n_folds: int
    alpha: float
    differs: bool
    n_repeated: int = 0
    summary: str = ""


def _as_matrix(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"domain_gap: {name} must be a numeric array of shape (n, d); could not convert ({exc})."
        ) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"domain_gap: {name} must have shape (n, d) (or (n,)); got shape {arr.shape}.")
    if arr.shape[0] < MIN_ROWS:
        raise DataError(
            f"domain_gap: {name} has {arr.shape[0]} rows; expected at least {MIN_ROWS} per sample. "
            "Embed more texts."
        )
    if not np.isfinite(arr).all():
        raise DataError(f"domain_gap: {name} contains NaN or infinite values; remove or fix those rows.")
    return arr


def _sq_distances(z: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def _median_bandwidth(d2: np.ndarray) -> float:
    upper = d2[np.triu_indices_from(d2, k=1)]
    upper = upper[upper > 0]
    if upper.size == 0:
        return 1.0  # every point identical: any bandwidth gives MMD 0
    return float(np.sqrt(np.median(upper)))


def _mmd2_from_kernel(k0: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for each row of `mask` (True = sample a) given a zero-diagonal kernel matrix."""
    a = mask.astype(np.float64)
    b = 1.0 - a
    n = a.sum(axis=1)
    m = b.sum(axis=1)
    ka = a @ k0
    s_aa = np.einsum("pi,pi->p", ka, a)
    s_ab = np.einsum("pi,pi->p", ka, b)
    s_bb = k0.sum() - s_aa - 2.0 * s_ab
    return s_aa / (n * (n - 1)) + s_bb / (m * (m - 1)) - 2.0 * s_ab / (n * m)


def mmd2_unbiased(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD between samples `a` and `b` with an RBF kernel (median heuristic by default)."""
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    z = np.vstack([a, b])
    d2 = _sq_distances(z)
    sigma = _median_bandwidth(d2) if bandwidth is None else float(bandwidth)
    k0 = np.exp(-d2 / (2.0 * sigma**2))
    np.fill_diagonal(k0, 0.0)
    mask = np.zeros((1, len(z)), dtype=bool)
    mask[0, : len(a)] = True
    return float(_mmd2_from_kernel(k0, mask)[0])


def _classifier_test(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, seed: int
) -> tuple[float, float, int, int]:
    """Held-out classifier two-sample test (Lopez-Paz & Oquab 2017): fit on half, score the other half.

    Both samples are cut to the same size k (chance accuracy exactly 0.5); a standardised logistic
    regression is trained on a stratified half and its accuracy on the held-out half is tested against 0.5
    with an exact one-sided binomial test. Held-out predictions are independent given the fitted model,
    so the p-value is exact under the null (pooled cross-validated predictions are not independent and
    make the test anti-conservative). Returns (accuracy, p-value, held-out n, 1).
    """
    from scipy.stats import binomtest
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = min(len(a), len(b))
    a = a[rng.choice(len(a), size=k, replace=False)] if len(a) > k else a
    b = b[rng.choice(len(b), size=k, replace=False)] if len(b) > k else b
    x = np.vstack([a, b])
    y = np.r_[np.zeros(k, dtype=int), np.ones(k, dtype=int)]
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_fit, y_fit)
    correct = int((model.predict(x_held) == y_held).sum())
    p = float(binomtest(correct, len(y_held), 0.5, alternative="greater").pvalue)
    return correct / len(y_held), p, len(y_held), 1


def _unique_rows(x: np.ndarray) -> tuple[np.ndarray, int]:
    """`x` without repeated rows (first occurrence kept, order kept) and how many were dropped."""
    _, first = np.unique(np.ascontiguousarray(x), axis=0, return_index=True)
    keep = np.sort(first)
    return x[keep], len(x) - len(keep)


def _drop_shared(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows of `a` that do not also occur in `b`, and how many were dropped."""
    seen = {row.tobytes() for row in np.ascontiguousarray(b)}
    keep = np.array([row.tobytes() not in seen for row in np.ascontiguousarray(a)], dtype=bool)
    return a[keep], int((~keep).sum())


def domain_gap(
    a: Any,
    b: Any,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    alpha: float = 0.05,
) -> GapResult:
    """Do vectors `a` (n, d) and `b` (m, d) come from the same distribution? MMD + classifier two-sample tests.

    Repeated rows are removed first, within each sample and across them (a row in both is dropped from
    the larger sample): the tests assume independent draws, and a text present twice inflates the
    within-sample similarity, so duplicates would make identical distributions look different.
    MMD: unbiased MMD^2 with an RBF kernel whose bandwidth is the median pairwise distance of the
    pooled sample; p-value = (1 + #permutations with MMD^2 >= observed) / (1 + n_permutations), exact
    (valid at every level) under exchangeability. Classifier: a held-out classifier two-sample test
    with an exact binomial p-value (see :func:`_classifier_test`). `differs` when either p-value is
    below alpha / 2 (Bonferroni over the two tests). Samples over MAX_ROWS_PER_SAMPLE rows are subsampled.
    """
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, int | np.integer) or n_permutations < 1:
        raise ConfigError(f"n_permutations must be an int in [1, inf). Got {n_permutations!r} instead.")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be a float in (0, 1), e.g. 0.05. Got {alpha!r} instead.")
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise DataError(
            f"domain_gap: a has {a.shape[1]} columns and b has {b.shape[1]}; both samples must be embedded by the "
            "same model (same dimension)."
        )
    n_a, n_b = len(a), len(b)
    a, dup_a = _unique_rows(a)
    b, dup_b = _unique_rows(b)
    if len(a) >= len(b):
        a, shared = _drop_shared(a, b)
    else:
        b, shared = _drop_shared(b, a)
    if dup_a or dup_b or shared:
        logger.info("domain_gap: dropped %d repeated row(s) in a, %d in b and %d present in both samples",
                    dup_a, dup_b, shared)
    for name, x in (("a", a), ("b", b)):
        if len(x) < MIN_ROWS:
            raise DataError(f"domain_gap: {name} has {len(x)} distinct rows not shared with the other sample; "
                            f"expected at least {MIN_ROWS}. Pass more distinct texts.")
    rng = np.random.default_rng(seed)
    if len(a) > MAX_ROWS_PER_SAMPLE:
        logger.info("domain_gap: subsampling a from %d to %d rows", len(a), MAX_ROWS_PER_SAMPLE)
        a = a[rng.choice(len(a), size=MAX_ROWS_PER_SAMPLE, replace=False)]
    if len(b) > MAX_ROWS_PER_SAMPLE:
        logger.info("domain_gap: subsampling b from %d to %d rows", len(b), MAX_ROWS_PER_SAMPLE)
        b = b[rng.choice(len(b), size=MAX_ROWS_PER_SAMPLE, replace=False)]

    z = np.vstack([a, b])
    d2 = _sq_distances(z)
    sigma = _median_bandwidth(d2)
    k0 = np.exp(-d2 / (2.0 * sigma**2))
    np.fill_diagonal(k0, 0.0)
    observed_mask = np.zeros((1, len(z)), dtype=bool)
    observed_mask[0, : len(a)] = True
    observed = float(_mmd2_from_kernel(k0, observed_mask)[0])
    exceed = 0
    for start in range(0, n_permutations, 50):
        count = min(50, n_permutations - start)
        masks = np.zeros((count, len(z)), dtype=bool)
        for row in range(count):
            masks[row, rng.permutation(len(z))[: len(a)]] = True
        exceed += int((_mmd2_from_kernel(k0, masks) >= observed - 1e-12).sum())
    mmd_p = (1 + exceed) / (1 + n_permutations)

    accuracy, clf_p, clf_n, folds = _classifier_test(a, b, rng, seed)
    differs = min(mmd_p, clf_p) < alpha / 2
    result = GapResult(
        n_a=n_a,
        n_b=n_b,
        dim=a.shape[1],
        mmd2=observed,
        mmd_p_value=mmd_p,
        bandwidth=sigma,
        n_permutations=int(n_permutations),
        classifier_accuracy=accuracy,
        classifier_p_value=clf_p,
        classifier_n=clf_n,
        n_folds=folds,
        alpha=float(alpha),
        differs=bool(differs),
        n_repeated=dup_a + dup_b + shared,
    )
    evidence = (
        f"MMD² = {observed:.3g} (permutation {_format_p(mmd_p)}, {n_permutations} permutations); a logistic-"
        f"regression classifier tells them apart with {accuracy:.0%} accuracy on {clf_n} held-out texts "
        f"(chance 50%, binomial {_format_p(clf_p)})"
    )
    if differs:
        result.summary = f"The two samples differ: {evidence}."
    else:
        result.summary = f"No evidence that the two samples differ: {evidence}."
    return result


# --------------------------------------------------------------------------- vocabulary


@dataclass
class VocabularyGap:
    """Type overlap of two text collections. `unit` is "word" or "subword"."""

    unit: str
    n_types_a: int
    n_types_b: int
    n_tokens_b: int
    shared_types: int
    jaccard: float
    oov_rate: float
    oov_type_rate: float
    top_oov: list[tuple[str, int]] = field(default_factory=list)
    summary: str = ""


def _texts(texts: Any, name: str) -> list[str]:
    if hasattr(texts, "texts") and not isinstance(texts, str):
        texts = texts.texts  # a TextDataset
    if isinstance(texts, str):
        texts = [texts]
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise DataError(f"{name}: item {i} is {type(text).__name__} {text!r}; expected a list of strings.")
    return out


def _strip_punct(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]


def _units(text: str, tokenizer: Any) -> list[str]:
    text = unicodedata.normalize("NFC", text)
    if tokenizer is not None:
        return list(tokenizer.tokenize(text))
    return [w for w in (_strip_punct(w).casefold() for w in split_words(text)) if w]


def vocabulary_gap(texts_a: Any, texts_b: Any, tokenizer: Any | None = None) -> VocabularyGap:
    """How much of `texts_b`'s vocabulary `texts_a` covers: type Jaccard and the OOV rate of b w.r.t. a.

    Without a tokenizer the units are case-folded whitespace words with edge punctuation stripped;
    with one (a Hugging Face tokenizer) they are its subword pieces. Either argument may be a
    TextDataset. `oov_rate` counts running tokens of b whose type never occurs in a.
    """
    a_texts, b_texts = _texts(texts_a, "texts_a"), _texts(texts_b, "texts_b")
    counts_a: Counter[str] = Counter(u for t in a_texts for u in _units(t, tokenizer))
    counts_b: Counter[str] = Counter(u for t in b_texts for u in _units(t, tokenizer))
    for name, counts in (("texts_a", counts_a), ("texts_b", counts_b)):
        if not counts:
            raise DataError(f"vocabulary_gap: {name} holds no words; expected at least one non-empty text.")
    types_a, types_b = set(counts_a), set(counts_b)
    shared = types_a & types_b
    n_tokens_b = sum(counts_b.values())
    oov_tokens = sum(c for t, c in counts_b.items() if t not in types_a)
    unit = "word" if tokenizer is None else "subword"
    oov = [(t, c) for t, c in counts_b.most_common() if t not in types_a][:10]
    result = VocabularyGap(
        unit=unit,
        n_types_a=len(types_a),
        n_types_b=len(types_b),
        n_tokens_b=n_tokens_b,
        shared_types=len(shared),
        jaccard=len(shared) / len(types_a | types_b),
        oov_rate=oov_tokens / n_tokens_b,
        oov_type_rate=len(types_b - types_a) / len(types_b),
        top_oov=oov,
    )
    example = f" Most frequent unseen: {', '.join(repr(t) for t, _ in oov[:5])}." if oov else ""
    result.summary = (
        f"{result.oov_rate:.0%} of the {unit} tokens in B never occur in A ({result.oov_type_rate:.0%} of B's "
        f"{len(types_b)} {unit} types); the two vocabularies share {len(shared)} types "
        f"(Jaccard {result.jaccard:.2f}).{example}"
    )
    return result


# --------------------------------------------------------------------------- labels


@dataclass
class LabelShift:
    """Label distributions of two samples, their total variation distance and a chi-square homogeneity test."""

    labels: list[Hashable]
    counts_a: list[int]
    counts_b: list[int]
    proportions_a: list[float]
    proportions_b: list[float]
    tvd: float
    chi2: float
    dof: int
    p_value: float
    summary: str = ""


def _labels(labels: Any, name: str) -> list[Hashable]:
    if hasattr(labels, "labels") and hasattr(labels, "examples"):
        labels = labels.labels  # a TextDataset
    if isinstance(labels, str):
        raise DataError(f"label_shift: {name} must be a list of labels; got the string {labels!r}.")
    out = list(labels) if isinstance(labels, Iterable) else None
    if out is None:
        raise DataError(f"label_shift: {name} must be a list of labels; got {type(labels).__name__}.")
    if not out:
        raise DataError(f"label_shift: {name} is empty; expected at least one label.")
    missing = [i for i, label in enumerate(out) if label is None]
    if missing:
        raise DataError(
            f"label_shift: {name} has {len(missing)} missing label(s) (first at position {missing[0]}); "
            "drop unlabelled rows first."
        )
    return out


def label_shift(labels_a: Sequence[Hashable] | Any, labels_b: Sequence[Hashable] | Any) -> LabelShift:
    """Compare two label distributions: total variation distance and a chi-square test of homogeneity.

    TVD = ½ Σ |p_a(y) − p_b(y)| (0: same distribution, 1: no label in common). The chi-square test uses
    the 2 × k table of counts without continuity correction; with one label in total it is undefined
    and p = 1. Either argument may be a TextDataset.
    """
    from scipy.stats import chi2_contingency

    a, b = _labels(labels_a, "labels_a"), _labels(labels_b, "labels_b")
    count_a, count_b = Counter(a), Counter(b)
    labels = sorted(set(count_a) | set(count_b), key=str)
    ca = [count_a[y] for y in labels]
    cb = [count_b[y] for y in labels]
    pa = [c / len(a) for c in ca]
    pb = [c / len(b) for c in cb]
    tvd = 0.5 * sum(abs(x - y) for x, y in zip(pa, pb, strict=True))
    if len(labels) < 2:
        chi2, dof, p, small = 0.0, 0, 1.0, False
    else:
        stat, p, dof, expected = chi2_contingency(np.array([ca, cb]), correction=False)
        chi2, p, dof, small = float(stat), float(p), int(dof), bool((expected < 5).any())
    result = LabelShift(
        labels=labels,
        counts_a=ca,
        counts_b=cb,
        proportions_a=pa,
        proportions_b=pb,
        tvd=tvd,
        chi2=chi2,
        dof=dof,
        p_value=p,
    )
    gaps = sorted(zip(labels, pa, pb, strict=True), key=lambda t: -abs(t[1] - t[2]))
    top = gaps[0]
    change = f" Largest change: {top[0]!s} is {top[1]:.0%} of A and {top[2]:.0%} of B." if tvd > 0 else ""
    verdict = "The label distributions differ" if p < 0.05 else "No evidence that the label distributions differ"
    caveat = " Some expected counts are below 5, so the p-value is approximate." if small else ""
    result.summary = (
        f"{verdict}: total variation distance {tvd:.2f}, chi-square {chi2:.2f} with {dof} df ({_format_p(p)})."
        f"{change}{caveat}"
    )
    return result
