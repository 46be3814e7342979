"""QA metrics (measure/qa.py): checked against SQuAD v1.1's official formulas and sacrebleu, resampled by stats."""

from __future__ import annotations

import collections
import re
import string

import numpy as np
import pytest
import sacrebleu

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.measure.metrics import exact_match, get_metric, token_f1, tokenize_answer
from polyglot_transfer.measure.qa import (
    answer_language,
    answer_supported,
    best_span_f1,
    chrf_pp,
    gold_passage_recall,
    per_example_scores,
    score_qa,
)
from polyglot_transfer.measure.stats import bootstrap_ci, paired_bootstrap_test

# ---- the official SQuAD v1.1 evaluation functions (evaluate-v1.1.py), reproduced verbatim ----------


def squad_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_f1_score(prediction, ground_truth):
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_exact_match_score(prediction, ground_truth):
    return squad_normalize_answer(prediction) == squad_normalize_answer(ground_truth)


def squad_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)


# English examples: articles, punctuation, ASCII symbols ($, %), repeated tokens, several references.
ENGLISH = [
    (["Denver Broncos", "The Denver Broncos"], "the Denver Broncos!"),
    (["Saint Bernadette Soubirous"], "Bernadette"),
    (["$2.5 million"], "2.5 million dollars"),
    (["a golden statue of the Virgin Mary"], "Statue of Mary, golden"),
    (["in the late 1990s", "late 1990s"], "1990s"),
    (["the the cat"], "cat cat the"),
    (["Beyoncé"], "beyonce"),
    (["50%"], "50 %"),
    (["New York City"], "Los Angeles"),
    (["rotate crops every season"], "Rotate the crops, every season."),
]


def test_token_f1_and_exact_match_equal_squad_v11_on_english() -> None:
    golds = [g for g, _ in ENGLISH]
    preds = [p for _, p in ENGLISH]
    f1 = per_example_scores(token_f1.with_options(lang="eng_Latn"), golds, preds)
    em = per_example_scores(exact_match.with_options(lang="eng_Latn"), golds, preds)
    expected_f1 = [squad_metric_max_over_ground_truths(squad_f1_score, p, g) for g, p in ENGLISH]
    expected_em = [float(squad_metric_max_over_ground_truths(squad_exact_match_score, p, g)) for g, p in ENGLISH]
    np.testing.assert_allclose(f1, expected_f1)
    np.testing.assert_array_equal(em, expected_em)
    assert 0 < f1.mean() < 1 and 0 < em.mean() < 1  # the examples exercise both outcomes


def test_articles_are_kept_outside_english() -> None:
    # Swahili/French "a", "the" are not articles to strip; SQuAD's stripping applies to English only.
    assert token_f1(["a la ferme"], ["la ferme"], None, lang="fra_Latn") == pytest.approx(0.8)
    assert token_f1(["a la ferme"], ["la ferme"], None, lang="eng_Latn") == 1.0


def test_chrf_pp_equals_sacrebleu_corpus_score() -> None:
    hyps = ["panda mbegu mapema", "utilise du fumier", "मिट्टी की जाँच करें", ""]
    refs = ["panda mbegu mapema msimu wa mvua", "utilisez du fumier composté", "मिट्टी की जांच", "ruwa"]
    expected = sacrebleu.metrics.CHRF(word_order=2).corpus_score(hyps, [refs]).score / 100
    assert chrf_pp(refs, hyps) == pytest.approx(expected)
    assert get_metric("chrf_pp") is chrf_pp
    stats = chrf_pp.sufficient_stats(refs, hyps)
    assert chrf_pp.from_stats(stats.sum(axis=0)) == pytest.approx(expected)
    with pytest.raises(ConfigError, match="corpus-level"):
        per_example_scores(chrf_pp, refs, hyps)


def test_answer_language_per_example() -> None:
    answers = ["मिट्टी की जाँच करें", "soil test", "Gwada ƙasa", ""]
    langs = ["hin_Deva", "hin_Deva", "hau_Latn", "hau"]
    np.testing.assert_array_equal(per_example_scores(answer_language, langs, answers), [1, 0, 1, 0])
    # Same script: profiles decide between Hausa and English.
    profiles = {"hau_Latn": ["Ina son in shuka masara a gona ta", "Ruwan sama ya zo da wuri a bana"],
                "eng_Latn": ["I want to plant maize on my farm", "The rain came early this year"]}
    scores = per_example_scores(answer_language.with_options(profiles=profiles), ["hau"] * 2,
                                ["Ruwan sama ya zo", "The rain came early"])
    np.testing.assert_array_equal(scores, [1, 0])
    with pytest.raises(DataError, match="language code as gold"):
        answer_language([None], ["x"])


def test_gold_passage_recall_counts_only_what_the_generator_saw() -> None:
    gold = ["d1", "d2", ["d3", "d9"]]
    seen = [["d4", "d1"], ["d5", "d6"], ["d9"]]
    np.testing.assert_array_equal(per_example_scores(gold_passage_recall, gold, seen), [1, 0, 1])
    assert gold_passage_recall.with_options(k=1)(gold, seen) == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        gold_passage_recall.with_options(k=0)(gold, seen)
    with pytest.raises(DataError, match="doc id or a list of doc ids. Got NoneType"):
        gold_passage_recall(["d1"], [None])


def test_best_span_f1_is_the_max_over_spans() -> None:
    passage = tokenize_answer("Plant maize early, when the first rains come, and weed twice.", "eng")
    answer = tokenize_answer("when the first rains come", "eng")
    assert best_span_f1(answer, passage) == 1.0
    # Brute force over every span agrees on a partial answer.
    partial = tokenize_answer("after first rains", "eng")
    brute = 0.0
    for i in range(len(passage)):
        for j in range(i + 1, len(passage) + 1):
            common = collections.Counter(partial) & collections.Counter(passage[i:j])
            same = sum(common.values())
            brute = max(brute, 2 * same / (len(partial) + j - i))
    assert best_span_f1(partial, passage) == pytest.approx(brute)
    assert best_span_f1(partial, passage, threshold=0.5) == pytest.approx(brute)  # pruning keeps the best
    assert best_span_f1([], passage) == 0.0


def test_answer_supported_by_a_seen_passage() -> None:
    passages = [["Ruwan sama na farko: shuka masara.", "Ka sayi taki a kasuwa."],
                ["Ka sayi taki a kasuwa."],
                ["Ruwan sama na farko: shuka masara."]]
    answers = ["shuka masara", "ruwan sama", ""]
    scores = per_example_scores(answer_supported.with_options(lang="hau_Latn"), passages, answers)
    np.testing.assert_array_equal(scores, [1, 0, 0])  # supported, not in its passages, empty never supported
    with pytest.raises(DataError, match="list of passage texts"):
        answer_supported(["one passage as a string"], ["x"])
    with pytest.raises(ConfigError, match=r"threshold must be a number in \(0, 1\]"):
        answer_supported.with_options(threshold=0)(passages, answers)


def test_score_qa_arrays_feed_the_bootstrap_and_paired_test() -> None:
    golds = ["shuka masara", "taki", "ruwan sama", "kasuwa", "gona"] * 4
    good = ["shuka masara", "taki", "ruwan sama", "a kasuwa", "gona"] * 4
    bad = ["masara", "ruwa", "", "kasuwa", "x"] * 4
    seen_ids = [["d1", "d2"], ["d3"], ["d2"], ["d4", "d1"], ["d9"]] * 4
    gold_ids = ["d1", "d2", "d2", "d4", "d5"] * 4
    scores = score_qa(golds, good, "hau_Latn", seen_doc_ids=seen_ids, gold_doc_ids=gold_ids, k=1,
                      seen_passages=[["shuka masara yanzu"], ["taki"], ["babu"], ["kasuwa"], ["gona"]] * 4)
    assert set(scores.values) == {"exact_match", "token_f1", "answer_language", "gold_passage_recall",
                                  "answer_supported", "chrf_pp"}
    assert scores.values["gold_passage_recall"] == pytest.approx(0.6)
    assert scores.values["exact_match"] == pytest.approx(0.8)
    assert scores.per_example["token_f1"].shape == (20,)
    assert scores.values["chrf_pp"] == pytest.approx(chrf_pp(golds, good))
    ci = bootstrap_ci(token_f1.with_options(lang="hau_Latn"), golds, good, n_resamples=200)
    assert ci.low <= scores.values["token_f1"] <= ci.high
    paired = paired_bootstrap_test(token_f1.with_options(lang="hau_Latn"), golds, good, bad, n_resamples=200)
    assert paired.delta > 0 and paired.p_value < 0.05
    ci_pp = bootstrap_ci(chrf_pp, golds, good, n_resamples=200)
    assert ci_pp.low <= ci_pp.value <= ci_pp.high
    with pytest.raises(ConfigError, match="needs both seen_doc_ids and gold_doc_ids"):
        score_qa(golds, good, "hau", seen_doc_ids=seen_ids)
