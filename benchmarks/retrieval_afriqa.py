"""Dense vs BM25 vs hybrid retrieval on AfriQA gold passages, per language.

For each language, the de-duplicated gold passages of the test split (English, or French for Fon) are
indexed (title + passage text); each question is asked twice: in its own language ("native") and as
its human translation into the passage language ("translated"). A question counts as found at k
when one of its gold passages is in the top k. Reported: recall@1/5/20 and MRR@20 for dense (the
default embedder), BM25 (tokenised with the passage language's analyzer), hybrid RRF (k=60) and
hybrid min-max (alpha=0.5).

    python benchmarks/retrieval_afriqa.py --limit 100 --out afriqa_retrieval.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from polyglot_transfer.data.afriqa import load_afriqa_passages, load_afriqa_queries  # noqa: E402
from polyglot_transfer.retrieval.bm25 import BM25Index  # noqa: E402
from polyglot_transfer.retrieval.embedder import Embedder  # noqa: E402
from polyglot_transfer.retrieval.faiss_index import VectorIndex  # noqa: E402
from polyglot_transfer.retrieval.hybrid import MODES, HybridRetriever  # noqa: E402

GOLD_LANGUAGES = ("bem", "fon", "hau", "ibo", "kin", "swa", "twi", "yor", "zul")  # wol has no gold passages
CUTOFFS = (1, 5, 20)
logger = logging.getLogger("retrieval_afriqa")


def evaluate(ranked: list[list[int]], gold: list[set[int]]) -> dict[str, float]:
    out: dict[str, float] = {}
    first = []
    for row, g in zip(ranked, gold):
        rank = next((r for r, d in enumerate(row, start=1) if d in g), None)
        first.append(rank)
    for k in CUTOFFS:
        out[f"recall@{k}"] = float(np.mean([r is not None and r <= k for r in first]))
    out["mrr@20"] = float(np.mean([1.0 / r if r is not None and r <= 20 else 0.0 for r in first]))
    return out


def run_language(root: Path, lang: str, embedder: Embedder, limit: int | None) -> dict[str, dict]:
    passages = load_afriqa_passages(root, lang, "test")
    queries = load_afriqa_queries(root, lang, "test")
    pivot = passages.examples[0].lang
    texts = [f"{p.meta['title']}\n{p.text}" for p in passages.examples]
    index = VectorIndex(embedder.dim, recipe="Flat", embedder_identity=embedder.identity)
    ids = index.add(embedder.encode_passages(texts), texts, [{"passage_id": p.id} for p in passages.examples])
    gold_of: dict[str, set[int]] = {}
    for doc_id, p in zip(ids, passages.examples):
        for qid in p.meta["query_ids"]:
            gold_of.setdefault(qid, set()).add(doc_id)
    evaluated = [q for q in queries.examples if q.id in gold_of and q.meta["translated_question"].strip()]
    if limit:
        evaluated = evaluated[:limit]
    gold = [gold_of[q.id] for q in evaluated]
    bm25 = BM25Index.from_vector_index(index, language=pivot)
    result: dict[str, dict] = {"n_passages": len(texts), "n_queries": len(evaluated), "pivot": pivot, "scores": {}}
    for qtype, qtexts in (("native", [q.text for q in evaluated]),
                          ("translated", [q.meta["translated_question"] for q in evaluated])):
        for mode in MODES:
            retriever = HybridRetriever(index=index, embedder=embedder, bm25=bm25, mode=mode, k=20,
                                        bm25_language=pivot)
            ranked = [[d.metadata["doc_id"] for d in row] for row in retriever.retrieve_batch(qtexts)]
            result["scores"][f"{qtype}/{mode}"] = evaluate(ranked, gold)
    return result


def markdown(results: dict[str, dict]) -> str:
    lines = ["| lang | queries | mode | R@1 | R@5 | R@20 | MRR@20 |", "|---|---|---|---|---|---|---|"]
    keys = list(next(iter(results.values()))["scores"])
    for lang, res in results.items():
        for key in keys:
            s = res["scores"][key]
            lines.append(f"| {lang} | {key.split('/')[0]} | {key.split('/')[1]} | {s['recall@1']:.3f} | "
                         f"{s['recall@5']:.3f} | {s['recall@20']:.3f} | {s['mrr@20']:.3f} |")
    for key in keys:
        mean = {m: float(np.mean([r["scores"][key][m] for r in results.values()])) for m in
                ("recall@1", "recall@5", "recall@20", "mrr@20")}
        lines.append(f"| **mean** | {key.split('/')[0]} | {key.split('/')[1]} | {mean['recall@1']:.3f} | "
                     f"{mean['recall@5']:.3f} | {mean['recall@20']:.3f} | {mean['mrr@20']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "afriqa"))
    parser.add_argument("--languages", nargs="*", default=list(GOLD_LANGUAGES))
    parser.add_argument("--limit", type=int, default=None, help="questions per language (default: all)")
    parser.add_argument("--model", default="intfloat/multilingual-e5-small")
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder (default: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    import torch

    torch.set_num_threads(args.threads)
    embedder = Embedder(args.model, cache_dir=args.cache_dir)
    results: dict[str, dict] = {}
    started = time.time()
    for lang in args.languages:
        t0 = time.time()
        results[lang] = run_language(Path(args.root), lang, embedder, args.limit)
        logger.info("%s: %d passages, %d questions in %.0fs", lang, results[lang]["n_passages"],
                    results[lang]["n_queries"], time.time() - t0)
    table = markdown(results)
    print(table)
    payload = {"model": embedder.identity, "limit": args.limit, "seconds": round(time.time() - started, 1),
               "languages": results}
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
