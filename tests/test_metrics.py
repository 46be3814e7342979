"""Tests for polyglot_transfer.measure.metrics: registry, classification, language-aware QA, chrF."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import sacrebleu
from sklearn.metrics import f1_score

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.metrics import (
    METRICS,
    Metric,
    accuracy,
    chrf,
    exact_match,
    get_metric,
    list_metrics,
    macro_f1,
    normalize_answer,
    token_f1,
    tokenize_answer,
)

# --------------------------------------------------------------------------- registry


def test_registry_lists_every_metric() -> None:
    assert list(METRICS) == [
        "accuracy", "answer_language", "answer_supported", "chrf", "chrf_pp", "entity_f1", "entity_precision",
        "entity_recall", "exact_match", "gold_passage_recall", "macro_f1", "token_f1",
    ]
    names = [name for name, _ in list_metrics()]
    assert names == list(METRICS)
    assert all(description for _, description in list_metrics()), "every metric needs a description"


def test_get_metric_returns_the_registered_metric() -> None:
    assert get_metric("accuracy") is accuracy
    assert isinstance(get_metric("macro_f1"), Metric)


def test_get_metric_unknown_name_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match=r"Unknown metric 'macro-f1'\. Did you mean 'macro_f1'\?"):
        get_metric("macro-f1")


def test_get_metric_binds_options_and_rejects_unknown_ones() -> None:
    bound = get_metric("token_f1", lang="eng_Latn")
    assert bound(["the cat"], ["a cat"], None) == 1.0
    assert token_f1(["the cat"], ["a cat"], None) == 0.5  # the registered metric itself is unchanged
    with pytest.raises(ConfigError, match=r"Metric 'accuracy' got unknown option\(s\) \['lang'\]"):
        get_metric("accuracy", lang="yor")


def _examples(values: list) -> np.ndarray:
    """A 1-D array of examples; list-valued examples (passages seen, doc ids) stay one object each."""
    if not isinstance(values[0], list):
        return np.asarray(values)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def test_uniform_signature() -> None:
    """Every registered metric is callable as fn(y_true, y_pred, labels) -> float."""
    data = {
        "accuracy": ([0, 1], [0, 0]),
        "macro_f1": ([0, 1], [0, 0]),
        "exact_match": (["a b"], ["a b"]),
        "token_f1": (["a b"], ["a"]),
        "chrf": (["the cat sat"], ["the cat sat"]),
        "chrf_pp": (["the cat sat"], ["the cat sat"]),
        "answer_language": (["eng_Latn"], ["the cat sat"]),
        "gold_passage_recall": (["d1"], [["d1", "d2"]]),
        "answer_supported": ([["the cat sat"]], ["the cat"]),
    }
    tags = np.empty(2, dtype=object)  # one tag list per sentence (a 1-D array of lists)
    tags[0], tags[1] = ["B-PER", "I-PER", "O"], ["O", "B-LOC"]
    for name in ("entity_f1", "entity_precision", "entity_recall"):
        data[name] = (tags, tags)
    for name, metric in METRICS.items():
        y_true, y_pred = data[name]
        value = metric(_examples(y_true), _examples(y_pred), None)
        assert isinstance(value, float), f"{name} returned {type(value).__name__}"
        assert 0.0 <= value <= 1.0, f"{name} returned {value} outside [0, 1]"


# --------------------------------------------------------------------------- classification


def test_accuracy() -> None:
    assert accuracy([0, 1, 1, 2], [0, 1, 0, 2]) == 0.75
    assert accuracy(["pos", "neg"], ["pos", "pos"]) == 0.5


def test_macro_f1_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        y_true = rng.integers(0, 4, 60)
        y_pred = rng.integers(0, 5, 60)  # class 4 is outside the label set below
        for labels in (None, [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]):
            expected = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
            assert macro_f1(y_true, y_pred, labels) == pytest.approx(expected)
            stats = macro_f1.sufficient_stats(y_true, y_pred, labels)
            assert macro_f1.from_stats(stats.sum(axis=0)) == pytest.approx(expected)


def test_macro_f1_counts_a_missing_class_as_zero() -> None:
    y_true = [0, 0, 1, 1]
    assert macro_f1(y_true, y_true, None) == 1.0  # inferred labels {0, 1}
    assert macro_f1(y_true, y_true, [0, 1, 2]) == pytest.approx(2 / 3)  # class 2: F1 = 0


def test_macro_f1_with_string_labels() -> None:
    y_true = ["pos", "neg", "neu", "pos"]
    y_pred = ["pos", "neg", "pos", "pos"]
    expected = f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert macro_f1(y_true, y_pred) == pytest.approx(expected)


def test_from_stats_is_vectorised_over_leading_axes() -> None:
    stats = accuracy.sufficient_stats([0, 1, 1], [0, 1, 0])
    weights = np.array([[1, 1, 1], [2, 1, 0], [0, 0, 3]], dtype=float)
    np.testing.assert_allclose(accuracy.from_stats(weights @ stats), [2 / 3, 1.0, 0.0])


def test_length_mismatch_empty_and_2d_inputs_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"Got lengths \[3, 2\]"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(DataError, match="Cannot compute 'accuracy' on 0 examples"):
        accuracy([], [])
    with pytest.raises(DataError, match=r"must be 1-D .* shape \(2, 3\).*not scores or probabilities"):
        accuracy(np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(DataError, match="Got a single int"):
        accuracy(3, [3])


# --------------------------------------------------------------------------- QA normalisation


def test_normalize_answer_is_squad_like() -> None:
    assert normalize_answer("  The Eiffel   Tower!! ", lang="eng_Latn") == "eiffel tower"
    assert normalize_answer("The Eiffel Tower") == "the eiffel tower"  # articles only for English
    assert normalize_answer("A la playa", lang="spa_Latn") == "a la playa"


def test_normalize_answer_casefolds_beyond_ascii() -> None:
    assert normalize_answer("STRASSE") == normalize_answer("Straße")
    assert normalize_answer("ΟΔΟΣ") == normalize_answer("οδος")


def test_yoruba_tone_marks_are_kept_and_unicode_forms_match() -> None:
    gold = unicodedata.normalize("NFC", "Ọ̀rọ̀ àgbà")
    pred = unicodedata.normalize("NFD", "Ọ̀RỌ̀ ÀGBÀ!")  # decomposed, upper case, punctuation
    assert gold != pred
    assert exact_match([gold], [pred], None, lang="yor_Latn") == 1.0
    assert token_f1([gold], [pred], None, lang="yor_Latn") == 1.0
    # Tone marks distinguish words in Yoruba: stripping them would be wrong.
    assert exact_match([gold], ["oro agba"], None, lang="yor_Latn") == 0.0
    assert token_f1([gold], ["oro agba"], None, lang="yor_Latn") == 0.0
    # One of two tokens right: P = R = 1/2 -> F1 = 1/2.
    assert token_f1([gold], ["ọ̀rọ̀ agba"], None, lang="yor_Latn") == pytest.approx(0.5)


def test_non_latin_scripts() -> None:
    # Devanagari danda and Ethiopic full stop are punctuation; vowel signs (combining marks) are kept.
    assert exact_match(["भारत की राजधानी"], ["भारत की राजधानी।"], None, lang="hin_Deva") == 1.0
    assert normalize_answer("किताब") == "किताब"  # the vowel signs survive normalisation
    assert exact_match(["አዲስ አበባ"], ["አዲስ አበባ።"], None, lang="amh_Ethi") == 1.0
    assert token_f1(["አዲስ አበባ ከተማ"], ["አዲስ አበባ"], None, lang="amh_Ethi") == pytest.approx(0.8)
    # Chinese has no spaces: characters are tokens. P = 1, R = 1/2 -> F1 = 2/3.
    assert tokenize_answer("北京大学") == ["北", "京", "大", "学"]
    assert token_f1(["北京大学"], ["北京"], None, lang="zho_Hans") == pytest.approx(2 / 3)


def test_tokenize_answer_mixed_scripts_and_combining_marks() -> None:
    assert tokenize_answer("东京tower") == ["东", "京", "tower"]
    assert tokenize_answer("Ọ̀rọ̀") == [unicodedata.normalize("NFC", "ọ̀rọ̀")]


def test_qa_multiple_gold_answers_take_the_best() -> None:
    golds = [["Abuja", "the city of Abuja"], ["Lagos"]]
    preds = ["city of Abuja", "Ibadan"]
    assert exact_match(golds, preds, None, lang="eng") == 0.5
    assert token_f1(golds, preds, None, lang="eng") == 0.5
    assert exact_match(golds, preds, None) == 0.0  # without lang=eng the article counts


def test_qa_empty_answers_follow_squad_v2() -> None:
    assert token_f1([""], [""]) == 1.0
    assert token_f1(["Abuja"], [""]) == 0.0
    assert token_f1(["!!"], ["Abuja"]) == 0.0


def test_qa_rejects_bad_inputs() -> None:
    with pytest.raises(DataError, match=r"QA answers must be strings\. Got NoneType"):
        exact_match(["Abuja"], [None])
    with pytest.raises(DataError, match=r"non-empty list of strings\. Got \[\]"):
        token_f1([[]], ["Abuja"])


# --------------------------------------------------------------------------- chrF


HYPS = ["the cat sat on the mat", "hello world", "ọmọ náà lọ sí ilé"]
REFS = ["a cat sat on a mat", "hello there world", "ọmọ náà ti lọ sí ilé"]


def test_chrf_equals_sacrebleu_corpus_score() -> None:
    expected = sacrebleu.corpus_chrf(HYPS, [REFS]).score / 100
    assert chrf(REFS, HYPS) == pytest.approx(expected)
    stats = chrf.sufficient_stats(REFS, HYPS)
    assert stats.shape[0] == len(HYPS)
    assert chrf.from_stats(stats.sum(axis=0)) == pytest.approx(expected)


def test_chrf_is_corpus_level_not_a_mean_of_sentences() -> None:
    sentence_mean = np.mean([sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(HYPS, REFS)]) / 100
    assert chrf(REFS, HYPS) != pytest.approx(sentence_mean, abs=1e-6)


def test_chrf_with_variable_number_of_references_and_chrf_plus_plus() -> None:
    golds = [[REFS[0], "the cat is on the mat"], [REFS[1]], [REFS[2]]]
    second = ["the cat is on the mat", None, None]
    expected = sacrebleu.corpus_chrf(HYPS, [REFS, second]).score / 100
    assert chrf(golds, HYPS) == pytest.approx(expected)
    plus_plus = sacrebleu.metrics.CHRF(word_order=2).corpus_score(HYPS, [REFS]).score / 100
    assert get_metric("chrf", word_order=2)(REFS, HYPS, None) == pytest.approx(plus_plus)


def test_chrf_rejects_non_string_hypotheses() -> None:
    with pytest.raises(DataError, match="chrF hypotheses must be strings. Got int"):
        chrf(["a"], [3])
