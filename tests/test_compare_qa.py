"""Generative QA in `pgt compare`: closed_book, ft, rag and ft+rag end to end on a tiny decoder built from config
(the shipped agri_advice QA set, a FAISS index of its documents), resume, validation errors, the prompt and
answer rule, and the conformance of the generative_qa task type."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from polyglot_transfer.data.corpora import load_demo_corpus
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import build_config, load_config
from polyglot_transfer.evaluation.qa_runner import document_versions
from polyglot_transfer.evaluation.qa_setups import build_prompt, extract_answer, qa_kind, qa_view
from polyglot_transfer.evaluation.task_data import load_task_data
from polyglot_transfer.tasks import TASK_TYPES, TASKS, TaskConfig, check_task
from tests.conftest import REPO

TARGETS = ["eng_Latn", "swh_Latn", "hau_Latn"]


@pytest.fixture(scope="module")
def tiny_decoder(e5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with the real XLM-R tokenizer (<s>, </s>, <pad>)."""
    from polyglot_transfer.models.tiny import build_tiny_decoder

    return build_tiny_decoder(tmp_path_factory.mktemp("qa-decoder"), e5_path, max_positions=512)


def qa_config(folder: Path, decoder: Path, embedder: Path, **extra) -> dict:
    lora = {"strategy": "generation", "method": "lora", "epochs": 2, "batch_size": 2, "learning_rate": 0.01,
            "target_modules": ["q_proj", "v_proj"]}
    retrieval = {"embedder": str(embedder), "k": 2, "passage_tokens": 24, "max_context_tokens": 60, "distractors": 1}
    gen = {"max_new_tokens": 4, "batch_size": 4}
    config = {
        "name": "qa-tiny",
        "task": {"corpus": "agri_advice_qa", "max_test": 4},
        "model": str(decoder),
        "sources": ["eng_Latn"],
        "target_languages": TARGETS,
        "setups": {
            "closed_book": {"generate": {**gen, "shots": 1}},
            "ft": {"adapt": lora, "generate": gen},
            "rag": {"retrieval": retrieval, "generate": gen},
            "ft+rag": {"adapt": lora, "retrieval": retrieval, "generate": gen},
        },
        "baseline": "closed_book",
        "bootstrap": {"n_resamples": 200},
        "output_dir": str(folder / "run"),
        "threads": 1,
        "diagnostics": False,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="module")
def qa_run(tiny_decoder, tiny_encoder, tmp_path_factory):
    from polyglot_transfer.evaluation.compare import run_compare

    folder = tmp_path_factory.mktemp("qa")
    (folder / "qa.yaml").write_text(yaml.safe_dump(qa_config(folder, tiny_decoder, tiny_encoder), sort_keys=False))
    config = load_config(folder / "qa.yaml")
    return folder, config, run_compare(config, progress=False)


# -- the grid -------------------------------------------------------------------------------------------------


def test_four_setups_have_records_with_cis_per_language(qa_run):
    _, config, result = qa_run
    res = result.results
    assert res["task"]["type"] == "generative_qa" and res["primary_metric"] == "token_f1"
    records = res["records"]
    for setup in ("closed_book", "ft", "rag", "ft+rag"):
        for lang in TARGETS:
            for metric in ("exact_match", "token_f1", "chrf_pp", "answer_language"):
                rec = [r for r in records if (r["setup"], r["language"], r["metric"]) == (setup, lang, metric)]
                assert len(rec) == 1, (setup, lang, metric)
                assert rec[0]["ci_low"] <= rec[0]["value"] <= rec[0]["ci_high"] and rec[0]["n"] == 4, rec[0]
    # retrieval metrics exist exactly for the setups that retrieve
    assert {r["setup"] for r in records if r["metric"] == "gold_passage_recall"} == {"rag", "ft+rag"}
    assert {r["setup"] for r in records if r["metric"] == "answer_supported"} == {"rag", "ft+rag"}
    assert [s["description"].split(":")[0] for s in res["setups"]] == ["closed_book", "ft", "rag", "ft+rag"]


def test_paired_tests_against_the_baseline_with_holm_and_wins_ties_losses(qa_run):
    _, _, result = qa_run
    res = result.results
    comps = res["comparisons"]
    assert {c["setup"] for c in comps} == {"ft", "rag", "ft+rag"}
    # no pairing for metrics the baseline does not have, or whose gold differs per setup
    assert not {c["metric"] for c in comps} & {"gold_passage_recall", "answer_supported"}
    for c in comps:
        assert c["test"] == "paired_bootstrap" and c["p_adjusted"] >= c["p_value"] and c["verdict"] in (
            "win", "tie", "loss")
    f1 = [c for c in comps if c["metric"] == "token_f1"]
    assert len(f1) == 3 * len(TARGETS)
    summary = {s["setup"]: s for s in res["summary"]}
    assert set(summary) == {"ft", "rag", "ft+rag"}
    assert all(s["wins"] + s["ties"] + s["losses"] == len(TARGETS) for s in summary.values())
    assert len(res["transfer_matrix"]["setups"]) == 4
    assert res["forgetting"] == []


def test_cells_hold_answers_passages_and_gold_passage_ids(qa_run):
    _, config, result = qa_run
    cells = result.run_dir / "cells" / "seed0" / "eng_Latn"
    rag = json.loads((cells / "rag" / "hau_Latn.json").read_text())
    assert rag["kind"] == "rag" and len(rag["y_pred"]) == len(rag["y_true"]) == len(rag["questions"]) == 4
    # k=2 passages of up to 24 tokens, cut to a share of the 60-token context so that both fit
    assert all(len(ids) == 2 for ids in rag["seen_doc_ids"]), rag["seen_doc_ids"]
    assert all(len(ids) == len(texts) for ids, texts in zip(rag["seen_doc_ids"], rag["seen_passages"]))
    assert all(g and g[0].startswith("doc-") for g in rag["gold_doc_ids"])
    # the gold set is every version of the question's document (translation_of links in documents.jsonl)
    versions = document_versions(load_demo_corpus().documents)
    assert [versions[g[0]] for g in rag["gold_doc_ids"]] == rag["gold_doc_ids"]
    assert any(len(g) > 1 for g in rag["gold_doc_ids"])
    assert "Question: " in rag["prompt_example"] and rag["prompt_example"].endswith("Answer:")
    assert "[1] " in rag["prompt_example"] and "Answer in Hausa." in rag["prompt_example"]
    closed = json.loads((cells / "closed_book" / "hau_Latn.json").read_text())
    assert closed["seen_doc_ids"] is None and closed["prompt_example"].count("Question: ") == 2  # 1 shot
    assert all(p == extract_answer(r) for p, r in zip(closed["y_pred"], closed["raw"]))
    # ft and ft+rag train different models (closed-book vs retrieval-format prompts), saved as adapters
    models = sorted(p.name for p in (result.run_dir / "models").iterdir())
    assert len(models) == 2 and all((result.run_dir / "models" / m / "adapter").is_dir() for m in models)
    examples = result.results["examples"]
    assert {e["language"] for e in examples} == set(TARGETS)
    assert set(examples[0]["answers"]) == set(config.setups) and set(examples[0]["gold_retrieved"]) == {"rag", "ft+rag"}
    assert result.reports["markdown"].is_file() and result.reports["html"].is_file()


def test_qa_results_fit_the_typed_model_and_the_report_reads_the_runners_fields(qa_run):
    from polyglot_transfer.evaluation.report import plain_summary
    from polyglot_transfer.evaluation.report_templates import md_escape
    from polyglot_transfer.evaluation.results_model import load_results

    _, config, result = qa_run
    res = result.results
    model = load_results(result.run_dir)  # schema 2, unknown keys refused: everything the builder wrote is declared
    assert model.task.type == "generative_qa" and len(model.examples) == len(res["examples"]) > 0
    # no chance level for free-text answers: absent, not false or empty
    assert all("chance" not in lang for lang in res["languages"])
    assert all("failed" not in r for r in res["records"])
    # the supported-answer share is scored on each setup's own passages: no paired test, no leader test
    assert "answer_supported" not in {t["metric"] for t in res["leader_tests"]}
    assert {t["metric"] for t in res["leader_tests"]} >= {"token_f1"}
    assert res["recommendation"]["metric"] == "token_f1"
    assert set(res["recommendation"]["means"]) == set(config.setups)
    sentences = plain_summary(res)
    assert sentences[0].startswith("No chance level is defined for generative QA (free-text answers)")
    assert sentences[-1].startswith("Recommendation")
    # the QA section shows the runner's gold_passage_recall records next to token F1, and the real answers
    md = result.reports["markdown"].read_text()
    recall = next(r for r in res["records"] if (r["setup"], r["language"], r["metric"])
                  == ("rag", "hau_Latn", "gold_passage_recall"))
    assert "## Retrieval and answer quality" in md and "## Chance levels" not in md
    f1 = next(r for r in res["records"] if (r["setup"], r["language"], r["metric"]) == ("rag", "hau_Latn", "token_f1"))
    cell = lambda r: f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"  # noqa: E731
    assert f"| Hausa | rag | {cell(f1)} | {cell(recall)} |" in md
    assert "| Hausa | closed_book |" in md and "— (no retrieval) |" in md
    first = res["examples"][0]
    assert "## Example answers" in md and f"| {md_escape(first['question'])} |" in md


def test_a_damaged_qa_cell_is_recomputed(qa_run, caplog):
    from polyglot_transfer.evaluation.compare import run_compare

    _, config, first = qa_run
    cell = first.run_dir / "cells" / "seed0" / "eng_Latn" / "rag" / "eng_Latn.json"
    good = json.loads(cell.read_text())
    cell.write_text(cell.read_text()[: 40])  # truncated
    again = run_compare(config, progress=False)
    assert "it will be recomputed" in caplog.text
    assert json.loads(cell.read_text())["y_pred"] == good["y_pred"]
    assert again.results["records"] == first.results["records"]


def test_resume_skips_finished_cells_and_reuses_the_fine_tuned_models(qa_run):
    from polyglot_transfer.evaluation.compare import run_compare

    folder, config, first = qa_run
    cells = sorted((first.run_dir / "cells").rglob("*.json"))
    assert len(cells) == 4 * len(TARGETS)
    redo = first.run_dir / "cells" / "seed0" / "eng_Latn" / "ft+rag" / "swh_Latn.json"
    old = json.loads(redo.read_text())
    redo.unlink()
    before = {p: p.stat().st_mtime_ns for p in cells if p != redo}
    models = {p: p.stat().st_mtime_ns for p in (first.run_dir / "models").rglob("*.safetensors")}
    again = run_compare(config, progress=False)
    assert {p: p.stat().st_mtime_ns for p in cells if p != redo} == before  # finished cells were skipped
    assert {p: p.stat().st_mtime_ns for p in (first.run_dir / "models").rglob("*.safetensors")} == models
    new = json.loads(redo.read_text())
    assert new["y_pred"] == old["y_pred"] and new["seen_doc_ids"] == old["seen_doc_ids"]  # reloaded adapter
    assert again.results["records"] == first.results["records"]


# -- validation at `pgt validate` time --------------------------------------------------------------------------


def test_setups_the_qa_task_does_not_allow_are_validate_errors(tiny_decoder, tiny_encoder, tmp_path):
    raw = qa_config(tmp_path, tiny_decoder, tiny_encoder)
    raw["setups"]["head"] = {"adapt": {"strategy": "head"}}
    raw["setups"]["knn"] = {"retrieval": {"k": 4, "temperature": 0.1}}
    raw["setups"]["own_prompt"] = {"adapt": {"strategy": "generation", "template": "Q: {question}"}}
    _, problems = build_config(raw, source="c.yaml")
    text = "\n".join(problems)
    assert "c.yaml: setups.head.adapt.strategy: 'head' does not fit task 'agri_advice_qa' (generative_qa)" in text
    assert "Strategies for it: generation." in text
    assert "setups.knn.retrieval: temperature belong to the kNN vote of classification tasks" in text
    assert "setups.own_prompt.adapt: template cannot be set in a QA setup" in text
    assert len(problems) == 4, problems  # the knn block: the unknown key, then what the QA block allows


def test_a_decoder_setup_on_an_encoder_model_is_a_validate_error(tiny_decoder, tiny_encoder, tmp_path):
    raw = qa_config(tmp_path, tiny_decoder, tiny_encoder, model=str(tiny_encoder))
    _, problems = build_config(raw, source="c.yaml")
    assert any(p.startswith(f"c.yaml: model '{tiny_encoder}' is an encoder; task 'agri_advice_qa' (generative_qa) "
                            "generates answers") for p in problems), problems
    raw = qa_config(tmp_path, tiny_decoder, tiny_encoder, model="intfloat/multilingual-e5-small")
    _, problems = build_config(raw, source="c.yaml")
    assert any("needs a decoder" in p or "setups need a decoder" in p for p in problems), problems


def test_qa_rows_without_an_answer_are_a_validate_error_naming_file_and_line(tiny_decoder, tiny_encoder, tmp_path):
    corpus = tmp_path / "agri"
    shutil.copytree(REPO / "corpora" / "agri_advice", corpus)
    lines = (corpus / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[2])
    row["answer"] = "  "
    lines[2] = json.dumps(row, ensure_ascii=False)
    (corpus / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw = qa_config(tmp_path, tiny_decoder, tiny_encoder, task={"corpus": "agri_advice_qa", "corpus_root": str(corpus)})
    _, problems = build_config(raw, source="c.yaml")
    assert len(problems) == 1 and "qa.jsonl:3: 'answer' is '  '; expected a non-empty string" in problems[0], problems


def test_generate_blocks_belong_to_qa_tasks_only(tiny_encoder, tmp_path):
    raw = {"name": "c", "task": {"corpus": "agri_advice"}, "model": str(tiny_encoder), "target_languages": ["swh_Latn"],
           "setups": {"head": {"adapt": {"strategy": "head"}, "generate": {"shots": 2}}}}
    _, problems = build_config(raw, source="c.yaml")
    assert problems == ["c.yaml: setups.head.generate: only generative_qa tasks take `generate` (prompt and decoding); "
                        "task 'agri_advice' is not one. Remove it."]


def test_shipped_demo_qa_config_validates():
    from polyglot_transfer.evaluation.validate import validate_config
    from polyglot_transfer.models.provision import is_provisioned

    problems = validate_config(REPO / "eval" / "configs" / "demo_qa.yaml")
    if not is_provisioned("google/gemma-3-270m"):
        problems = [p for p in problems if "gemma" not in p]
    assert problems == []
    config = load_config(REPO / "eval" / "configs" / "demo_qa.yaml")
    assert [qa_kind(s) for s in config.setups.values()] == ["closed_book", "ft", "rag", "ft+rag"]
    assert len(config.target_languages) >= 5


# -- prompt and answer rule ------------------------------------------------------------------------------------


def test_the_answer_rule_drops_the_leading_newline_and_stops_at_the_line_end():
    assert extract_answer("\ntwice a week\nQuestion: How often ...") == "twice a week"
    assert extract_answer("  \n\n \"sau biyu a mako\"  \nmore") == "sau biyu a mako"
    assert extract_answer(" 75 cm Question: next") == "75 cm"
    assert extract_answer("\n\n") == ""
    # a copied passage marker of the rag prompt is not part of the answer; a number in the answer is
    assert extract_answer("\n[1] about 50,000 litres\n[2] ...") == "about 50,000 litres"
    assert extract_answer("[2][3] every three months") == "every three months"
    assert extract_answer("[12 weeks]") == "[12 weeks]"


def test_the_prompt_has_the_target_instruction_passages_demonstrations_and_ends_in_answer():
    prompt = build_prompt("Sau nawa?", "hau_Latn", passages=["[1] Scout twice a week."],
                          demos=[("How often?", "eng_Latn", "twice a week")])
    assert prompt.startswith("Amsa tambayar ta amfani da bayanan")  # the Hausa instruction
    assert "[1] Scout twice a week.\n\nQuestion: How often?\nAnswer in English.\nAnswer: twice a week\n\n" in prompt
    assert prompt.endswith("Question: Sau nawa?\nAnswer in Hausa.\nAnswer:")
    assert build_prompt("Q?", "eng_Latn", hint=False) == "Question: Q?\nAnswer:"


def test_line_end_stopping_ends_each_row_after_its_first_line(tiny_decoder):
    from polyglot_transfer.retrieval.generators import LocalGenerator

    free = LocalGenerator(tiny_decoder, max_new_tokens=12, use_chat_template=False)
    stopped = LocalGenerator(tiny_decoder, max_new_tokens=12, use_chat_template=False, stop_at_line_end=True)
    prompts = ["Question: a?\nAnswer:", "Question: a much longer question here?\nAnswer:"]
    for full, cut in zip(free.generate(prompts), stopped.generate(prompts)):
        assert full.startswith(cut)  # greedy: the same text, cut after its first complete line
        assert "\n" not in cut.strip() or cut.strip().count("\n") <= 1


# -- conformance of the generative_qa task type -------------------------------------------------------------------


def _qa_tasks() -> list[str]:
    return [name for name, t in TASKS.items() if t.type == "generative_qa"]


def test_the_qa_task_type_declares_registered_metrics_that_read_qa_cells():
    from polyglot_transfer.measure.metrics import METRICS

    kind = TASK_TYPES.get("generative_qa")
    assert kind.primary_metric == "token_f1" and set(kind.default_metrics) <= set(kind.metrics)
    cell = {"language": "eng_Latn", "y_true": [["twice a week"]], "y_pred": ["twice a week"],
            "seen_doc_ids": [["doc-1"]], "gold_doc_ids": [["doc-1"]], "seen_passages": [["Scout twice a week."]]}
    for name in kind.metrics:
        assert name in METRICS
        metric, y_true, y_pred, _ = qa_view(name, cell)
        assert metric(y_true, y_pred, None) == pytest.approx(1.0), name
    assert "agri_advice_qa" in _qa_tasks() and "afriqa" in _qa_tasks()


@pytest.mark.parametrize("name", ["agri_advice_qa", "afriqa"])
def test_every_qa_task_loads_questions_with_answers_and_gold_passages(name):
    from polyglot_transfer.evaluation.config import CompareConfig, SetupConfig
    from polyglot_transfer.evaluation.qa_runner import answerable, gold_answers

    task = TASKS.get(name)
    source, target = ("eng_Latn", "hau_Latn") if name == "agri_advice_qa" else ("hau_Latn", "swh_Latn")
    if name == "afriqa" and check_task(TaskConfig(corpus=name), [source], [target]):
        pytest.skip("AfriQA is not in the shared corpora folder here")
    config = CompareConfig(name="c", task=TaskConfig(corpus=name, max_test=20), setups={"cb": SetupConfig()},
                           target_languages=[target], sources=[source], metrics=list(task.default_metrics))
    data = load_task_data(config)
    assert data.type == "generative_qa" and data.documents is not None and len(data.documents) > 0
    doc_ids = set(data.documents.ids)
    for ds in (data.trains[source], data.tests[target]):
        kept = answerable(ds)  # what the runner trains on and scores
        assert len(kept) > 0 and all(e.text.strip() and gold_answers(e) for e in kept)
        assert [e.id for e in kept] == [e.id for e in ds if gold_answers(e)]
        if name == "agri_advice_qa":
            assert len(kept) == len(ds)  # every row of a QA file has an answer (load_qa_jsonl refuses others)
    gold = [e.meta.get("doc_id") for e in data.tests[target]]
    by_query = {q for e in data.documents for q in (e.meta or {}).get("query_ids") or []}
    with_gold = [bool(g in doc_ids) if g else e.id in by_query for g, e in zip(gold, data.tests[target])]
    assert sum(with_gold) > 0  # gold passages are among the documents the index is built from
    if name == "agri_advice_qa":  # split by item: no test question is a training question in any language
        train_items = {e.meta["item"] for e in data.trains[source]}
        assert not train_items & {e.meta["item"] for e in data.tests[target]}
        assert all(g in doc_ids for g in gold)


def test_a_qa_task_without_answers_is_refused_when_loading(tmp_path):
    from polyglot_transfer.data.qa import load_qa_jsonl

    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "1", "lang": "hau", "question": "Sau nawa?"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"qa.jsonl:1: missing 'answer'"):
        load_qa_jsonl(path)
