"""Uncertainty and significance for per-example evaluation results.

Everything here resamples *examples* (and, with several training seeds, seeds), so any metric from
`polyglot_transfer.measure.metrics` works. Registered `Metric`s are resampled through their summed
per-example statistics (one matrix product per chunk of resamples); any other callable
``fn(y_true, y_pred, labels) -> float`` also works, through a slower Python loop.

Which test to use:
- `bootstrap_ci`: a confidence interval for one system.
- `paired_bootstrap_test` / `approximate_randomization_test`: is system A better than B on the same
  examples? Both are paired; AR is the more conservative default in NLP (Riezler & Maxwell 2005).
- `mcnemar_test`: the same question for accuracy alone, in closed form.
- `holm_correction`: when many comparisons are made (languages x setups), adjust the p-values before
  counting wins with `wins_ties_losses`.

All randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives the same answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.metrics import as_example_array, check_same_length, resolve_labels

logger = logging.getLogger(__name__)

__all__ = [
    "CI",
    "McNemarResult",
    "PairedResult",
    "RandomizationResult",
    "approximate_randomization_test",
    "bootstrap_ci",
    "bootstrap_ci_over_seeds",
    "holm_correction",
    "holm_reject",
    "mcnemar_test",
    "paired_bootstrap_test",
    "wins_ties_losses",
]

MetricFn = Callable[..., float]

# Observed and resampled statistics that differ by less than this are treated as equal (float noise).
_TOLERANCE = 1e-12
# Upper bound on the float64 cells of one resampling chunk (about 32 MB).
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class CI:
    """A point estimate with a percentile-bootstrap confidence interval.

    `n` is the number of scored predictions behind the estimate (summed over seeds); `n_seeds` how many
    training seeds were resampled (1 for a single run).
    """

    value: float
    low: float
    high: float
    n: int
    n_seeds: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedResult:
    """Paired bootstrap comparison of A against B: delta = metric(A) - metric(B)."""

    delta: float
    low: float
    high: float
    p_value: float
    value_a: float
    value_b: float
    n: int
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RandomizationResult:
    """Approximate randomization comparison of A against B: delta = metric(A) - metric(B)."""

    delta: float
    p_value: float
    value_a: float
    value_b: float
    n: int
    n_rounds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness.

    `b`: examples A gets right and B wrong; `c`: B right and A wrong. With `exact`, `statistic` is
    min(b, c) and the p-value is the two-sided binomial one; otherwise it is the continuity-corrected
    chi-square statistic max(|b - c| - 1, 0)^2 / (b + c) with 1 degree of freedom.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- validation helpers


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be an int in [1, inf). Got {value!r} instead.")
    return int(value)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be a float in (0, 1), e.g. 0.05. Got {alpha!r} instead.")
    return float(alpha)


def _prepare(
    y_true: Any, preds: Sequence[Any], labels: Sequence | None, uses_labels: bool = False
) -> tuple[np.ndarray, list[np.ndarray], list | None]:
    """Arrays of equal, non-zero length, and (for label-based metrics) the label set shared by all systems."""
    y_true_arr = as_example_array(y_true, "y_true")
    pred_arrs = [as_example_array(p, "y_pred") for p in preds]
    check_same_length(y_true_arr, *pred_arrs)
    if len(y_true_arr) == 0:
        raise DataError(
            "Cannot resample 0 examples. Expected at least one (gold, prediction) pair; "
            "check that the evaluation split is not empty."
        )
    if uses_labels:
        labels = resolve_labels(labels, y_true_arr, *pred_arrs)
    return y_true_arr, pred_arrs, (list(labels) if labels is not None else None)


def _uses_labels(metric_fn: MetricFn) -> bool:
    return bool(getattr(metric_fn, "uses_labels", False))


def _is_stats_metric(metric_fn: MetricFn) -> bool:
    return hasattr(metric_fn, "sufficient_stats") and hasattr(metric_fn, "from_stats")


def _chunks(n_rows: int, n_cols: int) -> list[slice]:
    step = max(1, _CHUNK_CELLS // max(n_cols, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _draw_index(rng: np.random.Generator, n_rows: int, n: int) -> np.ndarray:
    """The (n_rows, n) matrix of example indices drawn with replacement, drawn once (int32 to halve memory)."""
    return rng.integers(0, n, size=(n_rows, n), dtype=np.int32 if n < 2**31 else np.int64)


def _counts(index_rows: np.ndarray, n: int) -> np.ndarray:
    """(rows, n) index matrix -> (rows, n) matrix of how often each example was drawn."""
    rows = index_rows.shape[0]
    flat = (np.arange(rows, dtype=np.int64)[:, None] * n + index_rows).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def _bootstrap_scores(
    metric_fn: MetricFn, y_true: np.ndarray, preds: list[np.ndarray], labels: list | None, index: np.ndarray
) -> np.ndarray:
    """Scores of each system on each resample: index (R, n) -> (R, n_systems)."""
    n_rows, n = index.shape
    out = np.empty((n_rows, len(preds)))
    if _is_stats_metric(metric_fn):
        stats = [metric_fn.sufficient_stats(y_true, p, labels) for p in preds]
        for rows in _chunks(n_rows, n):
            counts = _counts(index[rows], n)
            for j, s in enumerate(stats):
                out[rows, j] = metric_fn.from_stats(counts @ s)
        return out
    for r in range(n_rows):
        idx = index[r]
        for j, p in enumerate(preds):
            out[r, j] = metric_fn(y_true[idx], p[idx], labels)
    return out


def _percentile_interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# --------------------------------------------------------------------------- confidence intervals


def bootstrap_ci(
    metric_fn: MetricFn,
    y_true: Any,
    y_pred: Any,
    labels: Sequence | None = None,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> CI:
    """Percentile-bootstrap (1 - alpha) CI of a metric, resampling examples with replacement.

    One (n_resamples, n) index matrix is drawn up front. `value` is the metric on the full data. With
    a single example every resample is identical, so the interval collapses to [value, value].
    """
    n_resamples, alpha = _check_count(n_resamples, "n_resamples"), _check_alpha(alpha)
    y_true_arr, (y_pred_arr,), labels = _prepare(y_true, [y_pred], labels, _uses_labels(metric_fn))
    n = len(y_true_arr)
    if n == 1:
        logger.warning("bootstrap_ci on a single example: the interval is degenerate ([value, value]).")
    value = float(metric_fn(y_true_arr, y_pred_arr, labels))
    index = _draw_index(np.random.default_rng(seed), n_resamples, n)
    scores = _bootstrap_scores(metric_fn, y_true_arr, [y_pred_arr], labels, index)[:, 0]
    low, high = _percentile_interval(scores, alpha)
    return CI(value=value, low=low, high=high, n=n)


def bootstrap_ci_over_seeds(
    metric_fn: MetricFn,
    runs: Sequence[tuple[Any, Any]],
    labels: Sequence | None = None,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> CI:
    """Two-level bootstrap CI when a setup was trained with several seeds.

    `runs` holds one (y_true, y_pred) pair per training seed. Each resample draws seeds with replacement,
    then, independently for every drawn seed, examples with replacement; its score is the mean over the
    drawn seeds. The interval therefore covers both seed-to-seed and test-set variance. `value` is the
    mean over seeds of the metric on each seed's full data. With one run this is `bootstrap_ci`.
    """
    n_resamples, alpha = _check_count(n_resamples, "n_resamples"), _check_alpha(alpha)
    if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence) or len(runs) == 0:
        raise DataError(
            f"runs must be a non-empty list of (y_true, y_pred) pairs, one per seed. Got {type(runs).__name__}"
            f"{' of length 0' if isinstance(runs, Sequence) else ''}."
        )
    prepared = []
    for i, run in enumerate(runs):
        if not isinstance(run, Sequence) or len(run) != 2:
            raise DataError(f"runs[{i}] must be a (y_true, y_pred) pair. Got {type(run).__name__}.")
        try:
            y_true_arr, (y_pred_arr,), _ = _prepare(run[0], [run[1]], None)
        except DataError as err:
            raise DataError(f"runs[{i}]: {err}") from None
        prepared.append((y_true_arr, y_pred_arr))
    if labels is None and _uses_labels(metric_fn):
        labels = resolve_labels(None, *[a for pair in prepared for a in pair])
    labels = list(labels) if labels is not None else None

    n_seeds = len(prepared)
    rng = np.random.default_rng(seed)
    seed_draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    draw_scores = np.empty(seed_draws.shape)
    for s, (y_true_arr, y_pred_arr) in enumerate(prepared):
        mask = seed_draws == s
        n_draws = int(mask.sum())
        if n_draws == 0:
            continue
        index = _draw_index(rng, n_draws, len(y_true_arr))
        draw_scores[mask] = _bootstrap_scores(metric_fn, y_true_arr, [y_pred_arr], labels, index)[:, 0]
    scores = draw_scores.mean(axis=1)
    value = float(np.mean([metric_fn(t, p, labels) for t, p in prepared]))
    low, high = _percentile_interval(scores, alpha)
    return CI(value=value, low=low, high=high, n=sum(len(t) for t, _ in prepared), n_seeds=n_seeds)


# --------------------------------------------------------------------------- paired tests


def paired_bootstrap_test(
    metric_fn: MetricFn,
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    labels: Sequence | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedResult:
    """Paired bootstrap test of delta = metric(A) - metric(B) on the same examples (Koehn 2004).

    Both systems are scored on the same resampled examples. The (1 - alpha) percentile CI of delta is
    reported. The two-sided p-value is the share of resamples whose delta does not have the sign of the
    observed delta (delta* <= 0 when delta > 0, delta* >= 0 when delta < 0), doubled and capped at 1.
    For a bootstrap distribution symmetric around the observed delta this equals Berg-Kirkpatrick et
    al.'s (2012) P(delta* > 2 delta) doubled. When the observed delta is 0, p = 1. The smallest non-zero
    p-value is 2 / n_resamples; p = 0 means "below that".
    """
    n_resamples, alpha = _check_count(n_resamples, "n_resamples"), _check_alpha(alpha)
    y_true_arr, (a, b), labels = _prepare(y_true, [pred_a, pred_b], labels, _uses_labels(metric_fn))
    n = len(y_true_arr)
    value_a, value_b = float(metric_fn(y_true_arr, a, labels)), float(metric_fn(y_true_arr, b, labels))
    delta = value_a - value_b
    index = _draw_index(np.random.default_rng(seed), n_resamples, n)
    scores = _bootstrap_scores(metric_fn, y_true_arr, [a, b], labels, index)
    deltas = scores[:, 0] - scores[:, 1]
    if abs(delta) <= _TOLERANCE:
        p_value = 1.0
    else:
        flipped = int(np.sum(np.sign(delta) * deltas <= _TOLERANCE))
        p_value = min(1.0, 2.0 * flipped / n_resamples)
    low, high = _percentile_interval(deltas, alpha)
    return PairedResult(
        delta=delta, low=low, high=high, p_value=p_value, value_a=value_a, value_b=value_b,
        n=n, n_resamples=n_resamples,
    )


def approximate_randomization_test(
    metric_fn: MetricFn,
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    labels: Sequence | None = None,
    n_rounds: int = 1000,
    seed: int = 0,
) -> RandomizationResult:
    """Approximate randomization (permutation) test of delta = metric(A) - metric(B).

    Each round swaps the two systems' predictions on every example independently with probability 0.5
    and recomputes delta*. Two-sided p = (#{|delta*| >= |delta|} + 1) / (n_rounds + 1), so p is never 0
    and identical systems get p = 1.
    """
    n_rounds = _check_count(n_rounds, "n_rounds")
    y_true_arr, (a, b), labels = _prepare(y_true, [pred_a, pred_b], labels, _uses_labels(metric_fn))
    n = len(y_true_arr)
    value_a, value_b = float(metric_fn(y_true_arr, a, labels)), float(metric_fn(y_true_arr, b, labels))
    swap = np.random.default_rng(seed).random((n_rounds, n)) < 0.5
    deltas = np.empty(n_rounds)
    if _is_stats_metric(metric_fn):
        stats_a, stats_b = metric_fn.sufficient_stats(y_true_arr, a, labels), metric_fn.sufficient_stats(
            y_true_arr, b, labels
        )
        total_a, total_b, diff = stats_a.sum(axis=0), stats_b.sum(axis=0), stats_b - stats_a
        # The observed delta through the same arithmetic as the rounds, so ties compare exactly.
        observed = float(metric_fn.from_stats(total_a) - metric_fn.from_stats(total_b))
        for rows in _chunks(n_rounds, n):
            moved = swap[rows].astype(np.float64) @ diff
            deltas[rows] = metric_fn.from_stats(total_a + moved) - metric_fn.from_stats(total_b - moved)
    else:
        observed = value_a - value_b
        for r in range(n_rounds):
            deltas[r] = metric_fn(y_true_arr, np.where(swap[r], b, a), labels) - metric_fn(
                y_true_arr, np.where(swap[r], a, b), labels
            )
    extreme = int(np.sum(np.abs(deltas) >= abs(observed) - _TOLERANCE))
    return RandomizationResult(
        delta=value_a - value_b, p_value=(extreme + 1) / (n_rounds + 1), value_a=value_a, value_b=value_b,
        n=n, n_rounds=n_rounds,
    )


def _correct(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    if y_true.dtype == object or y_pred.dtype == object:
        return np.array([t == p for t, p in zip(y_true.tolist(), y_pred.tolist())], dtype=bool)
    return np.asarray(y_true == y_pred, dtype=bool)


def mcnemar_test(y_true: Any, pred_a: Any, pred_b: Any, exact: bool | None = None) -> McNemarResult:
    """McNemar's test: do A and B have the same accuracy on these examples?

    Only discordant pairs matter: b (A right, B wrong) and c (A wrong, B right). `exact=None` uses the
    exact two-sided binomial test when b + c < 25 and the continuity-corrected chi-square test otherwise;
    True/False force one. With b + c == 0 there is no evidence either way: statistic 0, p = 1.
    """
    y_true_arr, (a, b_pred), _ = _prepare(y_true, [pred_a, pred_b], None)
    if exact is not None and not isinstance(exact, bool):
        raise ConfigError(f"exact must be True, False or None (automatic). Got {exact!r} instead.")
    correct_a, correct_b = _correct(y_true_arr, a), _correct(y_true_arr, b_pred)
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    use_exact = (b + c < 25) if exact is None else exact
    if b + c == 0:
        return McNemarResult(b=b, c=c, statistic=0.0, p_value=1.0, exact=use_exact)
    if use_exact:
        p_value = float(scipy_stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)
        return McNemarResult(b=b, c=c, statistic=float(min(b, c)), p_value=min(1.0, p_value), exact=True)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    p_value = float(scipy_stats.chi2.sf(statistic, df=1))
    return McNemarResult(b=b, c=c, statistic=float(statistic), p_value=p_value, exact=False)


# --------------------------------------------------------------------------- multiple comparisons


def holm_correction(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The i-th smallest p (1-based) is multiplied by (m - i + 1); a running maximum keeps the adjusted
    values monotone in the raw ones; values are capped at 1. Reject where adjusted p <= alpha.
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    if p.ndim != 1:
        raise DataError(f"pvalues must be a flat list of floats. Got shape {p.shape}.")
    bad = [float(v) for v in p if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
    if bad:
        raise DataError(f"p-values must lie in [0, 1]. Got {bad}; check the test that produced them.")
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted_sorted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()


def holm_reject(pvalues: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which null hypotheses Holm's step-down procedure rejects at family-wise error rate `alpha`."""
    alpha = _check_alpha(alpha)
    return [p <= alpha for p in holm_correction(pvalues)]


def _field(comparison: Any, name: str, position: int) -> float:
    if isinstance(comparison, Mapping):
        if name not in comparison:
            raise DataError(
                f"comparisons[{position}] has no {name!r}. Got keys {sorted(comparison)}; expected 'delta' and "
                f"{name!r} (adjust raw p-values with holm_correction first)."
            )
        return float(comparison[name])
    if not hasattr(comparison, name):
        raise DataError(
            f"comparisons[{position}] ({type(comparison).__name__}) has no attribute {name!r}. Expected "
            f"mappings or objects with 'delta' and {name!r}."
        )
    return float(getattr(comparison, name))


def wins_ties_losses(
    comparisons: Sequence[Any], alpha: float = 0.05, p_field: str = "p_adjusted"
) -> dict[str, int]:
    """Count significant wins and losses of A over B across comparisons.

    Each comparison (a mapping or an object) has `delta` (metric(A) - metric(B)) and an adjusted p-value
    under `p_field`. Win: p <= alpha and delta > 0; loss: p <= alpha and delta < 0; otherwise a tie.
    The boundary p == alpha counts as significant, as in `holm_reject`.
    """
    alpha = _check_alpha(alpha)
    counts = {"wins": 0, "ties": 0, "losses": 0}
    for i, comparison in enumerate(comparisons):
        delta, p = _field(comparison, "delta", i), _field(comparison, p_field, i)
        if p <= alpha and delta > 0:
            counts["wins"] += 1
        elif p <= alpha and delta < 0:
            counts["losses"] += 1
        else:
            counts["ties"] += 1
    return counts
