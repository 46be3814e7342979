"""Multi-source transfer: train one model on several source languages at once, mixed by sampling weights.

The training set is rebuilt from the languages named in ``sources`` (language -> weight): each
language gets ``round(size * weight / total_weight)`` examples, drawn without replacement from its
own examples (and, when it has fewer, all of them plus seeded draws with replacement, given ids
ending in ``#2``, ``#3``...). ``size`` defaults to the number of examples of the listed languages.
The mixture is then handed to a ``base`` strategy (a name, or ``{strategy: name, **params}`` as in
a setup's ``adapt`` block), which does the learning; this class only delegates to it.

Saved as the base strategy's own folder (``base/``) plus ``mixture.json`` (examples per language).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from annotated_types import Ge, Gt

from polyglot_transfer.adapt.base import (
    STRATEGIES, Strategy, build_strategy, check_support, load_strategy, validate_params,
)
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import ConfigError, DataError, PGTError
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.models.provision import resolve_model
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

__all__ = ["MultiSourceConfig", "MultiSourceStrategy", "sample_mixture"]


@typed
@dataclass
class MultiSourceConfig:
    sources: dict[str, Annotated[float, Gt(0)]] = field(default_factory=dict)  # language -> sampling weight
    base: Any = "head"  # a strategy name, or {"strategy": name, **params}
    size: Annotated[int, Ge(1)] | None = None  # examples in the mixture (default: all of the listed languages)

    def check(self, where: str) -> list[str]:
        """The sources resolve to distinct languages; the base strategy exists, is not multi_source, and its
        params are valid (checked here, before anything trains)."""
        problems = []
        try:
            _resolve_sources(self.sources)
            name, params = _base_spec(self.base)
            if name == "multi_source":
                raise ConfigError(f"{where}.base cannot be 'multi_source' itself; name the strategy that learns.")
            problems += validate_params(STRATEGIES.get(name).config_class, params, f"{where}.base")
        except PGTError as exc:
            problems.append(str(exc))
        return problems


def _base_spec(base: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(base, str):
        return base, {}
    if isinstance(base, dict) and isinstance(base.get("strategy"), str):
        params = dict(base)
        return params.pop("strategy"), params
    raise ConfigError(
        "multi_source.base must be a strategy name ('lora') or a mapping with a 'strategy' key "
        f"({{'strategy': 'lora', 'r': 4}}). Got {base!r} instead."
    )


def _resolve_sources(sources: Any) -> dict[str, float]:
    from polyglot_transfer.languages import resolve_language

    if not isinstance(sources, dict) or not sources:
        raise ConfigError(
            "multi_source.sources must map at least one language to a sampling weight, e.g. "
            f"{{'eng': 1.0, 'ind': 2.0}}. Got {sources!r} instead."
        )
    out: dict[str, float] = {}
    for lang, weight in sources.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(f"multi_source.sources[{lang!r}] must be a number > 0. Got {weight!r} instead.")
        code = resolve_language(lang).code
        if code in out:
            raise ConfigError(f"multi_source.sources names {code} twice ({lang!r} is an alias of an earlier key).")
        out[code] = float(weight)
    return out


def sample_mixture(train: TextDataset, sources: dict[str, float], *, size: int | None = None,
                   seed: int = 0) -> tuple[TextDataset, dict[str, int]]:
    """The weighted mixture of `train`'s languages (see the module docstring) and its counts per language."""
    weights = _resolve_sources(sources)
    groups = train.by_language()
    absent = [lang for lang in weights if lang not in groups]
    if absent:
        raise DataError(
            f"multi_source: the training data has no examples in {', '.join(absent)}. It has: "
            f"{', '.join(groups) or '(none)'}. Add those languages to the training data or drop them from sources."
        )
    if size is None:
        size = sum(len(groups[lang]) for lang in weights)
    if isinstance(size, bool) or not isinstance(size, int) or size < len(weights):
        raise ConfigError(f"multi_source.size must be an int >= {len(weights)} (one per source). Got {size!r} instead.")
    total = sum(weights.values())
    picked: list[Example] = []
    counts: dict[str, int] = {}
    for lang, weight in weights.items():
        pool = groups[lang].examples
        n = max(1, round(size * weight / total))
        rng = random.Random(f"mixture\x1f{seed}\x1f{lang}")
        if n <= len(pool):
            chosen = [pool[i] for i in sorted(rng.sample(range(len(pool)), n))]
        else:
            chosen = list(pool)
            seen: dict[str, int] = {}
            for _ in range(n - len(pool)):
                e = rng.choice(pool)
                seen[e.id] = seen.get(e.id, 1) + 1
                chosen.append(dataclasses.replace(e, id=f"{e.id}#{seen[e.id]}"))
            logger.info("multi_source: %s has %d examples for %d draws; %d drawn again with replacement",
                        lang, len(pool), n, n - len(pool))
        picked.extend(chosen)
        counts[lang] = n
    dropped = sorted(set(groups) - set(weights))
    if dropped:
        logger.info("multi_source: ignoring training examples in %s (not in sources)", ", ".join(dropped))
    return TextDataset(picked, name=f"{train.name}-mixture-seed{seed}"), counts


@STRATEGIES.register("multi_source")
class MultiSourceStrategy(Strategy):
    """Weighted multi-language training set, learned by a base strategy."""

    name = "multi_source"
    config_class = MultiSourceConfig
    tasks = frozenset({"classification"})
    model_families = frozenset({"encoder"})

    def __init__(self, config: MultiSourceConfig, model: str | Path, *, seed: int = 0, embedder: Any = None) -> None:
        super().__init__(config, model, seed=seed, embedder=embedder)
        self.sources_ = _resolve_sources(config.sources)
        name, self.base_params_ = _base_spec(config.base)
        self.base_name_ = STRATEGIES.get(name).name
        self.base_: Strategy | None = None

    def _make_base(self) -> Strategy:
        return build_strategy(self.base_name_, self.base_params_, self.model, seed=self.seed, embedder=self.embedder,
                              where=f"multi_source.base ({self.base_name_})")

    def fit(self, train: TextDataset, **fit_kwargs: Any) -> MultiSourceStrategy:
        """Sample the mixture from `train` and fit the base strategy on it (`fit_kwargs` go to the base)."""
        self._check_train(train)
        model_free = self.embedder is not None and getattr(self.embedder, "path", None) is None  # HashEmbedder
        if not model_free:
            check_support(self, resolve_model(self.model))
        mixture, self.mixture_ = sample_mixture(train, self.sources_, size=self.config.size, seed=self.seed)
        logger.info("multi_source: mixture %s -> base %s", self.mixture_, self.base_name_)
        self.base_ = self._make_base().fit(mixture, **fit_kwargs)
        self.labels_ = list(self.base_.labels_)
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._require_fitted()
        return self.base_.predict_proba(texts)

    def trainable_parameters(self) -> tuple[int, int]:
        """The base strategy's (trainable, total) counts."""
        counts = getattr(self.base_, "trainable_parameters", None)
        if counts is None:
            raise AttributeError(f"the base strategy {self.base_name_!r} does not report parameter counts")
        return counts()

    @property
    def train_loss_(self) -> list[float]:
        """The base strategy's training losses (absent when the base has no loss)."""
        try:
            return self.base_.train_loss_
        except AttributeError:
            raise AttributeError(f"the base strategy {self.base_name_!r} has no training loss") from None

    def _save_weights(self, folder: Path) -> None:
        self.base_.save(folder / "base")
        atomic_write_json(folder / "mixture.json", {"counts": self.mixture_, "weights": self.sources_})

    def _load_weights(self, folder: Path) -> None:
        self.base_ = load_strategy(folder / "base", embedder=self.embedder)
        self.mixture_ = json.loads((folder / "mixture.json").read_text())["counts"]
