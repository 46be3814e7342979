"""The real google/gemma-3-270m inside the QA grid: `pgt compare` with closed_book and rag on a handful of
agri_advice questions in English, Swahili and Hausa (the real multilingual-e5-small retrieves from a FAISS
index of the documents). One compare run, 1 torch thread; skipped when either model is not provisioned."""

from __future__ import annotations

import json

import pytest
import yaml

from polyglot_transfer.data.corpora import load_demo_corpus
from polyglot_transfer.evaluation.compare import run_compare
from polyglot_transfer.evaluation.config import load_config
from polyglot_transfer.evaluation.qa_runner import document_versions
from polyglot_transfer.evaluation.qa_setups import extract_answer
from polyglot_transfer.models.provision import is_provisioned

pytestmark = pytest.mark.integration

GEMMA, E5 = "google/gemma-3-270m", "intfloat/multilingual-e5-small"
TARGETS = ["eng_Latn", "swh_Latn", "hau_Latn"]
N_QUESTIONS = 3


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory):
    import torch

    missing = [m for m in (GEMMA, E5) if not is_provisioned(m)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not provisioned: run `pgt models pull {' '.join(missing)}` "
                    "(gemma-3-270m: about a minute, 250 MB download).")
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("gemma-qa")
    gen = {"max_new_tokens": 8, "batch_size": 4}
    config = {
        "name": "gemma-qa-integration",
        "task": {"corpus": "agri_advice_qa", "max_test": N_QUESTIONS},
        "model": GEMMA,
        "sources": ["eng_Latn"],
        "target_languages": TARGETS,
        "setups": {
            "closed_book": {"generate": {**gen, "shots": 1}},
            "rag": {"retrieval": {"embedder": E5, "k": 2, "passage_tokens": 64, "max_context_tokens": 140},
                    "generate": gen},
        },
        "baseline": "closed_book",
        "bootstrap": {"n_resamples": 200},
        "output_dir": str(folder / "run"),
        "threads": 1,
        "diagnostics": False,
    }
    (folder / "qa.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run_compare(load_config(folder / "qa.yaml"), progress=False)


def test_gemma_answers_every_question_of_both_setups_with_records_per_language(gemma_run):
    res = gemma_run.results
    assert res["task"]["type"] == "generative_qa"
    for setup in ("closed_book", "rag"):
        for lang in TARGETS:
            cell = json.loads((gemma_run.run_dir / "cells" / "seed0" / "eng_Latn" / setup / f"{lang}.json").read_text())
            assert len(cell["y_pred"]) == len(cell["raw"]) == N_QUESTIONS
            assert [extract_answer(r) for r in cell["raw"]] == cell["y_pred"]
            assert all("\n" not in p for p in cell["y_pred"])  # the answer rule keeps one line
            for metric in ("token_f1", "chrf_pp", "exact_match", "answer_language"):
                rec = [r for r in res["records"] if (r["setup"], r["language"], r["metric"]) == (setup, lang, metric)]
                assert len(rec) == 1 and rec[0]["ci_low"] <= rec[0]["value"] <= rec[0]["ci_high"], (setup, lang, metric)
    assert {c["setup"] for c in res["comparisons"]} == {"rag"}


def test_rag_retrieves_gold_versions_and_the_prompt_carries_the_passages(gemma_run):
    versions = document_versions(load_demo_corpus().documents)
    cells = gemma_run.run_dir / "cells" / "seed0" / "eng_Latn" / "rag"
    recall = {}
    for lang in TARGETS:
        cell = json.loads((cells / f"{lang}.json").read_text())
        assert all(versions[g[0]] == g for g in cell["gold_doc_ids"])
        assert all(1 <= len(ids) <= 2 for ids in cell["seen_doc_ids"])
        assert cell["prompt_example"].count("[1] ") == 1 and cell["prompt_example"].endswith("Answer:")
        recall[lang] = next(r["value"] for r in gemma_run.results["records"]
                            if (r["setup"], r["language"], r["metric"]) == ("rag", lang, "gold_passage_recall"))
    # e5-small finds the English document of an English question; the Swahili questions have Swahili versions
    assert recall["eng_Latn"] > 0 and recall["swh_Latn"] > 0, recall
