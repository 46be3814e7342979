"""`pgt index build|add|delete|search|info` on a tiny model, as a user runs them."""

from __future__ import annotations

import json

from polyglot_transfer.cli.main import main
from tests.conftest import REPO

DOCS = REPO / "corpora" / "agri_advice" / "documents.jsonl"


def test_index_lifecycle(tiny_encoder, tmp_path, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 0
    assert "48 entries from 48 documents" in capsys.readouterr().out
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 2
    assert "already exists" in capsys.readouterr().err

    extra = tmp_path / "extra.csv"
    extra.write_text("id,body\nx1,Mvua itanyesha kesho asubuhi\nx2,Bei ya mahindi imepanda sokoni\n", encoding="utf-8")
    assert main(["index", "add", str(folder), "--from", str(extra), "--columns", "text=body", "--lang", "swh"]) == 0
    info_out = capsys.readouterr().out
    assert "added 2 entries" in info_out

    assert main(["index", "search", str(folder), "Bei ya mahindi imepanda sokoni", "-k", "3", "--json",
                 "--where", "lang=swh_Latn"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["lang"] == "swh_Latn" for h in hits)
    assert hits[0]["source_id"] == "x2"  # the exact text is its own nearest neighbour

    assert main(["index", "delete", str(folder), "--ids", str(hits[0]["doc_id"])]) == 0
    capsys.readouterr()
    assert main(["index", "info", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 49


def test_index_errors(tmp_path, capsys):
    assert main(["index", "info", str(tmp_path)]) == 3
    assert "not an index folder" in capsys.readouterr().err
    assert main(["index", "search", str(tmp_path), "q", "--where", "lang"]) == 2
    assert "--where expects KEY=VALUE" in capsys.readouterr().err


def _judged(path, docs, langs=("eng_Latn",)):
    rows = []
    for i, d in enumerate(docs):
        rows.append({"id": f"q{i}", "text": d["title"], "lang": langs[i % len(langs)], "relevant": [d["id"]]})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_index_evaluate_scores_modes_by_language_and_tunes_the_fusion(tiny_encoder, tmp_path, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 0
    docs = [json.loads(line) for line in DOCS.read_text(encoding="utf-8").splitlines()]
    queries = _judged(tmp_path / "q.jsonl", docs[:24], langs=("eng_Latn", "fra_Latn"))
    dev = _judged(tmp_path / "dev.jsonl", docs[24:])
    out = tmp_path / "res.json"
    assert main(["index", "evaluate", str(folder), "--queries", str(queries), "--tune-on", str(dev),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "nDCG@10 vs dense" in printed and "tuned: mode=" in printed and "fra_Latn" in printed
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"dense", "bm25", "hybrid_rrf", "hybrid_norm"}
    # titles share words with their document: BM25 finds them; a random tiny encoder barely does
    bm25, dense = result["modes"]["bm25"]["overall"], result["modes"]["dense"]["overall"]
    assert bm25["recall@5"] > 0.6 and bm25["ndcg@10"] > dense["ndcg@10"]
    cells = {(r["query_lang"], r["doc_lang"]) for r in result["modes"]["bm25"]["breakdown"]}
    pairs = {(("eng_Latn", "fra_Latn")[i % 2], d["lang"]) for i, d in enumerate(docs[:24])}
    assert cells == {(q, "*") for q in ("eng_Latn", "fra_Latn")} | pairs and len(pairs) > 2
    assert len(result["modes"]["dense"]["per_query"]["ndcg@10"]) == 24
    assert result["tuned"]["setting"]["mode"] != "dense"

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "maize", "lang": "eng", "relevant": ["doc-999"]}) + "\n", encoding="utf-8")
    assert main(["index", "evaluate", str(folder), "--queries", str(bad)]) == 3
    assert "not documents of" in capsys.readouterr().err
    bad.write_text(json.dumps({"text": "maize", "lang": "eng"}) + "\n", encoding="utf-8")
    assert main(["index", "evaluate", str(folder), "--queries", str(bad)]) == 3
    assert "no relevant document ids" in capsys.readouterr().err


def test_index_evaluate_takes_relevance_from_labels(tiny_encoder, tmp_path, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 0
    out = tmp_path / "res.json"
    test = REPO / "corpora" / "agri_advice" / "test.jsonl"
    assert main(["index", "evaluate", str(folder), "--queries", str(test), "--relevant-by", "label",
                 "--modes", "bm25", "dense", "--out", str(out)]) == 0
    capsys.readouterr()
    result = json.loads(out.read_text())
    rows = result["modes"]["bm25"]["breakdown"]
    # 7 query languages, each against all documents and against the English, Swahili and Hausa ones
    assert {r["query_lang"] for r in rows} == {"eng_Latn", "fra_Latn", "hin_Deva", "swh_Latn", "hau_Latn",
                                               "yor_Latn", "zul_Latn"}
    assert {r["doc_lang"] for r in rows} == {"*", "eng_Latn", "swh_Latn", "hau_Latn"}
    assert all(r["n_queries"] == 60 for r in rows)
    # 8 documents share each label: recall@1 is at most 1/8
    assert all(r["recall@1"] <= 1 / 8 + 1e-9 for r in rows if r["doc_lang"] == "*")

    assert main(["index", "evaluate", str(folder), "--queries", str(test), "--relevant-by", "crop"]) == 3
    assert "No document of" in capsys.readouterr().err

    # cut-offs as options: recall@10 and MRR@10 as papers report them
    assert main(["index", "evaluate", str(folder), "--queries", str(test), "--relevant-by", "label",
                 "--modes", "bm25", "--at", "3,10", "--json"]) == 0
    overall = json.loads(capsys.readouterr().out)["modes"]["bm25"]["overall"]
    assert {"recall@3", "recall@10", "success@10", "mrr@10", "ndcg@10"} <= set(overall) and "recall@20" not in overall
    assert overall["recall@10"] >= overall["recall@3"] and overall["mrr@10"] == result["modes"]["bm25"]["overall"]["mrr@10"]
    assert main(["index", "evaluate", str(folder), "--queries", str(test), "--relevant-by", "label",
                 "--at", "0,x"]) == 2
    assert "--at expects comma-separated cut-offs >= 1" in capsys.readouterr().err
    for query in ("", "   "):
        assert main(["index", "search", str(folder), query]) == 2
        err = capsys.readouterr().err
        assert "Query 0 is blank" in err and "Traceback" not in err
    assert main(["index", "search", str(folder), "mahindi", "--where", "lang=swa", "--json", "-k", "3"]) == 0
    assert {h["lang"] for h in json.loads(capsys.readouterr().out)} == {"swh_Latn"}
    assert main(["index", "search", str(folder), "mahindi", "--where", "lnag=swa"]) == 2
    assert "Unknown metadata key(s) ['lnag']" in capsys.readouterr().err


def test_index_evaluate_builds_first_in_the_same_process(tiny_encoder, tmp_path, capsys):
    folder = tmp_path / "idx"
    docs = [json.loads(line) for line in DOCS.read_text(encoding="utf-8").splitlines()]
    queries = _judged(tmp_path / "q.jsonl", docs[:12])
    assert main(["index", "evaluate", str(folder), "--build-from", str(DOCS), "--model", str(tiny_encoder),
                 "--queries", str(queries), "--modes", "bm25", "--json"]) == 0
    captured = capsys.readouterr()
    assert "48 entries from 48 documents" in captured.err  # the build's line stays out of the JSON
    assert json.loads(captured.out)["modes"]["bm25"]["overall"]["n_queries"] == 12
    assert main(["index", "info", str(folder)]) == 0 and json.loads(capsys.readouterr().out)["count"] == 48
    # the folder now exists: building again needs --force, and nothing is evaluated before that is said
    assert main(["index", "evaluate", str(folder), "--build-from", str(DOCS), "--model", str(tiny_encoder),
                 "--queries", str(queries)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["index", "evaluate", str(folder), "--build-from", str(DOCS), "--model", str(tiny_encoder),
                 "--queries", str(queries), "--modes", "dense", "--force", "--json"]) == 0
    assert "dense" in json.loads(capsys.readouterr().out)["modes"]
