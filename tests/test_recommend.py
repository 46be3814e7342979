"""Source-language recommendation: features, z-scored weighted scores, explanations, typology sources."""

from __future__ import annotations

import numpy as np
import pytest

from polyglot_transfer.diagnostics.recommend import (
    DEFAULT_WEIGHTS,
    FEATURES,
    DataFeatures,
    RecommendConfig,
    _zscores,
    model_similarity,
    recommend_sources,
)
from polyglot_transfer.diagnostics.typology import levenshtein_normalised, swadesh_distance, urielplus_version
from polyglot_transfer.errors import ConfigError, DataError, LanguageError
from tests.conftest import SHARED_CORPORA

NO_TYPOLOGY = {f: w for f, w in DEFAULT_WEIGHTS.items() if "distance" not in f}


def test_model_similarity_paired_and_mean() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 8))
    assert model_similarity(a, a) == pytest.approx(1.0)
    assert model_similarity(a, -a) == pytest.approx(-1.0)
    # unaligned text: cosine of the means
    b = a[:10] + 0.0
    assert model_similarity(a, b) == pytest.approx(
        float(a.mean(0) @ b.mean(0) / np.linalg.norm(a.mean(0)) / np.linalg.norm(b.mean(0))))
    with pytest.raises(DataError, match="same width"):
        model_similarity(a, rng.normal(size=(20, 4)))
    with pytest.raises(DataError, match="aligned texts"):
        model_similarity(a, b, "paired")


def test_zscores_ignore_missing_and_constant_features() -> None:
    z = _zscores({"a": 1.0, "b": 3.0, "c": None})
    assert z["a"] == pytest.approx(-1.0) and z["b"] == pytest.approx(1.0) and z["c"] == 0.0
    assert _zscores({"a": 2.0, "b": 2.0}) == {"a": 0.0, "b": 0.0}
    assert _zscores({"a": 2.0, "b": None}) == {"a": 0.0, "b": 0.0}


def _toy(rng):
    target = ["kula mangan sega", "omahku cedhak kali", "aku seneng banget"] * 4
    close = ["kula mangan sego", "omahku cerak kali", "aku seneng pisan"] * 4
    far = ["I eat rice", "my house is near the river", "I am very happy"] * 4
    base = rng.normal(size=(12, 16))
    emb = {"jav": base, "sun": base + 0.1 * rng.normal(size=base.shape), "eng": rng.normal(size=base.shape)}
    return {"jav": target, "sun": close, "eng": far}, emb


def test_closest_candidate_ranks_first_and_the_explanation_names_its_features() -> None:
    texts, emb = _toy(np.random.default_rng(0))
    config = RecommendConfig(weights=dict(NO_TYPOLOGY), use_uriel=False)
    recs = recommend_sources("jav", ["eng", "sun", "jav"], parallel=texts, embeddings=emb,
                             data_features={"sun": DataFeatures(n_train=500), "eng": DataFeatures(n_train=500)},
                             config=config)
    assert [r.source for r in recs] == ["sun_Latn", "eng_Latn"], "the target itself is never a candidate"
    top = recs[0]
    assert top.rank == 1 and top.score > recs[1].score
    assert top.features["model_similarity"] > 0.9 and top.features["subword_overlap"] > recs[1].features["subword_overlap"]
    assert top.explanation.startswith("sun_Latn: rank 1")
    assert "closest by the model's own similarity (0.99" in top.explanation or \
        "closest by subword overlap" in top.explanation, top.explanation
    assert "held back by" in recs[1].explanation
    # equal training sizes carry no information: z = 0, no contribution
    assert top.contributions["train_size"] == 0.0
    # score is exactly the documented weighted z-sum
    assert top.score == pytest.approx(sum(config.weights[f] * FEATURES[f][0] * top.z[f] for f in top.contributions))


def test_missing_model_view_is_neutral_and_reported() -> None:
    texts, _ = _toy(np.random.default_rng(1))
    recs = recommend_sources("jav", "sun,eng", parallel=texts, config=RecommendConfig(weights=dict(NO_TYPOLOGY)))
    assert all(r.features["model_similarity"] is None and r.contributions["model_similarity"] == 0 for r in recs)
    assert all("model_similarity" not in r.missing for r in recs), "absent for all: said once, not per candidate"
    assert "the model's own view is not used" in recs[0].explanation
    assert recs[0].source == "sun_Latn"  # subword overlap alone decides


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown feature 'model_similarty'.*Did you mean 'model_similarity'"):
        RecommendConfig(weights={"model_similarty": 1.0})
    with pytest.raises(ConfigError, match=r"must be a float >= 0. Got -1"):
        RecommendConfig(weights={"train_size": -1})
    with pytest.raises(ConfigError, match="only candidate given is the target"):
        recommend_sources("jav", ["jav_Latn"], config=RecommendConfig(weights=dict(NO_TYPOLOGY)))
    with pytest.raises(LanguageError):
        recommend_sources("jav", ["klingonx"])
    with pytest.raises(DataError, match="n_train must be an int >= 0"):
        recommend_sources("jav", ["sun", "eng"], data_features={"sun": DataFeatures(n_train=-3)},
                          config=RecommendConfig(weights={"train_size": 1.0}))


def test_levenshtein_normalised() -> None:
    assert levenshtein_normalised("abc", "abc") == 0.0
    assert levenshtein_normalised("kitten", "sitting") == pytest.approx(3 / 7)
    assert levenshtein_normalised("", "a") == 1.0


@pytest.mark.skipif(not (SHARED_CORPORA / "panlex_swadesh").is_dir(), reason="shared PanLex Swadesh lists absent")
def test_swadesh_lexical_distance_orders_related_languages() -> None:
    jav_sun, n = swadesh_distance("jav", "sun")
    jav_eng, _ = swadesh_distance("jav", "eng")
    assert n >= 100 and jav_sun < jav_eng, (jav_sun, jav_eng)
    assert swadesh_distance("jav", "jav_Latn") == (0.0, 0)


@pytest.mark.skipif(urielplus_version() is None, reason="urielplus is not installed")
def test_uriel_distances_match_the_package_and_work_offline() -> None:
    from polyglot_transfer.diagnostics import typology

    uriel = typology._uriel()
    assert uriel is not None, "the URIEL+ data ships in the wheel: loading must not need the network"
    for kind in typology.URIEL_DISTANCES:
        for a, b in [("jav", "ind"), ("jav", "eng"), ("yor", "hau")]:
            assert typology._uriel_pair(kind, a, b) == pytest.approx(float(uriel.new_distance(kind, [a, b]))), (kind, a, b)
    d = typology.language_distances("jav", "sun")
    assert d.genetic is not None and d.genetic < typology.language_distances("jav", "eng").genetic
    assert "URIEL+ genetic" in d.sources["genetic"]
    with pytest.raises(ConfigError, match="Unknown URIEL\\+ distance 'genetik'"):
        typology.uriel_distance("jav", "sun", "genetik")
