"""Forgetting: measure how much adaptation costs the source language, and the mitigations that limit it.

Measuring (:func:`measure_forgetting`): a linear probe (logistic regression, as in the `head`
strategy) is trained on source-language examples and scored on a source-language dev set, once on
the features of the pre-trained encoder ("before") and once on the features of the adapted model
("after"). The drop ``before - after`` is the forgetting; it is exactly 0 for strategies that keep
the encoder frozen (`head`, `zero_shot`), positive when adaptation damaged the source language, and
negative when it helped. With ``mode="task"`` the "after" score is the adapted strategy's own
predictions on the dev set instead (same label set needed).

Mitigating (used by the trainable strategies `full` and `peft`):

- ``replay``: a share of source-language examples mixed into the training set (:func:`mix_replay`);
- ``ewc``: elastic weight consolidation, ``lambda/2 * sum F_i (theta_i - theta*_i)^2`` with the
  diagonal Fisher information ``F`` estimated on source data (:func:`fisher_diagonal`);
- ``l2sp``: ``lambda/2 * ||theta - theta_0||^2``, an L2 pull towards the starting (pre-trained) weights.

The penalties are added to the loss, as in the papers (which used SGD). With Adam(W), whose steps
are normalised per weight, a very large lambda makes weights oscillate around the anchor by about a
learning-rate step instead of pinning them; pick lambda so the penalty's gradient is comparable to
the task's, or set the strategy's ``optim: sgd``.

Both penalties are loss terms of the classifier (``EncoderClassifier.loss_terms``): the plain
transformers ``Trainer`` trains with them, so accelerate / DDP launches work unchanged. (Under DeepSpeed
ZeRO-3 parameters are partitioned; the penalties are not supported there.)
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError, did_you_mean

logger = logging.getLogger(__name__)

__all__ = [
    "REGULARIZERS", "EWCPenalty", "ForgettingResult", "L2SPPenalty", "fisher_diagonal", "linear_probe_score",
    "load_replay_source", "make_penalty", "measure_forgetting", "mix_replay", "strategy_features",
]

REGULARIZERS = ("none", "ewc", "l2sp")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class ForgettingResult:
    """Source-language score before and after adaptation; ``drop = before - after`` (positive = forgot)."""

    language: str
    before: float
    after: float
    drop: float
    metric: str
    mode: str = "probe"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def strategy_features(strategy: Any, texts: list[str]) -> np.ndarray:
    """The sentence features a fitted strategy classifies from (what a linear probe sees).

    Order of lookup: a ``features(texts)`` method (`lora`, `full`, `peft`, `few_shot`, `zero_shot`); a wrapped
    ``base_`` strategy (`multi_source`); the strategy's frozen ``Embedder`` (`head`).
    """
    texts = list(texts)
    if callable(getattr(strategy, "features", None)):
        return np.asarray(strategy.features(texts), dtype=np.float32)
    if getattr(strategy, "base_", None) is not None:
        return strategy_features(strategy.base_, texts)
    if hasattr(strategy, "_embedder"):
        return strategy._embedder().encode_queries(texts)
    raise UnsupportedError(
        f"Cannot read sentence features from a {type(strategy).__name__}: it has no features() method, no base "
        "strategy and no Embedder. Add a features(texts) -> np.ndarray method to the strategy."
    )


def linear_probe_score(train_x: np.ndarray, train_y: list[str], eval_x: np.ndarray, eval_y: list[str], *,
                       metric: str = "macro_f1", seed: int = 0, C: float = 1.0) -> float:
    """Fit a logistic-regression probe on (train_x, train_y) and score it on (eval_x, eval_y)."""
    from sklearn.linear_model import LogisticRegression

    from polyglot_transfer.measure.metrics import get_metric

    labels = sorted(set(train_y))
    if len(labels) < 2:
        raise DataError(f"A linear probe needs at least 2 labels in its training data. Got {labels}.")
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(train_x, train_y)
    pred = clf.predict(eval_x)
    return float(get_metric(metric)(list(eval_y), list(pred), labels=sorted(set(labels) | set(eval_y))))


def _labelled(ds: TextDataset, what: str) -> list[str]:
    labels = ds.labels
    if not len(ds) or any(lbl is None for lbl in labels):
        raise DataError(f"measure_forgetting: {what} ({ds.name!r}) must be non-empty and fully labelled.")
    return labels  # type: ignore[return-value]


def measure_forgetting(
    strategy: Any, probe_train: TextDataset, probe_eval: TextDataset, *, embedder: Any = None,
    before: float | None = None, metric: str = "macro_f1", mode: str = "probe", seed: int = 0,
) -> ForgettingResult:
    """Source-language score of the pre-trained encoder ("before") and of the adapted `strategy` ("after").

    Args:
        strategy: a fitted strategy.
        probe_train: labelled source-language examples the linear probes learn from.
        probe_eval: the labelled source-language dev set both probes are scored on.
        embedder: the frozen pre-trained embedder for "before" (default: ``strategy.embedder`` or a
            new ``Embedder(strategy.model)``).
        before: a "before" score computed earlier (it depends only on the model and the data), to
            skip recomputing it for every strategy.
        mode: "probe" (a linear probe on the adapted features) or "task" (the strategy's own predictions).
    """
    from polyglot_transfer.measure.metrics import get_metric

    if mode not in ("probe", "task"):
        raise ConfigError(f"measure_forgetting: mode must be 'probe' or 'task'. Got {mode!r} instead.")
    train_y, eval_y = _labelled(probe_train, "probe_train"), _labelled(probe_eval, "probe_eval")
    languages = probe_eval.languages
    language = languages[0] if len(languages) == 1 else "+".join(languages)
    if before is None:
        if embedder is None:
            embedder = getattr(strategy, "embedder", None)
        if embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            embedder = Embedder(strategy.model)
        before = linear_probe_score(embedder.encode_queries(probe_train.texts), train_y,
                                    embedder.encode_queries(probe_eval.texts), eval_y, metric=metric, seed=seed)
    if mode == "probe":
        after = linear_probe_score(strategy_features(strategy, probe_train.texts), train_y,
                                   strategy_features(strategy, probe_eval.texts), eval_y, metric=metric, seed=seed)
    else:
        known = set(strategy.labels_ or [])
        if not set(eval_y) <= known:
            raise DataError(
                f"measure_forgetting(mode='task'): the dev set has labels {sorted(set(eval_y) - known)} the strategy "
                f"does not predict (it knows {sorted(known)}). Use mode='probe' for a different label set."
            )
        pred = strategy.predict(probe_eval.texts)
        after = float(get_metric(metric)(eval_y, pred, labels=sorted(known)))
    result = ForgettingResult(language=language, before=float(before), after=float(after),
                              drop=float(before) - float(after), metric=metric, mode=mode)
    logger.info("forgetting on %s: %s %.4f -> %.4f (drop %+.4f)", language, metric, result.before,
                result.after, result.drop)
    return result


# --------------------------------------------------------------------------- replay


def mix_replay(train: TextDataset, source: TextDataset, share: float, seed: int = 0) -> TextDataset:
    """`train` plus source examples sampled (without replacement, seeded) so they make up `share` of the result."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share < 1.0:
        raise ConfigError(f"replay must be a number in [0, 1). Got {share!r} instead.")
    if share == 0:
        return train
    if not len(source):
        raise DataError("replay > 0 needs source-language examples, but the source data set is empty.")
    unknown = sorted({e.label for e in source} - set(train.label_set))
    if unknown:
        raise DataError(
            f"Replay source {source.name!r} has labels {unknown} that the training set {train.name!r} lacks "
            f"(it has {train.label_set}). Replay needs the same task on both sides."
        )
    wanted = round(share / (1.0 - share) * len(train))
    if wanted > len(source):
        logger.warning("replay=%.2f wants %d source examples but %s has only %d; using all of them.",
                       share, wanted, source.name, len(source))
        wanted = len(source)
    picked = sorted(random.Random(f"replay\x1f{seed}").sample(range(len(source)), wanted))
    taken = set(train.ids)
    replayed = []
    for i in picked:
        e = source[i]
        replayed.append(dataclasses.replace(e, id=f"replay:{e.id}") if e.id in taken else e)
    logger.info("replay: %d source examples mixed into %d training examples", len(replayed), len(train))
    return TextDataset([*train, *replayed], name=f"{train.name}+replay")


def load_replay_source(path: str) -> TextDataset:
    """The labelled source data named by a strategy's ``replay_data`` config key (a JSONL/CSV/TSV table)."""
    from polyglot_transfer.data.loaders import load_table

    return load_table(path, label_required=True)


# --------------------------------------------------------------------------- penalties


def _anchor_params(model: Any, exclude: tuple[str, ...]) -> dict[str, Any]:
    return {n: p.detach().clone().cpu() for n, p in model.named_parameters()
            if p.requires_grad and not n.startswith(exclude)}


class _Penalty:
    """A quadratic pull of named parameters towards anchor values; ``weights`` None means all ones."""

    def __init__(self, anchors: dict[str, Any], lam: float, weights: dict[str, Any] | None = None) -> None:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
            raise ConfigError(f"reg_lambda must be a number >= 0. Got {lam!r} instead.")
        if not anchors:
            raise ConfigError("The penalty has no parameters to anchor: the model has no trainable encoder weights.")
        self.anchors = anchors
        self.weights = weights
        self.lam = float(lam)
        self.log: list[float] = []  # the penalty at each call (each training step)
        self._on_device: dict[tuple[int, str, Any], Any] = {}

    def _get(self, table: dict[str, Any], name: str, device: Any) -> Any:
        key = (id(table), name, device)
        if key not in self._on_device:
            self._on_device[key] = table[name].to(device)
        return self._on_device[key]

    def __call__(self, model: Any) -> Any:
        """``lam/2 * sum w * (p - anchor)^2`` over the anchored parameters of `model` (a scalar tensor)."""
        import torch

        total = None
        for name, p in model.named_parameters():
            if name not in self.anchors:
                continue
            diff = (p - self._get(self.anchors, name, p.device)).pow(2)
            if self.weights is not None:
                diff = diff * self._get(self.weights, name, p.device)
            term = diff.sum()
            total = term if total is None else total + term
        if total is None:
            raise ConfigError("None of the anchored parameters were found in the model: was it rebuilt after "
                              "anchoring? Build the penalty from the model that is trained.")
        penalty = torch.as_tensor(0.5 * self.lam, device=total.device) * total
        self.log.append(float(penalty.detach()))
        return penalty


class L2SPPenalty(_Penalty):
    """L2-SP (Li et al., 2018): ``lam/2 * ||theta - theta_0||^2`` over the trainable encoder weights at start."""

    def __init__(self, model: Any, lam: float, *, exclude: tuple[str, ...] = ("head.",)) -> None:
        super().__init__(_anchor_params(model, exclude), lam)


class EWCPenalty(_Penalty):
    """EWC (Kirkpatrick et al., 2017): ``lam/2 * sum F (theta - theta*)^2``, F the diagonal Fisher at theta*."""

    def __init__(self, model: Any, lam: float, fisher: dict[str, Any], *,
                 exclude: tuple[str, ...] = ("head.",)) -> None:
        anchors = _anchor_params(model, exclude)
        missing = sorted(set(anchors) - set(fisher))
        if missing:
            raise ConfigError(f"EWC: the Fisher information lacks {len(missing)} parameters, e.g. {missing[:3]}.")
        super().__init__(anchors, lam, {n: fisher[n].detach().cpu() for n in anchors})


def fisher_diagonal(model: Any, examples: Iterable[dict[str, Any]], *,
                    exclude: tuple[str, ...] = ("head.",)) -> dict[str, Any]:
    """Diagonal empirical Fisher: mean over examples of the squared gradient of the example's loss.

    `examples` yields model inputs of ONE example each (tensors with batch size 1, including
    ``labels``); per-example squares are what the Fisher needs (a batch mean would underestimate it).
    The model is put in eval mode (no dropout) and restored afterwards; gradients are cleared.
    """
    import torch

    params = {n: p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(exclude)}
    fisher = {n: torch.zeros_like(p, device="cpu") for n, p in params.items()}
    was_training = model.training
    model.eval()
    count = 0
    try:
        for inputs in examples:
            model.zero_grad(set_to_none=True)
            out = model(**inputs)
            out["loss"].backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach().float().pow(2).cpu()
            count += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if count == 0:
        raise DataError("EWC: no examples to estimate the Fisher information from.")
    return {n: f / count for n, f in fisher.items()}


def make_penalty(regularizer: str, model: Any, lam: float, *,
                 fisher_examples: Callable[[], Iterable[dict[str, Any]]] | None = None) -> _Penalty | None:
    """The penalty a strategy config asks for ("none", "ewc", "l2sp"), anchored at `model`'s current weights."""
    if regularizer == "none":
        return None
    if regularizer == "l2sp":
        return L2SPPenalty(model, lam)
    if regularizer == "ewc":
        if fisher_examples is None:
            raise ConfigError("regularizer='ewc' needs data to estimate the Fisher information from.")
        return EWCPenalty(model, lam, fisher_diagonal(model, fisher_examples()))
    raise ConfigError(
        f"regularizer must be one of {', '.join(REGULARIZERS)}. Got {regularizer!r} instead."
        f"{did_you_mean(str(regularizer), REGULARIZERS)}"
    )
