"""Dense vs BM25 vs hybrid retrieval on AfriQA gold passages, per language, native vs translated questions.

For each language, the de-duplicated gold passages of a split (English, or French for Fon) are indexed
(title + passage text); each question is asked twice: in its own language ("native") and as its human
translation into the passage language ("translated"). Scored with `polyglot_transfer.retrieval.evaluate`:
recall@1/5/20, MRR@20 and nDCG@10, per (query language, document language).

Modes: dense (the default embedder), BM25 (the passage language's analyzer), hybrid RRF (k=60), hybrid
min-max (alpha=0.5), and "hybrid_tuned": the setting `fusion_grid` picks on the dev split's questions of
the same kind (native or translated, pooled over the languages that have a dev split), applied to the
test split. Differences are tested with a paired bootstrap over all test questions of a kind.

    python benchmarks/retrieval_afriqa.py --limit 100 --out retrieval_afriqa.json --cache-dir /tmp/emb
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
from polyglot_transfer.errors import DataError  # noqa: E402
from polyglot_transfer.retrieval.embedder import Embedder  # noqa: E402
from polyglot_transfer.retrieval.evaluate import compare_systems, per_query_scores  # noqa: E402
from polyglot_transfer.retrieval.faiss_index import VectorIndex  # noqa: E402
from polyglot_transfer.retrieval.hybrid import HybridRetriever, fuse_candidates, fusion_grid  # noqa: E402

GOLD_LANGUAGES = ("bem", "fon", "hau", "ibo", "kin", "swa", "twi", "yor", "zul")  # wol has no gold passages
KINDS = ("native", "translated")
FIXED = {"dense": {"mode": "dense"}, "bm25": {"mode": "bm25"}, "hybrid_rrf": {"mode": "hybrid_rrf", "rrf_k": 60},
         "hybrid_norm": {"mode": "hybrid_norm", "alpha": 0.5}}
METRICS = ("recall@1", "recall@5", "recall@20", "mrr@20", "ndcg@10")
DEPTH = 80  # what HybridRetriever fuses over for k=20
logger = logging.getLogger("retrieval_afriqa")


def candidates(root: Path, lang: str, split: str, embedder: Embedder, limit: int | None) -> dict:
    """Dense and BM25 candidates of every evaluated question of (lang, split), both kinds."""
    passages = load_afriqa_passages(root, lang, split)
    queries = load_afriqa_queries(root, lang, split)
    doc_lang = passages.examples[0].lang
    texts = [f"{p.meta['title']}\n{p.text}" for p in passages.examples]
    index = VectorIndex(embedder.dim, recipe="Flat", embedder_identity=embedder.identity)
    ids = index.add(embedder.encode_passages(texts), texts, [{"lang": doc_lang} for _ in texts])
    gold_of: dict[str, set[int]] = {}
    for doc_id, p in zip(ids, passages.examples):
        for qid in p.meta["query_ids"]:
            gold_of.setdefault(qid, set()).add(doc_id)
    evaluated = [q for q in queries.examples if q.id in gold_of and q.meta["translated_question"].strip()]
    evaluated = evaluated[:limit] if limit else evaluated
    retriever = HybridRetriever(index=index, embedder=embedder, k=20, bm25_language=doc_lang)
    out = {"n_passages": len(texts), "n_queries": len(evaluated), "doc_lang": doc_lang, "kinds": {}}
    for kind in KINDS:
        qtexts = [q.text if kind == "native" else q.meta["translated_question"] for q in evaluated]
        out["kinds"][kind] = {
            "query_lang": evaluated[0].lang if kind == "native" else doc_lang,
            "candidates": retriever.candidates(qtexts, depth=DEPTH, both=True),
            "relevant": [gold_of[q.id] for q in evaluated],
        }
    return out


def score(run: dict, setting: dict) -> dict[str, np.ndarray]:
    ranked = [[d for d, _ in fuse_candidates(dense, sparse, **setting)] for dense, sparse in run["candidates"]]
    return per_query_scores(ranked, run["relevant"])


def tune(dev: dict[str, dict]) -> dict[str, dict]:
    """Per kind, the setting with the best nDCG@10 on all dev questions of that kind (pooled over languages)."""
    chosen = {}
    for kind in KINDS:
        pairs = [p for res in dev.values() for p in res["kinds"][kind]["candidates"]]
        relevant = [r for res in dev.values() for r in res["kinds"][kind]["relevant"]]
        grid = fusion_grid(pairs, relevant, metric="ndcg@10")
        chosen[kind] = {"setting": grid[0][0], "dev_ndcg@10": grid[0][1]["ndcg@10"], "n_dev_queries": len(pairs),
                        "grid": [{**s, "ndcg@10": m["ndcg@10"], "recall@1": m["recall@1"]} for s, m in grid]}
    return chosen


def _row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(results: dict, modes: list[str]) -> str:
    langs = list(results["languages"])
    lines = ["### Per language (query language -> document language)", "",
             _row(["lang", "query -> docs", "mode", "R@1", "R@5", "R@20", "MRR@20", "nDCG@10"]), _row(["---"] * 8)]
    for lang in langs:
        res = results["languages"][lang]
        for kind in KINDS:
            k = res["kinds"][kind]
            for mode in modes:
                m = k["scores"][mode]
                lines.append(_row([lang, f"{k['query_lang']} -> {res['doc_lang']}", mode,
                                   *(f"{m[x]:.3f}" for x in METRICS)]))
    lines += ["", f"### Mean over {len(langs)} languages", "",
              _row(["questions", "mode", "R@1", "R@5", "R@20", "MRR@20", "nDCG@10"]), _row(["---"] * 7)]
    for kind in KINDS:
        means = results["means"][kind]
        best = {x: max(means[m][x] for m in modes) for x in METRICS}
        for mode in modes:
            lines.append(_row([kind, mode, *(f"**{means[mode][x]:.3f}**" if means[mode][x] == best[x]
                                             else f"{means[mode][x]:.3f}" for x in METRICS)]))
    lines += ["", "### Hybrid against the better single retriever (all test questions of a kind, paired bootstrap)",
              "", _row(["questions", "hybrid", "metric", "vs dense", "p", "vs bm25", "p"]), _row(["---"] * 7)]
    for kind in KINDS:
        for mode, tests in results["significance"][kind].items():
            for metric, t in tests.items():
                lines.append(_row([kind, mode, metric, f"{t['dense']['delta']:+.3f}", f"{t['dense']['p_value']:.3f}",
                                   f"{t['bm25']['delta']:+.3f}", f"{t['bm25']['p_value']:.3f}"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "afriqa"))
    parser.add_argument("--languages", nargs="*", default=list(GOLD_LANGUAGES))
    parser.add_argument("--limit", type=int, default=None, help="questions per language and split (default: all)")
    parser.add_argument("--tune-split", default="dev", help="split to choose hybrid_tuned on ('' to skip)")
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
    started = time.time()
    root = Path(args.root)
    test = {}
    for lang in args.languages:
        t0 = time.time()
        test[lang] = candidates(root, lang, "test", embedder, args.limit)
        logger.info("test %s: %d passages, %d questions in %.0fs", lang, test[lang]["n_passages"],
                    test[lang]["n_queries"], time.time() - t0)
    modes = list(FIXED)
    settings = {kind: dict(FIXED) for kind in KINDS}
    tuned = None
    if args.tune_split:
        dev = {}
        for lang in args.languages:
            try:
                dev[lang] = candidates(root, lang, args.tune_split, embedder, args.limit)
            except DataError as exc:  # swa and yor have no dev gold passages
                logger.info("no %s split for %s (%s)", args.tune_split, lang, str(exc).split(" (")[0])
        tuned = tune(dev)
        tuned["languages"] = sorted(dev)
        modes.append("hybrid_tuned")
        for kind in KINDS:
            settings[kind]["hybrid_tuned"] = tuned[kind]["setting"]
            logger.info("tuned on %s (%s): %s", args.tune_split, kind, tuned[kind]["setting"])
    results: dict = {"model": embedder.identity, "limit": args.limit, "tuning": tuned, "languages": {},
                     "means": {}, "significance": {}}
    pooled: dict = {kind: {mode: {} for mode in modes} for kind in KINDS}
    for lang, res in test.items():
        entry = {"n_passages": res["n_passages"], "n_queries": res["n_queries"], "doc_lang": res["doc_lang"],
                 "kinds": {}}
        for kind in KINDS:
            run = res["kinds"][kind]
            per_mode = {}
            for mode in modes:
                scores = score(run, settings[kind][mode])
                per_mode[mode] = {m: float(scores[m].mean()) for m in METRICS}
                for m in METRICS:
                    pooled[kind][mode].setdefault(m, []).extend(scores[m].tolist())
            entry["kinds"][kind] = {"query_lang": run["query_lang"], "scores": per_mode}
        results["languages"][lang] = entry
    for kind in KINDS:
        results["means"][kind] = {mode: {m: float(np.mean([r["kinds"][kind]["scores"][mode][m]
                                                           for r in results["languages"].values()]))
                                         for m in METRICS} for mode in modes}
        results["significance"][kind] = {
            mode: {m: {base: compare_systems(pooled[kind][mode][m], pooled[kind][base][m]) for base in ("dense", "bm25")}
                   for m in ("recall@1", "recall@5", "ndcg@10")}
            for mode in modes if mode.startswith("hybrid")}
    results["seconds"] = round(time.time() - started, 1)
    table = markdown(results, modes)
    print(table)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
