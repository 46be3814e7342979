"""Approximate FAISS recipes against exact search on real e5 embeddings, and against raw FAISS.

Vectors: every AfriQA gold passage (all languages and splits, de-duplicated, "passage: " prompt).
Queries: the test questions in their own language ("query: " prompt). For each recipe, recall@10 of
the approximate top 10 against the exact (Flat) top 10, build time and search time per query, through
`polyglot_transfer.retrieval.recipe_check.recall_against_exact` and through raw `faiss.index_factory`
in the same run (same vectors, same parameters), with the ratio of the two search times (best of 3
after a warm-up, both sides). Rows an IVF probe leaves short of 10 results are searched again wider by
polyglot-transfer (so k results always come back), not by raw FAISS.

    python benchmarks/recipes_afriqa.py --out recipes_afriqa.json --cache-dir /tmp/emb
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
from polyglot_transfer.retrieval.recipe_check import recall_against_exact  # noqa: E402

LANGUAGES = ("bem", "fon", "hau", "ibo", "kin", "swa", "twi", "wol", "yor", "zul")
RECIPES = [("HNSW32", {"ef_search": 16}), ("HNSW32", {"ef_search": 64}), ("HNSW32", {"ef_search": 256}),
           ("IVF64,Flat", {"nprobe": 1}), ("IVF64,Flat", {"nprobe": 8}), ("IVF64,Flat", {"nprobe": 32}),
           ("IVF64,SQ8", {"nprobe": 8}), ("IVF64,SQ8", {"nprobe": 64}),
           ("IVF64,PQ64x8", {"nprobe": 8}), ("IVF64,PQ64x8", {"nprobe": 64})]
logger = logging.getLogger("recipes_afriqa")


def raw_faiss(vectors: np.ndarray, queries: np.ndarray, recipe: str, params: dict, k: int) -> dict:
    """The same recipe built and searched with plain faiss (inner product on normalised vectors)."""
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, k)
    t0 = time.perf_counter()
    index = faiss.index_factory(vectors.shape[1], recipe, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    build_s = time.perf_counter() - t0
    space = faiss.ParameterSpace()
    if "nprobe" in params:
        space.set_index_parameter(index, "nprobe", params["nprobe"])
    if "ef_search" in params:
        space.set_index_parameter(index, "efSearch", params["ef_search"])
    index.search(queries[:1], k)  # warm-up, as recall_against_exact does
    search_ms = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        _, found = index.search(queries, k)
        search_ms = min(search_ms, 1000 * (time.perf_counter() - t0) / len(queries))
    recall = float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found)]))
    return {"recall@10": recall, "build_s": build_s, "search_ms_per_query": search_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "afriqa"))
    parser.add_argument("--model", default="intfloat/multilingual-e5-small")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    embedder = Embedder(args.model, cache_dir=args.cache_dir)
    passages: dict[str, str] = {}
    questions: list[str] = []
    for lang in LANGUAGES:
        for split in ("train", "dev", "test"):
            try:
                for p in load_afriqa_passages(args.root, lang, split):
                    passages.setdefault(f"{p.meta['title']}\n{p.text}", p.id)
            except DataError:
                pass
        questions += [q.text for q in load_afriqa_queries(args.root, lang, "test")][:100]
    texts = list(passages)
    logger.info("embedding %d passages and %d questions", len(texts), len(questions))
    t0 = time.time()
    vectors = embedder.encode_passages(texts)
    queries = embedder.encode_queries(questions)
    logger.info("embedded in %.0fs", time.time() - t0)
    ours = recall_against_exact(vectors, queries, RECIPES, k=10)
    rows = []
    for row, (recipe, params) in zip(ours, RECIPES):
        raw = raw_faiss(vectors, queries, recipe, params, 10)
        rows.append({**row, "raw_faiss": raw, "search_time_ratio": row["search_ms_per_query"] / raw["search_ms_per_query"]})
    lines = [f"{len(texts)} passages x {len(questions)} queries, dimension {vectors.shape[1]}, "
             f"{args.threads} thread(s); exact (Flat) search {ours[0]['flat_search_ms_per_query']:.3f} ms/query", "",
             "| recipe | params | recall@10 | raw FAISS recall@10 | build s | search ms/query | raw FAISS ms/query | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        lines.append(f"| {r['recipe']} | {params} | {r['recall@10']:.3f} | {r['raw_faiss']['recall@10']:.3f} | "
                     f"{r['build_s']:.2f} | {r['search_ms_per_query']:.3f} | "
                     f"{r['raw_faiss']['search_ms_per_query']:.3f} | {r['search_time_ratio']:.2f}x |")
    print("\n".join(lines))
    payload = {"model": embedder.identity, "n_passages": len(texts), "n_queries": len(questions),
               "threads": args.threads, "recipes": rows}
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
