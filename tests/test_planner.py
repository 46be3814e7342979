"""`pgt plan`: rules, fallbacks for unregistered strategies, and a config that runs without edits."""

from __future__ import annotations

import pytest
import yaml

from polyglot_transfer.diagnostics.planner import Plan, Resources, plan_setups
from polyglot_transfer.errors import ConfigError, LanguageError
from polyglot_transfer.evaluation.config import build_config

TASK = {"corpus": "agri_advice"}


def _names(plan: Plan, in_config: bool | None = None) -> list[str]:
    return [s.name for s in plan.setups if in_config is None or s.in_config == in_config]


def test_issue_example_few_labels_documents_and_unlabelled_text() -> None:
    plan = plan_setups(Resources(target="yor", source="eng", labelled=32, unlabelled=5000, documents=200),
                       task=TASK, n_labels=6)
    assert _names(plan, True) == ["head", "few_shot", "rag", "few_shot+rag"]
    assert _names(plan, False) == ["language_adapter"], "needs the unlabelled file, so it is not in the config"
    assert any("--unlabelled-file" in n for n in plan.notes)
    assert plan.config["task"] == {"corpus": "agri_advice", "max_train_per_label": 5}
    assert plan.config["target_languages"] == ["eng_Latn", "yor_Latn"]
    # the YAML round-trips to the config and validates without edits
    text = plan.to_yaml()
    assert "# - few_shot: 32 labelled examples" in text and "#   language_adapter:" in text
    raw = yaml.safe_load(text)
    assert raw == plan.config
    config, problems = build_config(raw)
    assert problems == [] and list(config.setups) == ["head", "few_shot", "rag", "few_shot+rag"]


@pytest.mark.parametrize(("labelled", "gpu", "expected"), [
    (0, False, "zero_shot"), (4, False, "zero_shot"), (8, False, "few_shot"), (64, False, "few_shot"),
    (65, False, "lora"), (20000, True, "lora"), (20000, False, None),
])
def test_label_count_picks_the_trained_strategy(labelled, gpu, expected) -> None:
    plan = plan_setups(Resources(target="swh", labelled=labelled, gpu=gpu), task=TASK)
    names = _names(plan)
    assert names[0] == "head"
    if expected is None:
        assert names == ["head"] and any("no GPU" in n for n in plan.notes)
    else:
        assert expected in names, names
    assert build_config(plan.config)[1] == []


def test_unlabelled_file_adds_adapters_and_high_fertility_adds_vocab_extension(tmp_path) -> None:
    text = tmp_path / "yor.txt"
    text.write_text("Ẹ káàárọ̀\n" * 50, encoding="utf-8")
    plan = plan_setups(Resources(target="yor", labelled=500, unlabelled=20000, gpu=True, fertility_ratio=2.4,
                                 documents=10, unlabelled_file=str(text)), task=TASK)
    assert _names(plan, True) == ["head", "lora", "language_adapter", "continued_pretraining", "vocab_extension",
                                  "rag", "lora+rag"]
    setups = plan.config["setups"]
    assert setups["language_adapter"]["adapt"]["unlabelled"] == {"yor_Latn": str(text)}
    assert setups["vocab_extension"]["adapt"]["path"] == str(text)
    assert "2.4x the source's pieces per word" in next(s.reasoning for s in plan.setups if s.name == "vocab_extension")
    assert build_config(plan.config)[1] == []


def test_unregistered_strategies_fall_back_and_say_so() -> None:
    plan = plan_setups(Resources(target="yor", labelled=32, documents=5), task=TASK, registered={"head", "lora"})
    assert _names(plan) == ["head", "rag", "head+rag"]
    assert any("'few_shot' is not registered" in n and "planned 'head' instead" in n for n in plan.notes)
    plan = plan_setups(Resources(target="yor", labelled=0), task=TASK, registered={"head"})
    assert _names(plan) == ["head"] and any("'zero_shot' is not registered" in n for n in plan.notes)


def test_bad_resources_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"labelled must be an int >= 0 \(a number of texts\). Got -1"):
        Resources(target="yor", labelled=-1)
    with pytest.raises(ConfigError, match="unlabelled_file .* does not exist"):
        Resources(target="yor", unlabelled=10, unlabelled_file=str(tmp_path / "nope.txt"))
    with pytest.raises(LanguageError):
        Resources(target="klingonx")


def _run_plan(tmp_path, tiny_encoder, labelled: int) -> tuple[Plan, dict]:
    from polyglot_transfer.evaluation.compare import run_compare
    from tests.toy_task import write_toy_task

    paths = write_toy_task(tmp_path / "data")
    task = {"train": str(paths["train"]), "test": str(paths["test"]), "documents": str(paths["documents"])}
    plan = plan_setups(Resources(target="swh", source="eng", labelled=labelled, documents=3), task=task,
                       model=str(tiny_encoder), n_labels=3)
    out = tmp_path / "plan.yaml"
    out.write_text(plan.to_yaml(), encoding="utf-8")
    config, problems = build_config(yaml.safe_load(out.read_text(encoding="utf-8")))  # exactly as written
    assert problems == []
    result = run_compare(config, run_dir=tmp_path / "run", progress=False)
    return plan, result.results


def test_planned_config_runs_with_run_compare(tiny_encoder, tmp_path) -> None:
    plan, results = _run_plan(tmp_path, tiny_encoder, labelled=0)
    assert [s["name"] for s in results["setups"]] == ["head", "zero_shot", "rag"]
    cells = {(r["setup"], r["language"]) for r in results["records"] if r["metric"] == "macro_f1"}
    assert {("zero_shot", "swh_Latn"), ("rag", "swh_Latn"), ("head", "eng_Latn")} <= cells


@pytest.mark.slow
def test_planned_few_shot_config_runs_with_run_compare(tiny_encoder, tmp_path) -> None:
    plan, results = _run_plan(tmp_path, tiny_encoder, labelled=24)
    assert plan.config["task"]["max_train_per_label"] == 8
    assert [s["name"] for s in results["setups"]] == ["head", "few_shot", "rag", "few_shot+rag"]
