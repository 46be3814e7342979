"""The task registry: registered tasks and types, validation against the task (setups, metrics, data files),
own data (CoNLL files, a save_to_disk folder), seqeval-backed NER metrics, and NER through `pgt compare`."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import yaml

from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.evaluation.config import build_config, load_config
from polyglot_transfer.evaluation.validate import validate_config
from polyglot_transfer.evaluation.task_data import load_task_data
from polyglot_transfer.measure.metrics import get_metric
from polyglot_transfer.measure.stats import bootstrap_ci
from polyglot_transfer.tasks import TASK_TYPES, TASKS, TaskConfig, check_task, resolve_task
from tests.conftest import REPO

# -- a small NER corpus in two languages, written as CoNLL ------------------------------------------------

NAMES = {"PER": ["Amina", "Juma", "Musa", "Fatima"], "LOC": ["Nairobi", "Kano", "Mombasa", "Zaria"],
         "ORG": ["Safaricom", "Dangote", "Equity", "Jumia"]}
FILLER = {"swh_Latn": ["alikwenda", "sokoni", "leo", "na", "kesho", "kwa", "habari"],
          "hau_Latn": ["ya", "tafi", "kasuwa", "yau", "da", "gobe", "labari"]}


def _sentence(rng: random.Random, lang: str) -> list[tuple[str, str]]:
    words = []
    for _ in range(rng.randint(2, 4)):
        words.append((rng.choice(FILLER[lang]), "O"))
        kind = rng.choice(list(NAMES))
        if kind == "ORG":  # a two-token organisation: B- then I-
            words += [(rng.choice(NAMES[kind]), "B-ORG"), ("Group", "I-ORG")]
        else:
            words.append((rng.choice(NAMES[kind]), f"B-{kind}"))
    return words


def write_conll(path, lang: str, n: int, seed: int):
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in _sentence(rng, lang)) for _ in range(n)) + "\n",
                    encoding="utf-8")
    return path


def ner_folder(root):
    """<root>/<lang>/{train,dev,test}.txt, the MasakhaNER layout."""
    for i, lang in enumerate(("swa", "hau")):
        code = "swh_Latn" if lang == "swa" else "hau_Latn"
        for j, (split, n) in enumerate((("train", 24), ("dev", 8), ("test", 12))):
            write_conll(root / lang / f"{split}.txt", code, n, seed=10 * i + j)
    return root


def ner_config(folder, model, **extra) -> dict:
    config = {
        "name": "ner-toy",
        "task": {"corpus": "masakhaner", "corpus_root": str(ner_folder(folder / "conll"))},
        "model": str(model),
        "sources": ["swh_Latn", "hau_Latn"],
        "target_languages": ["swh_Latn", "hau_Latn"],
        "setups": {
            "head": {"adapt": {"strategy": "token_classification", "method": "head", "epochs": 2,
                               "learning_rate": 0.01, "batch_size": 8, "min_steps": 0}},
            "lora": {"adapt": {"strategy": "token_classification", "method": "lora", "epochs": 1, "batch_size": 8,
                               "min_steps": 0}},
            "full": {"adapt": {"strategy": "token_classification", "method": "full", "epochs": 1,
                               "learning_rate": 0.001, "batch_size": 8, "min_steps": 0}},
        },
        "baseline": "head",
        "bootstrap": {"n_resamples": 200},
        "output_dir": str(folder / "run"),
        "threads": 1,
    }
    config.update(extra)
    return config


# -- the registry -------------------------------------------------------------------------------------------


def test_builtin_tasks_are_registered_with_their_types():
    assert {"agri_advice", "nusax", "masakhaner", "afriqa"} <= set(TASKS)
    assert {name: TASKS.get(name).type for name in ("agri_advice", "nusax", "masakhaner", "afriqa")} == {
        "agri_advice": "classification", "nusax": "classification", "masakhaner": "token_classification",
        "afriqa": "generative_qa"}
    assert set(TASK_TYPES) == {"classification", "token_classification", "generative_qa"}
    ner = TASKS.get("masakhaner")
    assert ner.primary_metric == "entity_f1" and "swh_Latn" in ner.languages and len(ner.languages) == 10
    assert ner.card["licence"] == "CC BY-NC 4.0"
    from polyglot_transfer.adapt import STRATEGIES

    # the engine trains token classification with lora / full / peft too
    assert ner.allowed_strategies(STRATEGIES) == ["full", "lora", "peft", "token_classification"]
    assert "head" not in ner.allowed_strategies(STRATEGIES)
    assert {"head", "lora", "full"} <= set(TASKS.get("nusax").allowed_strategies(STRATEGIES))
    assert "token_classification" not in TASKS.get("nusax").allowed_strategies(STRATEGIES)


def test_unknown_task_gets_did_you_mean():
    with pytest.raises(ConfigError, match=r"Unknown task 'masakhner'\. Did you mean 'masakhaner'\?"):
        TASKS.get("masakhner")
    problems = check_task(TaskConfig(corpus="nusaxx"), ["ind_Latn"], ["jav_Latn"])
    assert len(problems) == 1 and "Did you mean 'nusax'?" in problems[0] and "pgt ls tasks" in problems[0]
    problems = check_task(TaskConfig(type="ner", train="a", test="b"), ["swh_Latn"], ["hau_Latn"])
    assert "task.type 'ner' is unknown" in problems[0] and "token_classification" in problems[0]


def test_pgt_ls_tasks_lists_the_registry(capsys):
    from polyglot_transfer.cli.main import main

    assert main(["ls", "tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("agri_advice", "nusax", "masakhaner", "afriqa", "token_classification"):
        assert name in out


def test_existing_configs_still_validate():
    assert validate_config(REPO / "eval" / "configs" / "demo.yaml") == []
    config = load_config(REPO / "eval" / "configs" / "demo.yaml")
    assert resolve_task(config.task).name == "agri_advice" and config.metrics == ["accuracy", "macro_f1"]


# -- validation against the task -----------------------------------------------------------------------------


def test_setups_and_metrics_the_task_does_not_allow_are_validate_errors(tmp_path):
    raw = ner_config(tmp_path, REPO)  # any existing folder passes the model check
    raw["setups"]["knn"] = {"retrieval": {"k": 4}}
    raw["setups"]["sentence_head"] = {"adapt": {"strategy": "head"}}
    raw["metrics"] = ["entity_f1", "macro_f1"]
    _, problems = build_config(raw, source="c.yaml")
    text = "\n".join(problems)
    assert ("c.yaml: setups.knn.retrieval: task 'masakhaner' (token_classification) has no retrieval setups" in text
            and "Allowed: `adapt` with strategy full, lora, peft, token_classification." in text)
    assert ("setups.sentence_head.adapt.strategy: 'head' does not fit task 'masakhaner' (token_classification). "
            "Strategies for it: full, lora, peft, token_classification." in text)
    assert "metrics[1]: 'macro_f1' does not score task 'masakhaner' (token_classification). Metrics for it: " \
           "entity_f1, entity_precision, entity_recall." in text
    assert len(problems) == 3, problems


def test_a_malformed_conll_line_is_a_validate_error_naming_file_and_line(tmp_path):
    raw = ner_config(tmp_path, REPO)
    bad = tmp_path / "conll" / "hau" / "test.txt"
    lines = bad.read_text().splitlines()
    lines[4] = "Kano"  # a token without its tag
    bad.write_text("\n".join(lines) + "\n")
    _, problems = build_config(raw, source="c.yaml")
    assert len(problems) == 1 and f"{bad}:5: expected a token and a tag" in problems[0], problems
    lines[4] = "Kano LOCATION"
    bad.write_text("\n".join(lines) + "\n")
    _, problems = build_config(raw, source="c.yaml")
    assert f"{bad}:5: tags ['LOCATION'] are not BIO/IOBES tags" in problems[0]


def test_missing_languages_and_files_are_validate_errors(tmp_path):
    raw = ner_config(tmp_path, REPO, target_languages=["swh_Latn", "yor_Latn"])
    _, problems = build_config(raw, source="c.yaml")
    assert problems == ["c.yaml: task: no test.txt for yor_Latn: languages with data are hau_Latn, swh_Latn "
                        "(folders <language>/test.txt)."]
    raw = ner_config(tmp_path, REPO)
    raw["task"] = {"type": "token_classification", "train": str(tmp_path / "none.conll"),
                   "test": {"hau_Latn": str(tmp_path / "conll" / "hau" / "test.txt")}}
    raw["sources"] = ["swh_Latn"]
    raw["target_languages"] = ["hau_Latn"]
    _, problems = build_config(raw, source="c.yaml")
    assert problems == [f"c.yaml: task: train file {tmp_path / 'none.conll'} does not exist. Check the path (relative paths start from the current folder)."]


def test_own_conll_files_by_language(tmp_path):
    folder = ner_folder(tmp_path / "conll")
    raw = ner_config(tmp_path, REPO, sources=["swh_Latn"], target_languages=["swh_Latn", "hau_Latn"])
    raw["task"] = {"type": "token_classification", "train": str(folder / "swa" / "train.txt"),
                   "test": {"swh": str(folder / "swa" / "test.txt"), "hau": str(folder / "hau" / "test.txt")},
                   "max_train": 10}
    config, problems = build_config(raw)
    assert problems == []
    assert config.metrics == ["entity_f1"]  # the task type's default
    data = load_task_data(config)
    assert data.type == "token_classification" and len(data.train) == 10
    assert set(data.tests) == {"swh_Latn", "hau_Latn"} and len(data.tests["hau_Latn"]) == 12
    assert "B-ORG" in data.labels and "O" in data.labels


def test_max_train_per_label_is_refused_for_ner(tmp_path):
    raw = ner_config(tmp_path, REPO)
    raw["task"]["max_train_per_label"] = 5
    config, problems = build_config(raw)
    assert problems == []
    with pytest.raises(DataError, match="max_train_per_label samples k examples per class label; task 'masakhaner' "
                                        "is a token_classification task. Use task.max_train"):
        load_task_data(config)


# -- datasets: a save_to_disk folder (offline stand-in for a hub id) -------------------------------------------


def test_a_save_to_disk_classification_dataset(tmp_path):
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"), "language": datasets.Value("string"),
                                  "sentiment": datasets.ClassLabel(names=["neg", "pos"])})
    rows = {"sentence": [f"{w} {i}" for i in range(6) for w in ("bad", "good")],
            "language": ["eng"] * 6 + ["swh"] * 6, "sentiment": [0, 1] * 6}
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features),
                               "test": datasets.Dataset.from_dict(rows, features=features)})
    dd.save_to_disk(str(tmp_path / "senti"))
    raw = {"name": "hub", "model": str(REPO), "source_language": "eng_Latn", "target_languages": ["swh_Latn"],
           "task": {"dataset": str(tmp_path / "senti"), "type": "classification",
                    "columns": {"text": "sentence", "label": "sentiment", "lang": "language"},
                    "language_codes": {"eng_Latn": "eng", "swh_Latn": "swh"}},
           "setups": {"head": {"adapt": {"strategy": "head"}}}}
    config, problems = build_config(raw)
    assert problems == []
    data = load_task_data(config)
    assert data.labels == ["neg", "pos"] and len(data.train) == 6 and len(data.tests["swh_Latn"]) == 6
    assert data.tests["swh_Latn"][1].label == "pos" and data.tests["swh_Latn"][1].lang == "swh_Latn"
    raw["task"]["dataset"] = str(tmp_path / "nothing")
    _, problems = build_config(raw)
    assert problems == [f"config: task: dataset folder {tmp_path / 'nothing'} does not exist (a save_to_disk "
                        "folder or a hub id)."]


def test_a_per_language_save_to_disk_ner_dataset(tmp_path):
    import datasets

    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=tags))})
    for lang in ("swa", "hau"):
        rows = {"tokens": [["Amina", "yuko", "Nairobi"], ["Juma", "Musa", "leo"]], "ner_tags": [[1, 0, 3], [1, 2, 0]]}
        datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features),
                              "test": datasets.Dataset.from_dict(rows, features=features)}
                             ).save_to_disk(str(tmp_path / f"ner-{lang}"))
    raw = ner_config(tmp_path, REPO, sources=["swh_Latn"], target_languages=["hau_Latn"])
    raw["task"] = {"dataset": str(tmp_path / "ner-{lang}"), "type": "token_classification",
                   "language_codes": {"swh_Latn": "swa", "hau_Latn": "hau"}}
    config, problems = build_config(raw)
    assert problems == []
    data = load_task_data(config)
    assert data.train.tags == [["B-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O"]]
    assert data.tests["hau_Latn"][0].lang == "hau_Latn"


# -- NER metrics: seqeval (IOB2, strict) ------------------------------------------------------------------------


def _random_tags(rng: random.Random, n: int) -> list[list[str]]:
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    return [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(n)]


def test_entity_metrics_agree_with_seqeval_strict_on_both_paths():
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    rng = random.Random(3)
    gold = _random_tags(rng, 60)
    pred = [list(g) for g in gold]
    for p in pred:  # corrupt some tags: wrong types, dangling I- (not an entity in strict mode)
        for i in range(len(p)):
            if rng.random() < 0.3:
                p[i] = rng.choice(["O", "I-PER", "B-LOC", "B-PER"])
    expected = {"entity_f1": f1_score(gold, pred, mode="strict", scheme=IOB2),
                "entity_precision": precision_score(gold, pred, mode="strict", scheme=IOB2),
                "entity_recall": recall_score(gold, pred, mode="strict", scheme=IOB2)}
    assert 0.2 < expected["entity_f1"] < 0.95
    for name, value in expected.items():
        metric = get_metric(name)
        assert metric(gold, pred) == pytest.approx(value)
        assert metric.from_stats(metric.sufficient_stats(gold, pred).sum(axis=0)) == pytest.approx(value)
    report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True)
    for kind in ("PER", "LOC", "ORG"):
        metric = get_metric("entity_f1", entity_type=kind)
        assert metric(gold, pred) == pytest.approx(report[kind]["f1-score"])
        assert metric.from_stats(metric.sufficient_stats(gold, pred).sum(axis=0)) == pytest.approx(
            report[kind]["f1-score"])


def test_entity_f1_strict_mode_and_bootstrap_over_sentences():
    f1 = get_metric("entity_f1")
    assert f1([["B-PER", "I-PER"]], [["I-PER", "I-PER"]]) == 0.0  # strict: I- without B- is no entity
    assert f1([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]) == 1.0
    with pytest.raises(DataError, match="sentence 0 has 2 gold tags but 1 predicted tags"):
        f1([["B-PER", "O"]], [["O"]])
    rng = random.Random(0)
    gold = _random_tags(rng, 40)
    pred = [g if i % 3 else ["O"] * len(g) for i, g in enumerate(gold)]
    ci = bootstrap_ci(f1, gold, pred, None, n_resamples=300, seed=0)
    assert ci.n == 40 and ci.low < ci.value < ci.high <= 1.0
    assert np.isclose(ci.value, f1(gold, pred))


# -- NER through pgt compare (tiny encoder from config) --------------------------------------------------------


@pytest.fixture(scope="module")
def ner_run(tiny_encoder, tmp_path_factory):
    from polyglot_transfer.evaluation.compare import run_compare

    folder = tmp_path_factory.mktemp("ner")
    (folder / "ner.yaml").write_text(yaml.safe_dump(ner_config(folder, tiny_encoder)))
    config = load_config(folder / "ner.yaml")
    return folder, config, run_compare(config, progress=False)


def test_ner_compare_records_have_cis_per_language_setup_and_entity_type(ner_run):
    _, config, result = ner_run
    res = result.results
    assert res["task"]["type"] == "token_classification" and res["primary_metric"] == "entity_f1"
    records = res["records"]
    metrics = {r["metric"] for r in records}
    assert metrics == {"entity_f1", "entity_f1:LOC", "entity_f1:ORG", "entity_f1:PER"}
    assert len(records) == 3 * 2 * 2 * 4  # setups x sources x targets x metrics
    for r in records:
        assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] == 12, r


def test_ner_compare_tests_against_the_baseline_and_fills_the_transfer_matrix(ner_run):
    _, _, result = ner_run
    res = result.results
    comps = res["comparisons"]
    assert {c["setup"] for c in comps} == {"lora", "full"} and all(c["metric"] == "entity_f1" for c in comps)
    assert all(c["test"] == "paired_bootstrap" and c["p_adjusted"] >= c["p_value"] for c in comps)
    assert {(s["setup"], s["source"]) for s in res["summary"]} == {(s, src) for s in ("lora", "full")
                                                                    for src in ("swh_Latn", "hau_Latn")}
    matrix = res["transfer_matrix"]
    assert matrix["metric"] == "entity_f1" and len(matrix["setups"]) == 3
    assert all(len(s["cells"]) == 4 for s in matrix["setups"])
    assert res["forgetting"] == []  # a sentence-level probe does not apply to tagging
    assert res["cards"][0]["name"] == "CoNLL NER"


def test_ner_cells_hold_tags_and_the_reports_render(ner_run):
    folder, config, result = ner_run
    cell = json.loads((result.run_dir / "cells" / "seed0" / "swh_Latn" / "head" / "hau_Latn.json").read_text())
    assert len(cell["y_true"]) == len(cell["y_pred"]) == 12
    assert all(len(t) == len(p) for t, p in zip(cell["y_true"], cell["y_pred"]))
    assert result.reports["markdown"].is_file() and "### entity F1" in result.reports["markdown"].read_text()
    assert "entity F1 (PER)" in result.reports["html"].read_text()
    assert (result.run_dir / "models").is_dir()
    from polyglot_transfer.evaluation.run_folder import model_dir

    head_model = model_dir(result.run_dir, config, config.setups["head"], "swh_Latn", 0)
    assert (head_model / "head.safetensors").is_file()  # the frozen encoder is not saved again
    assert not (head_model / "model").exists()


def test_ner_results_are_schema_2_without_chance_levels_and_the_glance_says_so(ner_run):
    from polyglot_transfer.evaluation.report import plain_summary
    from polyglot_transfer.evaluation.results_model import load_results

    _, config, result = ner_run
    res = result.results
    assert res["schema_version"] == 2 and load_results(result.run_dir).task.type == "token_classification"
    # chance levels and `failed` are classification-only: absent, not false or empty
    assert all("chance" not in lang for lang in res["languages"])
    assert all("failed" not in r for r in res["records"])
    assert all(c["verdict"] != "both_failed" for c in res["comparisons"])
    # leader tests and the recommendation run on the primary metric (entity F1)
    assert {t["metric"] for t in res["leader_tests"]} == {"entity_f1"}
    assert sum(t["runner_up"] for t in res["leader_tests"]) == 2 * 2  # sources x targets
    rec = res["recommendation"]
    assert rec["metric"] == "entity_f1" and set(rec["means"]) == set(config.setups)
    assert all(c["status"] != "failed" for c in rec["languages"])
    sentences = plain_summary(res)
    assert sentences[0] == ("No chance level is defined for token classification (entity-level scores), so no setup "
                            "is marked as failed; compare the entity F1 scores with each other and with the baseline.")
    assert not any("Chance levels on" in s or "at or below the chance level" in s for s in sentences)
    assert sentences[-1].startswith("Recommendation")
    md = result.reports["markdown"].read_text()
    assert "## Chance levels" not in md and "No chance level is defined for token classification" in md


def test_ner_compare_resumes_without_retraining(ner_run):
    from polyglot_transfer.evaluation.compare import run_compare

    folder, config, first = ner_run
    before = {p: p.stat().st_mtime_ns for p in (first.run_dir / "cells").rglob("*.json")}
    again = run_compare(config, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (first.run_dir / "cells").rglob("*.json")} == before
    assert again.results["records"] == first.results["records"]


def test_ner_report_has_per_type_f1_and_example_sentences_escaped(ner_run):
    import copy

    from polyglot_transfer.evaluation.report import write_html, write_markdown

    _, config, result = ner_run
    res = result.results
    examples = res["ner_examples"]
    assert {x["language"] for x in examples} == set(config.target_languages)
    assert all(any(t != "O" for t in x["gold"]) and set(x["predicted"]) == set(config.setups) for x in examples)
    assert all(len(x["tokens"]) == len(x["gold"]) == len(x["predicted"]["full"]) for x in examples)
    md = result.reports["markdown"].read_text()
    assert "## Entity types" in md and "| Language | Setup | LOC | ORG | PER |" in md
    assert "## Example sentences" in md
    first = examples[0]
    assert " ".join(first["tokens"]) in md
    kind = next(t[2:] for t in first["gold"] if t.startswith("B-"))
    assert f"({kind})" in md
    html = result.reports["html"].read_text()
    assert 'class="results ner-types"' in html and 'class="results ner-examples"' in html
    hostile = copy.deepcopy(res)
    hostile["ner_examples"][0]["tokens"][0] = "<script>x|y</script>"
    assert "<script>x" not in write_html(hostile) and "&lt;script&gt;x|y" in write_html(hostile)
    assert "`<script>`x\\|y" in write_markdown(hostile)
