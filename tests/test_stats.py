"""Tests for polyglot_transfer.measure.stats, against answers known in advance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats as scipy_stats

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.metrics import accuracy, macro_f1, token_f1
from polyglot_transfer.measure.stats import (
    CI,
    approximate_randomization_test,
    bootstrap_ci,
    bootstrap_ci_over_seeds,
    holm_correction,
    holm_reject,
    mcnemar_test,
    paired_bootstrap_test,
    wins_ties_losses,
)


def plain_accuracy(y_true: np.ndarray, y_pred: np.ndarray, labels: list | None) -> float:
    """A metric without sufficient statistics: exercises the generic (looping) path."""
    return float(np.mean(y_true == y_pred))


def predictions(y_true: np.ndarray, correct: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Predictions that are right exactly where `correct` is True."""
    return np.where(correct, y_true, (y_true + 1) % n_classes)


@pytest.fixture(scope="module")
def clear_difference() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A is always right; B is right on exactly every other example (50%)."""
    y_true = np.random.default_rng(0).integers(0, 3, 200)
    return y_true, y_true.copy(), predictions(y_true, np.arange(200) % 2 == 0)


@pytest.fixture(scope="module")
def equal_quality() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two independent predictors that are each right with probability 0.7."""
    rng = np.random.default_rng(42)
    y_true = rng.integers(0, 3, 300)
    return y_true, predictions(y_true, rng.random(300) < 0.7), predictions(y_true, rng.random(300) < 0.7)


# --------------------------------------------------------------------------- bootstrap CI


def test_bootstrap_ci_covers_value_and_narrows_as_n_grows() -> None:
    widths = []
    for n in (50, 500, 5000):
        y_true = np.zeros(n, dtype=int)
        y_pred = predictions(y_true, np.arange(n) % 10 < 7)  # exactly 70% right
        ci = bootstrap_ci(accuracy, y_true, y_pred, None, n_resamples=500, seed=1)
        assert ci.value == pytest.approx(0.7)
        assert ci.low < ci.value < ci.high, ci
        assert ci.n == n
        widths.append(ci.high - ci.low)
    assert widths[0] > widths[1] > widths[2], widths
    # Binomial standard error: width ~ 2 * 1.96 * sqrt(0.7 * 0.3 / n).
    assert widths[2] == pytest.approx(2 * 1.96 * math.sqrt(0.21 / 5000), rel=0.15)


def test_bootstrap_ci_all_correct_is_one_one() -> None:
    y = np.arange(40) % 4
    assert bootstrap_ci(accuracy, y, y, None) == CI(value=1.0, low=1.0, high=1.0, n=40)


def test_bootstrap_ci_is_reproducible_with_a_seed() -> None:
    y_true = np.random.default_rng(5).integers(0, 3, 100)
    y_pred = predictions(y_true, np.random.default_rng(6).random(100) < 0.6)
    first = bootstrap_ci(macro_f1, y_true, y_pred, None, seed=7)
    assert bootstrap_ci(macro_f1, y_true, y_pred, None, seed=7) == first
    assert bootstrap_ci(macro_f1, y_true, y_pred, None, seed=8) != first


def test_bootstrap_ci_nominal_coverage() -> None:
    """About 95% of 95% intervals contain the true accuracy (0.7) over repeated test sets."""
    rng = np.random.default_rng(11)
    hits = 0
    for trial in range(100):
        y_true = np.zeros(100, dtype=int)
        y_pred = predictions(y_true, rng.random(100) < 0.7)
        ci = bootstrap_ci(accuracy, y_true, y_pred, None, n_resamples=400, seed=trial)
        hits += ci.low <= 0.7 <= ci.high
    assert 85 <= hits <= 100, hits


def test_vectorised_path_equals_generic_path() -> None:
    y_true = np.random.default_rng(2).integers(0, 3, 80)
    y_pred = predictions(y_true, np.random.default_rng(3).random(80) < 0.6)
    fast = bootstrap_ci(accuracy, y_true, y_pred, None, n_resamples=300, seed=4)
    slow = bootstrap_ci(plain_accuracy, y_true, y_pred, None, n_resamples=300, seed=4)
    assert fast.value == pytest.approx(slow.value)
    assert fast.low == pytest.approx(slow.low) and fast.high == pytest.approx(slow.high)


def test_bootstrap_ci_single_example_is_degenerate() -> None:
    assert bootstrap_ci(accuracy, [1], [0], None) == CI(value=0.0, low=0.0, high=0.0, n=1)


def test_bootstrap_ci_rejects_bad_inputs() -> None:
    with pytest.raises(DataError, match="Cannot resample 0 examples"):
        bootstrap_ci(accuracy, [], [], None)
    with pytest.raises(DataError, match=r"Got lengths \[2, 1\]"):
        bootstrap_ci(accuracy, [0, 1], [0], None)
    with pytest.raises(ConfigError, match=r"n_resamples must be an int in \[1, inf\)\. Got 0 instead\."):
        bootstrap_ci(accuracy, [0], [0], None, n_resamples=0)
    with pytest.raises(ConfigError, match=r"alpha must be a float in \(0, 1\).*Got 5 instead\."):
        bootstrap_ci(accuracy, [0], [0], None, alpha=5)


def test_bootstrap_ci_works_for_qa_metrics() -> None:
    golds = [["Abuja"], ["Lagos", "Èkó"], ["Ìbàdàn"], ["Ọ̀yọ́"]] * 5
    preds = ["Abuja", "Eko", "Ìbàdàn city", "Ọ̀yọ́"] * 5
    ci = bootstrap_ci(token_f1, golds, preds, None, n_resamples=200)
    assert ci.value == pytest.approx((1 + 0 + 2 / 3 + 1) / 4)
    assert ci.low <= ci.value <= ci.high


# --------------------------------------------------------------------------- paired tests: known answers


def test_clearly_significant_difference_in_every_test(clear_difference) -> None:
    y_true, a, b = clear_difference
    boot = paired_bootstrap_test(accuracy, y_true, a, b, None)
    assert boot.delta == pytest.approx(0.5) and boot.value_a == 1.0 and boot.value_b == 0.5
    assert boot.p_value < 0.01
    assert 0.4 < boot.low < 0.5 < boot.high < 0.6
    ar = approximate_randomization_test(accuracy, y_true, a, b, None)
    assert ar.delta == pytest.approx(0.5)
    assert ar.p_value < 0.01
    assert ar.p_value == pytest.approx(1 / 1001)  # no round reaches |delta| = 0.5, and p is never 0
    mc = mcnemar_test(y_true, a, b)
    assert (mc.b, mc.c) == (100, 0)
    assert mc.p_value < 0.01
    # The same holds with the sign flipped.
    assert paired_bootstrap_test(accuracy, y_true, b, a, None).p_value < 0.01
    assert paired_bootstrap_test(accuracy, y_true, b, a, None).delta == pytest.approx(-0.5)


def test_identical_predictions_give_p_one_and_delta_zero(clear_difference) -> None:
    y_true, _, b = clear_difference
    boot = paired_bootstrap_test(macro_f1, y_true, b, b, None)
    assert boot.delta == 0.0 and boot.p_value == 1.0 and boot.low == 0.0 and boot.high == 0.0
    ar = approximate_randomization_test(macro_f1, y_true, b, b, None)
    assert ar.delta == 0.0 and ar.p_value == 1.0
    mc = mcnemar_test(y_true, b, b)
    assert (mc.b, mc.c, mc.statistic, mc.p_value) == (0, 0, 0.0, 1.0)


def test_equal_quality_predictors_are_not_significant(equal_quality) -> None:
    y_true, a, b = equal_quality
    assert abs(accuracy(y_true, a) - accuracy(y_true, b)) < 0.05
    for metric in (accuracy, macro_f1):
        boot = paired_bootstrap_test(metric, y_true, a, b, None)
        assert boot.p_value > 0.05, (metric.name, boot)
        assert boot.low < 0 < boot.high
        ar = approximate_randomization_test(metric, y_true, a, b, None)
        assert ar.p_value > 0.05, (metric.name, ar)
    assert mcnemar_test(y_true, a, b).p_value > 0.05


def test_paired_tests_agree_with_their_generic_path(equal_quality) -> None:
    y_true, a, b = equal_quality
    fast = approximate_randomization_test(accuracy, y_true, a, b, None, n_rounds=300, seed=9)
    slow = approximate_randomization_test(plain_accuracy, y_true, a, b, None, n_rounds=300, seed=9)
    assert fast.p_value == slow.p_value
    fast_boot = paired_bootstrap_test(accuracy, y_true, a, b, None, n_resamples=300, seed=9)
    slow_boot = paired_bootstrap_test(plain_accuracy, y_true, a, b, None, n_resamples=300, seed=9)
    assert fast_boot.p_value == slow_boot.p_value
    assert fast_boot.low == pytest.approx(slow_boot.low) and fast_boot.high == pytest.approx(slow_boot.high)


def test_paired_tests_are_reproducible(equal_quality) -> None:
    y_true, a, b = equal_quality
    assert paired_bootstrap_test(accuracy, y_true, a, b, None, seed=3) == paired_bootstrap_test(
        accuracy, y_true, a, b, None, seed=3
    )
    assert approximate_randomization_test(accuracy, y_true, a, b, None, seed=3) == (
        approximate_randomization_test(accuracy, y_true, a, b, None, seed=3)
    )


def test_paired_macro_f1_scores_both_systems_over_the_same_labels() -> None:
    y_true = np.array([0, 1, 0, 1, 0, 1])
    a = np.array([0, 1, 2, 1, 0, 1])  # predicts a class absent from the gold labels
    b = np.array([0, 1, 0, 0, 0, 1])
    result = paired_bootstrap_test(macro_f1, y_true, a, b, None, n_resamples=50)
    assert result.value_a == pytest.approx(macro_f1(y_true, a, [0, 1, 2]))
    assert result.value_b == pytest.approx(macro_f1(y_true, b, [0, 1, 2]))
    assert result.value_b != pytest.approx(macro_f1(y_true, b, None))  # B alone would use {0, 1}


def test_paired_tests_reject_bad_inputs() -> None:
    with pytest.raises(DataError, match=r"Got lengths \[3, 3, 2\]"):
        paired_bootstrap_test(accuracy, [0, 1, 1], [0, 1, 1], [0, 1], None)
    with pytest.raises(ConfigError, match=r"n_rounds must be an int in \[1, inf\)\. Got True instead\."):
        approximate_randomization_test(accuracy, [0], [0], [1], None, n_rounds=True)


# --------------------------------------------------------------------------- McNemar


def mcnemar_table(b: int, c: int, both_right: int = 7, both_wrong: int = 5):
    """Gold and predictions that realise a 2x2 table with discordant counts b and c."""
    a_right = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    b_right = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    y_true = np.zeros(len(a_right), dtype=int)
    return y_true, predictions(y_true, np.array(a_right)), predictions(y_true, np.array(b_right))


def test_mcnemar_exact_on_hand_computed_table() -> None:
    result = mcnemar_test(*mcnemar_table(10, 2))
    assert (result.b, result.c, result.exact) == (10, 2, True)
    # Two-sided binomial: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 158 / 4096.
    assert result.p_value == pytest.approx(158 / 4096)
    assert result.p_value == pytest.approx(0.0386, abs=5e-5)
    assert result.statistic == 2.0


def test_mcnemar_chi_square_on_hand_computed_table() -> None:
    result = mcnemar_test(*mcnemar_table(30, 12))
    assert (result.b, result.c, result.exact) == (30, 12, False)
    assert result.statistic == pytest.approx((abs(30 - 12) - 1) ** 2 / 42)
    assert result.statistic == pytest.approx(6.881, abs=5e-4)
    # chi-square with 1 dof: P(X > x) = erfc(sqrt(x / 2)).
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(result.statistic / 2)))
    assert result.p_value == pytest.approx(0.00871, abs=5e-6)


def test_mcnemar_exact_flag_overrides_the_automatic_choice() -> None:
    forced_exact = mcnemar_test(*mcnemar_table(30, 12), exact=True)
    assert forced_exact.exact and forced_exact.p_value == pytest.approx(
        scipy_stats.binomtest(12, 42, 0.5).pvalue
    )
    forced_chi2 = mcnemar_test(*mcnemar_table(10, 2), exact=False)
    assert not forced_chi2.exact and forced_chi2.statistic == pytest.approx(49 / 12)  # (8 - 1)^2 / 12
    with pytest.raises(ConfigError, match="exact must be True, False or None"):
        mcnemar_test([0], [0], [0], exact="yes")


def test_mcnemar_threshold_is_25_discordant_pairs() -> None:
    assert mcnemar_test(*mcnemar_table(20, 4)).exact is True
    assert mcnemar_test(*mcnemar_table(20, 5)).exact is False


# --------------------------------------------------------------------------- Holm and win counts


def test_holm_textbook_example() -> None:
    assert holm_correction([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_reject([0.01, 0.04, 0.03, 0.005], alpha=0.05) == [True, False, False, True]


def test_holm_is_monotone_and_capped() -> None:
    raw = [0.2, 0.001, 0.6, 0.04, 0.5]
    adjusted = holm_correction(raw)
    assert adjusted == pytest.approx([0.6, 0.005, 1.0, 0.16, 1.0])
    order = np.argsort(raw)
    assert all(np.diff(np.asarray(adjusted)[order]) >= 0)
    assert all(adj >= p for adj, p in zip(adjusted, raw))
    assert holm_correction([]) == []
    assert holm_correction([0.03]) == [0.03]


def test_holm_rejects_invalid_p_values() -> None:
    with pytest.raises(DataError, match=r"p-values must lie in \[0, 1\]\. Got \[1\.5\]"):
        holm_correction([0.01, 1.5])
    with pytest.raises(DataError, match=r"Got \[nan\]"):
        holm_correction([float("nan")])


@dataclass
class Comparison:
    delta: float
    p_adjusted: float


def test_wins_ties_losses() -> None:
    comparisons = [
        {"delta": 0.05, "p_adjusted": 0.001},  # win
        Comparison(delta=0.02, p_adjusted=0.2),  # tie: not significant
        {"delta": -0.04, "p_adjusted": 0.01},  # loss
        Comparison(delta=0.0, p_adjusted=0.0),  # tie: no difference
        {"delta": 0.03, "p_adjusted": 0.049},  # win
    ]
    assert wins_ties_losses(comparisons) == {"wins": 2, "ties": 2, "losses": 1}
    assert wins_ties_losses(comparisons, alpha=0.01) == {"wins": 1, "ties": 3, "losses": 1}


def test_wins_ties_losses_needs_adjusted_p_values() -> None:
    with pytest.raises(DataError, match=r"comparisons\[0\] has no 'p_adjusted'.*holm_correction"):
        wins_ties_losses([{"delta": 0.1, "p_value": 0.01}])
    assert wins_ties_losses([{"delta": 0.1, "p_value": 0.01}], p_field="p_value") == {
        "wins": 1, "ties": 0, "losses": 0,
    }


def test_holm_then_wins_end_to_end(clear_difference, equal_quality) -> None:
    results = [
        paired_bootstrap_test(accuracy, *clear_difference, None),
        approximate_randomization_test(accuracy, *equal_quality, None),
    ]
    adjusted = holm_correction([r.p_value for r in results])
    comparisons = [{"delta": r.delta, "p_adjusted": p} for r, p in zip(results, adjusted)]
    assert wins_ties_losses(comparisons) == {"wins": 1, "ties": 1, "losses": 0}


# --------------------------------------------------------------------------- seeds


def seed_runs(accuracies: list[float], n: int = 200) -> list[tuple[np.ndarray, np.ndarray]]:
    y_true = np.zeros(n, dtype=int)
    return [(y_true, predictions(y_true, np.arange(n) < round(acc * n))) for acc in accuracies]


def test_bootstrap_over_seeds_value_and_coverage() -> None:
    ci = bootstrap_ci_over_seeds(accuracy, seed_runs([0.6, 0.7, 0.8]), None, n_resamples=400)
    assert ci.value == pytest.approx(0.7)
    assert ci.low < 0.7 < ci.high
    assert (ci.n, ci.n_seeds) == (600, 3)


def test_bootstrap_over_seeds_includes_seed_variance() -> None:
    agreeing = bootstrap_ci_over_seeds(accuracy, seed_runs([0.7, 0.7, 0.7]), None, n_resamples=400)
    disagreeing = bootstrap_ci_over_seeds(accuracy, seed_runs([0.5, 0.7, 0.9]), None, n_resamples=400)
    assert agreeing.value == pytest.approx(disagreeing.value)
    assert disagreeing.high - disagreeing.low > 2 * (agreeing.high - agreeing.low)
    # Three identical seeds average three independent example resamples: narrower than one run.
    single = bootstrap_ci(accuracy, *seed_runs([0.7])[0], None, n_resamples=400)
    assert agreeing.high - agreeing.low < single.high - single.low


def test_bootstrap_over_seeds_is_reproducible_and_handles_sizes() -> None:
    runs = seed_runs([0.6, 0.8], n=100) + seed_runs([0.7], n=50)
    first = bootstrap_ci_over_seeds(macro_f1, runs, None, n_resamples=200, seed=1)
    assert bootstrap_ci_over_seeds(macro_f1, runs, None, n_resamples=200, seed=1) == first
    assert first.n == 250
    slow = bootstrap_ci_over_seeds(plain_accuracy, runs, None, n_resamples=200, seed=1)
    fast = bootstrap_ci_over_seeds(accuracy, runs, None, n_resamples=200, seed=1)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high))


def test_bootstrap_over_seeds_rejects_bad_runs() -> None:
    with pytest.raises(DataError, match="runs must be a non-empty list of \\(y_true, y_pred\\) pairs"):
        bootstrap_ci_over_seeds(accuracy, [], None)
    with pytest.raises(DataError, match=r"runs\[1\] must be a \(y_true, y_pred\) pair"):
        bootstrap_ci_over_seeds(accuracy, [([0], [0]), ([0],)], None)
    with pytest.raises(DataError, match=r"runs\[0\]: Gold and predictions .* Got lengths \[2, 1\]"):
        bootstrap_ci_over_seeds(accuracy, [([0, 1], [0])], None)


class SpyMetric:
    """A generic metric that records every value it returns, in call order."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, labels: list | None) -> float:
        self.values.append(plain_accuracy(y_true, y_pred, labels))
        return self.values[-1]


def test_paired_bootstrap_p_value_is_doubled_sign_flip_share(equal_quality) -> None:
    y_true, a, b = equal_quality  # delta = -0.03: B is better on this sample
    spy = SpyMetric()
    result = paired_bootstrap_test(spy, y_true, a, b, None, n_resamples=400, seed=2)
    resampled = np.asarray(spy.values[2:]).reshape(400, 2)  # the first two calls score the full data
    deltas = resampled[:, 0] - resampled[:, 1]
    assert result.delta < 0
    flipped = np.sum(deltas >= 0)  # resamples where A is not worse
    assert 0 < flipped < 200
    assert result.p_value == pytest.approx(2 * flipped / 400)
    assert result.low == pytest.approx(np.quantile(deltas, 0.025))


def test_approximate_randomization_p_value_formula(equal_quality) -> None:
    y_true, a, b = equal_quality
    spy = SpyMetric()
    result = approximate_randomization_test(spy, y_true, a, b, None, n_rounds=300, seed=2)
    rounds = np.asarray(spy.values[2:]).reshape(300, 2)
    deltas = rounds[:, 0] - rounds[:, 1]
    assert np.all(rounds.sum(axis=1) == pytest.approx(accuracy(y_true, a) + accuracy(y_true, b)))  # swaps only
    extreme = np.sum(np.abs(deltas) >= abs(result.delta) - 1e-12)
    assert result.p_value == pytest.approx((extreme + 1) / 301)
