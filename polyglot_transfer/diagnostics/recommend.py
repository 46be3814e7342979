"""Which source language should a target learn from? Rank candidates and say why.

Features (each computed for every candidate source s, for one target t):

======================  =========  ===============================================================
feature                 direction  what
======================  =========  ===============================================================
model_similarity        higher     the model's own view: cosine between t's and s's embeddings of
                                   the same (parallel) sentences, averaged over pairs; for
                                   comparable (unaligned) text, cosine of the mean embeddings
subword_overlap         higher     share of t's running subword tokens whose type occurs in s's text
                                   (``1 - vocabulary_gap(s, t, tokenizer).oov_rate``)
fertility_ratio         lower      s's tokenizer fertility / t's; a source the tokenizer splits
                                   less is usually better represented in pretraining
train_size              higher     log of s's labelled training examples
genetic_distance        lower      URIEL+ genetic (Glottolog tree) distance
featural_distance       lower      URIEL+ typological feature distance (syntax, phonology, inventory)
geographic_distance     lower      URIEL+ geographic distance
lexical_distance        lower      PanLex Swadesh normalised Levenshtein distance (offline; the
                                   fallback when urielplus is absent)
======================  =========  ===============================================================

Scoring. Each feature is z-scored across the candidates (mean 0, sd 1; a feature with no spread or
fewer than two known values scores 0 everywhere; a missing value scores 0, i.e. average), multiplied
by its direction (+1 higher is better, -1 lower is better) and by its weight in
:class:`RecommendConfig`, and summed: ``score(s) = sum_f w_f * dir_f * z_f(s)``. The explanation
names the features with the largest positive and negative contributions. The default weights were
set before looking at any evaluation: the model's own view and subword overlap (the two signals the
transfer literature finds most predictive for multilingual encoders, e.g. LangRank, Lin et al. 2019)
get 1.0, lexical and genetic relatedness 0.5, the rest 0.25.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError, did_you_mean
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURES",
    "DEFAULT_WEIGHTS",
    "RecommendConfig",
    "DataFeatures",
    "Recommendation",
    "recommend_sources",
    "model_similarity",
]

#: feature -> (direction, phrase used in explanations)
FEATURES: dict[str, tuple[int, str]] = {
    "model_similarity": (+1, "the model's own similarity"),
    "subword_overlap": (+1, "subword overlap"),
    "fertility_ratio": (-1, "tokenizer fertility ratio"),
    "train_size": (+1, "training-set size"),
    "genetic_distance": (-1, "URIEL+ genetic distance"),
    "featural_distance": (-1, "URIEL+ typological distance"),
    "geographic_distance": (-1, "URIEL+ geographic distance"),
    "lexical_distance": (-1, "Swadesh lexical distance"),
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "model_similarity": 1.0,
    "subword_overlap": 1.0,
    "fertility_ratio": 0.25,
    "train_size": 0.25,
    "genetic_distance": 0.5,
    "featural_distance": 0.25,
    "geographic_distance": 0.25,
    "lexical_distance": 0.5,
}


@dataclass
class RecommendConfig:
    """Weights of the z-scored features (see the module docstring); 0 switches a feature off.

    `similarity`: "auto" (paired cosine when both languages have the same number of texts, i.e. a
    parallel set; else cosine of means), "paired" or "mean". `use_uriel`: query URIEL+ (needs urielplus).
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    similarity: str = "auto"
    use_uriel: bool = True
    explain_top: int = 2

    def __post_init__(self) -> None:
        for name, weight in self.weights.items():
            if name not in FEATURES:
                raise ConfigError(f"RecommendConfig.weights: unknown feature {name!r}.{did_you_mean(name, FEATURES)} "
                                  f"Known features: {', '.join(FEATURES)}.")
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0 or not math.isfinite(weight):
                raise ConfigError(f"RecommendConfig.weights[{name!r}] must be a float >= 0. Got {weight!r} instead.")
        if self.similarity not in ("auto", "paired", "mean"):
            raise ConfigError(f"RecommendConfig.similarity must be 'auto', 'paired' or 'mean'. Got {self.similarity!r}.")
        if not isinstance(self.explain_top, int) or self.explain_top < 1:
            raise ConfigError(f"RecommendConfig.explain_top must be an int >= 1. Got {self.explain_top!r}.")


@dataclass
class DataFeatures:
    """What is known about one language's data: labelled training-set size and a sample of its text."""

    n_train: int | None = None
    texts: list[str] | None = None


@dataclass
class Recommendation:
    """One ranked candidate source: raw feature values, z-scores, weighted contributions, explanation."""

    source: str
    rank: int
    score: float
    features: dict[str, float | None]
    z: dict[str, float]
    contributions: dict[str, float]
    explanation: str
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- features


def model_similarity(target: np.ndarray, source: np.ndarray, how: str = "auto") -> float:
    """Cosine similarity of two languages' embeddings: paired (row i = same sentence) or of the means."""
    t, s = np.asarray(target, dtype=np.float64), np.asarray(source, dtype=np.float64)
    if t.ndim != 2 or s.ndim != 2 or t.shape[1] != s.shape[1] or not len(t) or not len(s):
        raise DataError(f"model_similarity needs two (n, d) arrays of the same width; got {t.shape} and {s.shape}.")
    if how == "paired" or (how == "auto" and t.shape == s.shape):
        if t.shape != s.shape:
            raise DataError(f"Paired similarity needs aligned texts (same count); got {len(t)} and {len(s)}.")
        tn = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        sn = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)
        return float(np.mean(np.sum(tn * sn, axis=1)))
    mt, ms = t.mean(axis=0), s.mean(axis=0)
    return float(mt @ ms / max(np.linalg.norm(mt) * np.linalg.norm(ms), 1e-12))


def _zscores(values: dict[str, float | None]) -> dict[str, float]:
    known = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if len(known) < 2:
        return {k: 0.0 for k in values}
    arr = np.array(list(known.values()), dtype=np.float64)
    mean, sd = float(arr.mean()), float(arr.std())
    if sd < 1e-12:
        return {k: 0.0 for k in values}
    return {k: (known[k] - mean) / sd if k in known else 0.0 for k in values}


def _format_value(name: str, value: float | None) -> str:
    if value is None:
        return "no data"
    if name == "train_size":
        return f"{math.exp(value):.0f} examples"
    if name == "fertility_ratio":
        return f"{value:.2f}x the target's pieces per word"
    return f"{value:.2f}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _codes(values: Sequence[str] | str, what: str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    out = []
    for v in values:
        code = resolve_language(str(v).strip()).code
        if code not in out:
            out.append(code)
    if not out:
        raise ConfigError(f"recommend_sources: no {what} given; expected at least one language code, e.g. 'ind,eng'.")
    return out


def _by_code(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    return {resolve_language(k).code: v for k, v in (mapping or {}).items()}


def _load_tokenizer(model: Any, tokenizer: Any) -> Any:
    if tokenizer is not None:
        if isinstance(tokenizer, str | os.PathLike):
            from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

            return load_tokenizer(tokenizer)
        return tokenizer
    if isinstance(model, str | os.PathLike):
        from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

        return load_tokenizer(model)
    path = getattr(model, "path", None)
    if path is not None:
        from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

        return load_tokenizer(path)
    return None


def recommend_sources(
    target: str,
    candidates: Sequence[str] | str,
    *,
    model: Any = None,
    tokenizer: Any = None,
    data_features: Mapping[str, DataFeatures] | None = None,
    parallel: Mapping[str, Sequence[str]] | None = None,
    embeddings: Mapping[str, np.ndarray] | None = None,
    config: RecommendConfig | None = None,
) -> list[Recommendation]:
    """Rank `candidates` as source languages for `target`, best first, each with an explanation.

    - `model`: an Embedder, or a catalog name / folder (an Embedder is built) for the model's own view;
      its tokenizer is used for subword overlap and fertility unless `tokenizer` is given.
    - `parallel`: language -> texts (translations of the same sentences, e.g. NusaX-MT or UDHR lines;
      comparable text works too). Embedded with `model` unless `embeddings` (language -> (n, d)) is given.
    - `data_features`: language -> DataFeatures (training-set size; texts for overlap/fertility when
      `parallel` lacks that language).

    Features without data for a language count as average (z = 0) and are listed in `missing`.
    """
    config = config or RecommendConfig()
    target_code = resolve_language(target).code
    cands = [c for c in _codes(candidates, "candidates") if c != target_code]
    if not cands:
        raise ConfigError(f"recommend_sources: the only candidate given is the target {target_code}; "
                          "pass other languages as candidates.")
    feats_in = _by_code(data_features)
    texts = {k: list(v) for k, v in _by_code(parallel).items()}
    for code, df in feats_in.items():
        if code not in texts and df.texts:
            texts[code] = list(df.texts)
    emb = {k: np.asarray(v) for k, v in _by_code(embeddings).items()}
    weight = config.weights

    raw: dict[str, dict[str, float | None]] = {f: {c: None for c in cands} for f in FEATURES}
    notes: list[str] = []

    # the model's own view
    if weight.get("model_similarity", 0) > 0:
        need = [c for c in [target_code, *cands] if c not in emb and c in texts]
        if need and model is not None:
            from polyglot_transfer.retrieval.embedder import Embedder

            embedder = model if isinstance(model, Embedder) else Embedder(model)
            model = embedder
            for code in need:
                emb[code] = embedder.encode_queries(texts[code])
        if target_code in emb:
            for c in cands:
                if c in emb:
                    raw["model_similarity"][c] = model_similarity(emb[target_code], emb[c], config.similarity)
        else:
            notes.append("no parallel text (or no model) for the target: the model's own view is not used")

    # subword overlap and fertility
    tok = None
    if target_code in texts and (weight.get("subword_overlap", 0) > 0 or weight.get("fertility_ratio", 0) > 0):
        tok = _load_tokenizer(model, tokenizer)
    if target_code in texts:
        from polyglot_transfer.diagnostics.domain_gap import vocabulary_gap

        if weight.get("subword_overlap", 0) > 0:
            for c in cands:
                if c in texts:
                    raw["subword_overlap"][c] = 1.0 - vocabulary_gap(texts[c], texts[target_code], tok).oov_rate
        if tok is not None and weight.get("fertility_ratio", 0) > 0:
            from polyglot_transfer.diagnostics.tokenizer_fit import tokenizer_fit

            t_fit = tokenizer_fit(tok, texts[target_code], target_code)
            for c in cands:
                if c in texts:
                    c_fit = tokenizer_fit(tok, texts[c], c)
                    if c_fit.unit == t_fit.unit and t_fit.fertility > 0:
                        raw["fertility_ratio"][c] = c_fit.fertility / t_fit.fertility

    # training-set size
    for c in cands:
        n = feats_in.get(c).n_train if c in feats_in else None
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
                raise DataError(f"data_features[{c!r}].n_train must be an int >= 0. Got {n!r} instead.")
            raw["train_size"][c] = math.log(max(int(n), 1))

    # typology
    wants_typology = any(weight.get(f, 0) > 0 for f in
                         ("genetic_distance", "featural_distance", "geographic_distance", "lexical_distance"))
    if wants_typology:
        from polyglot_transfer.diagnostics.typology import language_distances, typology_backend

        for c in cands:
            d = language_distances(target_code, c, use_uriel=config.use_uriel)
            raw["genetic_distance"][c] = d.genetic
            raw["featural_distance"][c] = d.featural
            raw["geographic_distance"][c] = d.geographic
            raw["lexical_distance"][c] = d.lexical
        backend = typology_backend()
        if "unavailable" in backend or not config.use_uriel:
            notes.append("URIEL+ not used (urielplus is not installed or use_uriel=False): genealogical "
                         "relatedness comes from the offline Swadesh lexical distance only")

    absent = [f for f in FEATURES if weight.get(f, 0) > 0 and all(v is None for v in raw[f].values())]
    if absent:
        notes.append(f"no data for any candidate on {', '.join(absent)} (not used)")

    # z-scores and scores
    z = {f: _zscores(raw[f]) for f in FEATURES}
    recs = []
    for c in cands:
        contributions = {f: weight.get(f, 0.0) * FEATURES[f][0] * z[f][c] for f in FEATURES if weight.get(f, 0) > 0}
        # a feature no candidate has (e.g. no training sizes given) is not news for each one: say it once
        missing = [f for f in contributions if raw[f][c] is None and any(v is not None for v in raw[f].values())]
        recs.append(Recommendation(
            source=c, rank=0, score=float(sum(contributions.values())),
            features={f: raw[f][c] for f in FEATURES}, z={f: z[f][c] for f in FEATURES},
            contributions=contributions, explanation="", missing=missing,
        ))
    recs.sort(key=lambda r: (-r.score, r.source))
    for rank, rec in enumerate(recs, 1):
        rec.rank = rank
        rec.explanation = _explain(rec, config, notes)
    return recs


def _explain(rec: Recommendation, config: RecommendConfig, notes: list[str]) -> str:
    ordered = sorted(rec.contributions.items(), key=lambda kv: -kv[1])
    pros = [(f, c) for f, c in ordered if c > 0.05][: config.explain_top]
    cons = [(f, c) for f, c in reversed(ordered) if c < -0.05][: config.explain_top]

    def phrase(f: str) -> str:
        return f"{FEATURES[f][1]} ({_format_value(f, rec.features[f])})"

    text = f"{rec.source}: rank {rec.rank}, score {rec.score:+.2f}"
    if pros:
        lead = "closest by" if rec.rank == 1 else "helped by"
        text += f"; {lead} {_join([phrase(f) for f, _ in pros])}"
    if cons:
        text += f"; held back by {_join([phrase(f) for f, _ in cons])}"
    if not pros and not cons:
        text += "; average on every feature"
    if rec.missing:
        text += f" (no data: {', '.join(rec.missing)})"
    if notes:
        text += ". " + " ".join(n[0].upper() + n[1:] + "." for n in notes)
    return text
