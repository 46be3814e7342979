"""AfriQA through the CLI a user runs, on the real default embedder: build an index of gold passages,
then `pgt index evaluate` with Yoruba questions and their English translations."""

from __future__ import annotations

import json

import pytest

from polyglot_transfer.cli.main import main
from tests.conftest import SHARED_CORPORA

AFRIQA = SHARED_CORPORA / "afriqa"
N_QUESTIONS = 40

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not AFRIQA.is_dir(), reason="AfriQA is not in shared/corpora")]


def test_native_vs_translated_questions_on_yoruba(e5_path, tmp_path, capsys):
    import torch

    from polyglot_transfer.data.afriqa import load_afriqa_passages, load_afriqa_queries

    torch.set_num_threads(1)
    passages = load_afriqa_passages(AFRIQA, "yor", "test")
    docs = tmp_path / "passages.jsonl"
    docs.write_text("".join(json.dumps({"id": p.id, "text": f"{p.meta['title']}\n{p.text}", "lang": p.lang}) + "\n"
                            for p in passages), encoding="utf-8")
    gold: dict[str, list[str]] = {}
    for p in passages:
        for qid in p.meta["query_ids"]:
            gold.setdefault(qid, []).append(p.id)
    questions = [q for q in load_afriqa_queries(AFRIQA, "yor", "test") if q.id in gold][:N_QUESTIONS]
    judged = tmp_path / "questions.jsonl"
    judged.write_text("".join(
        json.dumps({"id": f"{q.id}-{kind}", "text": text, "lang": lang, "relevant": gold[q.id]}) + "\n"
        for q in questions
        for kind, text, lang in (("native", q.text, q.lang),
                                 ("translated", q.meta["translated_question"], q.meta["pivot_lang"]))),
        encoding="utf-8")

    folder, out = tmp_path / "idx", tmp_path / "eval.json"
    assert main(["index", "build", str(folder), "--from", str(docs), "--model", str(e5_path),
                 "--chunk-chars", "0"]) == 0
    assert main(["index", "evaluate", str(folder), "--queries", str(judged), "--out", str(out)]) == 0
    assert "yor_Latn" in capsys.readouterr().out
    result = json.loads(out.read_text())

    def cell(mode: str, query_lang: str) -> dict:
        rows = result["modes"][mode]["breakdown"]
        return next(r for r in rows if r["query_lang"] == query_lang and r["doc_lang"] == "eng_Latn")

    native, translated = cell("dense", "yor_Latn"), cell("dense", "eng_Latn")
    assert native["n_queries"] == translated["n_queries"] == N_QUESTIONS
    # e5 finds most gold passages from Yoruba questions, and does better still from their English translation
    assert native["recall@20"] > 0.7, native
    assert translated["recall@1"] > native["recall@1"] + 0.1, (native, translated)
    # lexical matching alone is weaker across languages than fused with dense retrieval
    assert cell("hybrid_norm", "yor_Latn")["ndcg@10"] > cell("bm25", "yor_Latn")["ndcg@10"]
