"""The real google/gemma-3-270m (a base decoder) answering a handful of agri_advice questions.

Batched greedy generation with left padding and the KV cache must give exactly the answers of one
prompt at a time, and a base model given the gold passage copies from it, so some answers are
supported by that passage. Skipped when the model is not provisioned (`pgt models pull google/gemma-3-270m`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.data.qa import load_qa_jsonl
from polyglot_transfer.measure.qa import score_qa
from polyglot_transfer.models.provision import is_provisioned

pytestmark = pytest.mark.integration

GEMMA = "google/gemma-3-270m"
CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "agri_advice"


@pytest.fixture(scope="module")
def generator():
    import torch

    from polyglot_transfer.retrieval.generators import LocalGenerator

    if not is_provisioned(GEMMA):
        pytest.skip(f"{GEMMA} is not provisioned: run `pgt models pull {GEMMA}` (about a minute, 250 MB download).")
    torch.set_num_threads(1)
    return LocalGenerator(GEMMA, max_new_tokens=8, batch_size=4)


def test_gemma_batched_generation_matches_one_by_one(generator):
    docs = {row["id"]: row for row in map(json.loads, (CORPUS / "documents.jsonl").read_text("utf-8").splitlines())}
    qa = load_qa_jsonl(CORPUS / "qa.jsonl", doc_ids=docs)
    picked = [ex for ex in qa if ex.meta["item"] in ("qa-001", "qa-002")
              and ex.lang in ("eng_Latn", "hin_Deva")]
    assert len(picked) == 4
    passages = [docs[ex.meta["doc_id"]]["text"] for ex in picked]
    prompts = [f"{p}\n\nQuestion: {ex.text}\nAnswer:" for p, ex in zip(passages, picked)]

    assert generator.format_prompt(prompts[0]) == prompts[0]  # a base model: no chat template
    enc = generator._encode(prompts)
    assert generator.tokenizer.padding_side == "left"
    assert (enc["attention_mask"][:, 0] == 0).any(), "prompts of different lengths must be left-padded"
    assert generator.model.generation_config.use_cache is True

    batched = generator.generate(prompts)  # one batch of 4, greedy, KV cache
    generator.batch_size = 1
    try:
        single = generator.generate(prompts)
    finally:
        generator.batch_size = 4
    assert batched == single
    assert all(isinstance(a, str) and a for a in batched)

    for lang in ("eng_Latn", "hin_Deva"):
        rows = [i for i, ex in enumerate(picked) if ex.lang == lang]
        scores = score_qa([picked[i].meta["answers"] for i in rows], [batched[i] for i in rows], lang,
                          seen_doc_ids=[[picked[i].meta["doc_id"]] for i in rows],
                          gold_doc_ids=[picked[i].meta["doc_id"] for i in rows],
                          seen_passages=[[passages[i]] for i in rows])
        assert scores.values["gold_passage_recall"] == 1.0
        assert all(0.0 <= v <= 1.0 for v in scores.values.values())
        assert np.isfinite(scores.chrf_pp_stats).all()
    # Given the gold passage, the base model continues or copies it: some answers are supported by it.
    supported = score_qa([ex.meta["answers"] for ex in picked], batched, "eng_Latn",
                         seen_passages=[[p] for p in passages]).values["answer_supported"]
    assert supported > 0
