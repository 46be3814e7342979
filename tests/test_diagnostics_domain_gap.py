"""domain_gap (MMD + classifier two-sample tests), vocabulary_gap and label_shift."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2 as chi2_distribution

from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.diagnostics.domain_gap import domain_gap, label_shift, mmd2_unbiased, vocabulary_gap
from polyglot_transfer.errors import ConfigError, DataError


def _gaussians(shift: float, seed: int = 1, n_a: int = 120, n_b: int = 100, dim: int = 8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_a, dim)), rng.normal(size=(n_b, dim)) + shift


def test_same_gaussian_gives_no_evidence_of_a_gap() -> None:
    a, b = _gaussians(0.0)
    result = domain_gap(a, b, n_permutations=200, seed=0)
    assert result.mmd_p_value > 0.05, result
    assert result.classifier_p_value > 0.05, result
    assert not result.differs
    assert result.summary.startswith("No evidence that the two samples differ")
    assert (result.n_a, result.n_b, result.dim, result.n_permutations) == (120, 100, 8, 200)
    assert result.classifier_n == 100  # both cut to 100 rows; half of the 200 is held out


def test_shifted_means_are_detected() -> None:
    a, b = _gaussians(0.6)
    result = domain_gap(a, b, n_permutations=200, seed=0)
    assert result.mmd_p_value < 0.01, result
    assert result.mmd_p_value == pytest.approx(1 / 201)  # no permutation reaches the observed MMD
    assert result.classifier_p_value < 0.01, result
    assert result.classifier_accuracy > 0.6
    assert result.differs
    assert result.summary.startswith("The two samples differ: MMD² = ")
    assert "permutation p = 0.005" in result.summary


def _mixture(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Rows from a mixture of tight clusters (texts of a few topics), not a single Gaussian."""
    return centres[rng.integers(len(centres), size=n)] + 0.3 * rng.normal(size=(n, centres.shape[1]))


def test_random_splits_of_one_sample_are_not_flagged_even_with_repeated_rows() -> None:
    """Calibration: two halves of the same data differ at rate alpha at most; a sample holding some texts
    twice (common in scraped data) used to be flagged every time (repeats inflate the within-sample MMD)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16)) * 2
    pool = _mixture(300, rng, centres)
    flagged, flagged_with_repeats = 0, 0
    for split in range(20):
        order = np.random.default_rng(split).permutation(len(pool))
        a, b = pool[order[:150]], pool[order[150:]]
        flagged += domain_gap(a, b, seed=split).differs
        repeated = np.vstack([a, a[:50]])  # a third of a's rows twice
        result = domain_gap(repeated, b, seed=split)
        assert result.n_repeated == 50
        flagged_with_repeats += result.differs
    # 20 splits at alpha 0.05: 1 expected by chance, 3 or more has probability 0.08 under a calibrated test
    assert flagged <= 2, flagged
    assert flagged_with_repeats <= 2, flagged_with_repeats
    shifted = _mixture(150, rng, centres + 1.0)
    assert domain_gap(pool[:150], shifted).differs


def test_rows_shared_by_both_samples_are_dropped_from_the_larger() -> None:
    a, b = _gaussians(0.0, n_a=60, n_b=40)
    result = domain_gap(np.vstack([a, b[:10]]), b, n_permutations=100)
    assert (result.n_a, result.n_b, result.n_repeated) == (70, 40, 10)
    with pytest.raises(DataError, match="b has 3 distinct rows not shared with the other sample; expected at least 5"):
        domain_gap(a, np.vstack([b[:3]] * 4))


def test_results_are_reproducible_with_a_seed() -> None:
    a, b = _gaussians(0.2)
    first, second = domain_gap(a, b, seed=3), domain_gap(a, b, seed=3)
    assert first == second


def test_mmd_is_zero_in_expectation_and_grows_with_the_shift() -> None:
    a, b = _gaussians(0.0, n_a=200, n_b=200)
    near = mmd2_unbiased(a, b)
    far = mmd2_unbiased(*_gaussians(1.0, n_a=200, n_b=200))
    assert abs(near) < 0.01
    assert far > 10 * max(abs(near), 1e-3)


def test_one_dimensional_samples_are_accepted() -> None:
    rng = np.random.default_rng(0)
    result = domain_gap(rng.normal(size=50), rng.normal(size=50) + 2.0, n_permutations=50)
    assert result.dim == 1 and result.differs


def test_bad_inputs_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="a has 3 columns and b has 4"):
        domain_gap(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(DataError, match="b has 2 rows; expected at least 5"):
        domain_gap(rng.normal(size=(10, 3)), rng.normal(size=(2, 3)))
    bad = rng.normal(size=(10, 3))
    bad[4, 1] = np.nan
    with pytest.raises(DataError, match="a contains NaN"):
        domain_gap(bad, rng.normal(size=(10, 3)))
    with pytest.raises(ConfigError, match=r"n_permutations must be an int in \[1, inf\)\. Got 0 instead"):
        domain_gap(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), n_permutations=0)


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_gap_by_hand() -> None:
    # a types: the cat sat a dog ran (6); b tokens: the cat ran a bird flew (6 types, 6 tokens)
    result = vocabulary_gap(["The cat sat.", "A dog ran!"], ["the cat ran", "a bird flew"])
    assert result.unit == "word"
    assert (result.n_types_a, result.n_types_b, result.shared_types) == (6, 6, 4)
    assert result.jaccard == pytest.approx(4 / 8)
    assert result.oov_rate == pytest.approx(2 / 6)
    assert result.oov_type_rate == pytest.approx(2 / 6)
    assert [t for t, _ in result.top_oov] == ["bird", "flew"]
    assert result.summary.startswith("33% of the word tokens in B never occur in A")


def test_vocabulary_gap_counts_running_tokens_for_oov() -> None:
    result = vocabulary_gap(["x y"], ["z z z y"])
    assert result.oov_rate == pytest.approx(3 / 4)  # token-level
    assert result.oov_type_rate == pytest.approx(1 / 2)  # type-level


def test_vocabulary_gap_accepts_datasets_and_tokenizers() -> None:
    class Chars:  # a "tokenizer" that splits into characters
        def tokenize(self, text: str) -> list[str]:
            return [c for c in text if not c.isspace()]

    a = TextDataset([make_example(1, "ab", lang="eng"), make_example(2, "ba", lang="eng")])
    result = vocabulary_gap(a, ["abc"], tokenizer=Chars())
    assert result.unit == "subword"
    assert result.oov_rate == pytest.approx(1 / 3)
    with pytest.raises(DataError, match="texts_b holds no words"):
        vocabulary_gap(["a"], ["  "])


# --------------------------------------------------------------------------- labels


def test_label_shift_by_hand() -> None:
    # A: 30 x, 10 y; B: 10 x, 30 y. Expected counts are all 20, so chi2 = 4 * 10**2 / 20 = 20 with 1 df.
    result = label_shift(["x"] * 30 + ["y"] * 10, ["x"] * 10 + ["y"] * 30)
    assert result.labels == ["x", "y"]
    assert (result.counts_a, result.counts_b) == ([30, 10], [10, 30])
    assert result.tvd == pytest.approx(0.5)
    assert result.chi2 == pytest.approx(20.0)
    assert result.dof == 1
    assert result.p_value == pytest.approx(chi2_distribution.sf(20.0, 1))
    assert result.summary.startswith("The label distributions differ: total variation distance 0.50")
    assert "x is 75% of A and 25% of B" in result.summary


def test_label_shift_with_a_label_missing_on_one_side() -> None:
    result = label_shift(["a", "a", "b", "b"], ["a", "a", "a", "c"])
    assert result.labels == ["a", "b", "c"]
    assert result.tvd == pytest.approx(0.5 * (abs(0.5 - 0.75) + 0.5 + 0.25))
    assert result.dof == 2
    assert "approximate" in result.summary  # tiny counts


def test_label_shift_identical_and_degenerate() -> None:
    same = label_shift(["a", "b"] * 20, ["b", "a"] * 20)
    assert same.tvd == 0.0 and same.p_value == pytest.approx(1.0)
    assert same.summary.startswith("No evidence that the label distributions differ")
    single = label_shift(["a"] * 3, ["a"] * 5)
    assert (single.chi2, single.dof, single.p_value) == (0.0, 0, 1.0)


def test_label_shift_refuses_bad_labels() -> None:
    with pytest.raises(DataError, match="labels_b has 1 missing label"):
        label_shift(["a", "b"], ["a", None])
    with pytest.raises(DataError, match="labels_a is empty"):
        label_shift([], ["a"])
    with pytest.raises(DataError, match="must be a list of labels; got the string"):
        label_shift("ab", ["a"])


@pytest.mark.integration
def test_in_domain_english_is_not_flagged_and_out_of_domain_english_is(e5_path) -> None:
    """The real model on the demo corpus: random halves of its English messages are one domain (at most one of
    ten splits may be flagged by chance at alpha 0.05); UDHR articles are clearly another."""
    from polyglot_transfer.data.corpora import load_demo_corpus
    from polyglot_transfer.diagnostics.udhr import load_udhr
    from polyglot_transfer.errors import PGTError
    from polyglot_transfer.retrieval.embedder import Embedder

    corpus = load_demo_corpus()
    english = corpus.train.texts + corpus.test.by_language()["eng_Latn"].texts
    embedder = Embedder(e5_path)
    vectors = embedder.encode_queries(english)
    flagged = []
    for split in range(10):
        order = np.random.default_rng(split).permutation(len(vectors))
        half = len(order) // 2
        result = domain_gap(vectors[order[:half]], vectors[order[half:]], seed=split)
        flagged.append(result.differs)
    assert sum(flagged) <= 1, flagged
    try:
        udhr = load_udhr(None, "eng").lines
    except PGTError as exc:
        pytest.skip(f"UDHR English is not available ({exc})")
    far = domain_gap(vectors[:150], embedder.encode_queries(udhr[:150]))
    assert far.differs and far.classifier_accuracy > 0.9, far.summary
