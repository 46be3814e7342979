"""Indexing at scale: `pgt index build` against a raw sentence-transformers + FAISS loop, and the auto recipe's
recall and search speed against raw FAISS with the same parameters.

Part 1 (build): N passages assembled from the shared corpora (AfriQA gold passages, UDHR lines, NusaX
sentences, de-duplicated, shuffled with a fixed seed) are indexed twice, each side in its own process so
peak memory (ru_maxrss) is its own: (a) `pgt index build` (the CLI entry point, e5-small, chunking by
tokens, auto recipe with tuning), (b) 15 lines of sentence-transformers `encode` (same model, prompt,
batch size 32) + `faiss.IndexFlatIP.add`. Passages/s is passages (not chunks) per wall second, model
load included on both sides; the 1M figure is a linear extrapolation of the embedding rate.

Part 2 (search): M synthetic vectors of dimension 384 shaped like sentence embeddings (anisotropic:
a few hundred topic centres on a low-rank subspace plus noise, L2-normalised) go into `VectorIndex`
with the recipe `choose_recipe` picks and tuning to recall@10 >= 0.95; 1,000 fresh queries from the same
distribution are searched by `VectorIndex.search` (Hit objects with text and metadata),
`VectorIndex.search_arrays` (score and id arrays) and the underlying FAISS index with the same
parameters (the raw call), each timed best of 7, and scored against exact search.

    python benchmarks/index_scale.py --passages 2000 --vectors 200000 --out benchmarks/results/index_scale.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CORPORA = Path("/work/shared/corpora")
MODEL = "intfloat/multilingual-e5-small"


def assemble(n: int, seed: int = 0) -> list[str]:
    """Up to n distinct passages: AfriQA contexts, UDHR lines, NusaX sentences."""
    texts: list[str] = []
    for path in sorted((CORPORA / "afriqa" / "data" / "gold_passages").rglob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["context"])
    for path in sorted((CORPORA / "udhr" / "udhr2").glob("*.txt")):
        texts += [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
                  if len(ln.strip()) > 40]
    for path in sorted((CORPORA / "nusax" / "datasets" / "sentiment").glob("*/*.csv")):
        with open(path, encoding="utf-8") as f:
            texts += [row["text"] for row in csv.DictReader(f) if row.get("text")]
    texts = list(dict.fromkeys(t for t in texts if isinstance(t, str) and t.strip()))
    random.Random(seed).shuffle(texts)
    return texts[:n]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(docs: Path, folder: Path) -> dict:
    from polyglot_transfer.cli.main import main

    t0 = time.perf_counter()
    # every row is tagged eng: language tags are metadata only and do not change the build's cost
    rc = main(["index", "build", str(folder), "--from", str(docs), "--model", MODEL, "--force", "--lang", "eng"])
    wall = time.perf_counter() - t0
    assert rc == 0
    info = json.loads((folder / (folder / "CURRENT").read_text().split()[0] / "manifest.json").read_text())
    return {"wall_s": wall, "entries": info["count"], "recipe": info["recipe"], "peak_mib": peak_mib()}


def run_raw(docs: Path) -> dict:
    import faiss
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from polyglot_transfer.models.provision import resolve_model

    t0 = time.perf_counter()
    texts = [json.loads(line)["text"] for line in docs.read_text(encoding="utf-8").splitlines()]
    model = SentenceTransformer(str(resolve_model(MODEL)), device="cpu")
    emb = model.encode(["passage: " + t for t in texts], batch_size=32, normalize_embeddings=True,
                       convert_to_numpy=True)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(np.asarray(emb, dtype=np.float32))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "entries": int(index.ntotal), "recipe": "Flat", "peak_mib": peak_mib()}


def realistic_vectors(n: int, dim: int, seed: int, n_topics: int = 2000, rank: int = 64):
    import numpy as np

    rng = np.random.default_rng(1234)  # the same topic structure for corpus and queries
    basis = rng.standard_normal((rank, dim)).astype(np.float32)
    centres = (rng.standard_normal((n_topics, rank)).astype(np.float32) @ basis) / np.sqrt(rank)
    common = rng.standard_normal(dim).astype(np.float32)  # sentence embeddings share a common direction
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        topic = rng.integers(0, n_topics, m)
        x = 1.5 * common + centres[topic] + 1.2 * rng.standard_normal((m, dim)).astype(np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def search_part(n: int, dim: int = 384, n_queries: int = 1000) -> dict:
    import faiss
    import numpy as np

    from polyglot_transfer.retrieval.faiss_index import VectorIndex

    xb = realistic_vectors(n, dim, seed=0)
    xq = realistic_vectors(n_queries, dim, seed=1)
    t0 = time.perf_counter()
    index = VectorIndex(dim, recipe=None, expected_size=n)
    index.add(xb, [""] * n)
    build_s = time.perf_counter() - t0
    _, truth = faiss.knn(xq, xb, 10, metric=faiss.METRIC_INNER_PRODUCT)

    def recall(found) -> float:
        return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth.tolist(), found)]))

    def best_of(fn, repeats=7) -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return 1000 * best / n_queries

    ours_rows = index.search(xq, 10)
    ours_ms = best_of(lambda: index.search(xq, 10))
    _, arr_ids = index.search_arrays(xq, 10)
    arrays_ms = best_of(lambda: index.search_arrays(xq, 10))
    raw = index._index  # the same FAISS index, with the tuned parameters set on it
    _, raw_labels = raw.search(xq, 10)
    raw_ms = best_of(lambda: raw.search(xq, 10))
    slot_to_id = index._slot_to_id
    return {
        "n_vectors": n, "dim": dim, "recipe": index.recipe, "tuning": {k: v for k, v in index.tuning.items() if k != "tried"},
        "tried": index.tuning["tried"], "build_and_tune_s": build_s,
        "recall@10_ours": recall([[h.id for h in row] for row in ours_rows]),
        "recall@10_raw_faiss_same_params": recall([[slot_to_id.get(int(s), -1) for s in row] for row in raw_labels]),
        "recall@10_search_arrays": recall(arr_ids.tolist()),
        "ms_per_query_search_hits": ours_ms, "ms_per_query_search_arrays": arrays_ms, "ms_per_query_raw_faiss": raw_ms,
        "ratio_search_hits_over_raw": ours_ms / raw_ms, "ratio_search_arrays_over_raw": arrays_ms / raw_ms,
        "peak_mib": peak_mib(),
    }


def _json(path: Path, default: dict | None = None) -> dict:
    return json.loads(path.read_text()) if path.exists() else dict(default or {})


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def million_part(work: Path, n: int, recipes: list[str], chunk: int, build_threads: int, search_threads: int,
                 n_queries: int = 1000, rounds: int = 7) -> dict:
    """The search benchmark at n vectors, resumable stage by stage from files under `work`.

    Stages (each skipped when its file exists): xb.npy / xq.npy (the vectors, written in blocks), truth.npy
    (exact top 10 of the fresh queries), then per recipe: the index built `chunk` vectors at a time with
    tuning deferred (saved after every chunk, so a kill loses at most one chunk), tuned once at the end
    (`VectorIndex.tune`, target recall@10 0.95), then searched: `search_arrays`, `search` and the raw FAISS
    index with the same parameters, interleaved round by round, best round of each.
    """
    import faiss
    import numpy as np

    from polyglot_transfer.retrieval.faiss_index import VectorIndex
    from polyglot_transfer.retrieval.recipes import choose_recipe

    work.mkdir(parents=True, exist_ok=True)
    dim = 384
    if not (work / "xb.npy").exists():
        xb = np.lib.format.open_memmap(work / "xb.partial.npy", mode="w+", dtype=np.float32, shape=(n, dim))
        block = 100_000
        for start in range(0, n, block):  # each block its own seed: the same vectors whatever the block count
            m = min(block, n - start)
            xb[start:start + m] = realistic_vectors(m, dim, seed=10_000 + start // block)
        xb.flush()
        del xb
        os.replace(work / "xb.partial.npy", work / "xb.npy")
        np.save(work / "xq.npy", realistic_vectors(n_queries, dim, seed=1))
    xb = np.load(work / "xb.npy", mmap_mode="r")
    xq = np.load(work / "xq.npy")
    if not (work / "truth.npy").exists():
        faiss.omp_set_num_threads(build_threads)
        t0 = time.perf_counter()
        truth = np.empty((len(xq), 10), dtype=np.int64)
        best = np.full((len(xq), 10), -np.inf, dtype=np.float32)
        for start in range(0, n, 200_000):  # exact top 10 block by block, merged (memory stays small)
            d, i = faiss.knn(xq, np.ascontiguousarray(xb[start:start + 200_000]), 10, metric=faiss.METRIC_INNER_PRODUCT)
            cand_d = np.concatenate([best, d], axis=1)
            cand_i = np.concatenate([truth, i + start], axis=1)
            order = np.argsort(-cand_d, axis=1, kind="stable")[:, :10]
            best, truth = np.take_along_axis(cand_d, order, 1), np.take_along_axis(cand_i, order, 1)
        np.save(work / "truth.npy", truth)
        _write_json(work / "truth.json", {"exact_knn_s": time.perf_counter() - t0, "threads": build_threads})
    truth = np.load(work / "truth.npy")
    results = _json(work / "results.json", {"n_vectors": n, "dim": dim, "n_queries": len(xq),
                                            "choose_recipe": choose_recipe(n, dim), "recipes": {}})

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth.tolist(), found.tolist())]))

    for recipe in recipes:
        name = "auto" if recipe == "auto" else recipe
        if name in results["recipes"] and "ms_per_query_raw_faiss" in results["recipes"][name]:
            continue
        folder = work / f"idx-{name.replace(',', '_')}"
        state_path = work / f"state-{name.replace(',', '_')}.json"
        state = _json(state_path, {"done": 0, "add_s": 0.0, "train_s": 0.0})
        faiss.omp_set_num_threads(build_threads)
        if state["done"]:
            index = VectorIndex.load(folder)
        else:
            index = VectorIndex(dim, recipe=None if recipe == "auto" else recipe, expected_size=n)
            if not index.is_trained:  # IVF: train on FAISS's recommended sample (39 per list), spread over the corpus
                from polyglot_transfer.retrieval.recipes import recommended_training_size

                m = min(n, recommended_training_size(index.recipe))
                sample = np.ascontiguousarray(xb[np.sort(np.random.default_rng(0).choice(n, m, replace=False))])
                t0 = time.perf_counter()
                index.train(sample)
                state["train_s"] = time.perf_counter() - t0
                del sample
        while state["done"] < n:
            a, b = state["done"], min(n, state["done"] + chunk)
            block = np.array(xb[a:b])
            t0 = time.perf_counter()
            index.add(block, [""] * (b - a), retune=False)
            state["add_s"] += time.perf_counter() - t0
            state["done"] = b
            index.save(folder)
            _write_json(state_path, state)
            print(f"{name}: {b}/{n} added, {state['add_s']:.0f} s", file=sys.stderr, flush=True)
        if "tune_s" not in state:
            t0 = time.perf_counter()
            index.tune()
            state["tune_s"] = time.perf_counter() - t0
            index.save(folder)
            _write_json(state_path, state)
        info = json.loads((folder / (folder / "CURRENT").read_text().split()[0] / "manifest.json").read_text())
        faiss.omp_set_num_threads(search_threads)
        raw = index._index  # the same FAISS index with the tuned parameters set on it
        timings: dict[str, list[float]] = {"search_arrays": [], "search": [], "raw": []}
        calls = {"search_arrays": lambda: index.search_arrays(xq, 10), "search": lambda: index.search(xq, 10),
                 "raw": lambda: raw.search(xq, 10)}
        for _ in range(rounds):  # interleaved: a slow moment on the shared machine hits all three alike
            for side, fn in calls.items():
                t = time.perf_counter()
                fn()
                timings[side].append(1000 * (time.perf_counter() - t) / len(xq))
        _, arr_ids = index.search_arrays(xq, 10)
        hit_ids = np.array([[h.id for h in row] for row in index.search(xq, 10)])
        _, raw_labels = raw.search(xq, 10)
        slot_map = index._slot_map()
        ms = {side: min(v) for side, v in timings.items()}
        results["recipes"][name] = {
            "recipe": index.recipe, "tuning": {k: v for k, v in (index.tuning or {}).items() if k != "tried"},
            "tried": (index.tuning or {}).get("tried"), "train_s": state["train_s"], "add_s": state["add_s"],
            "tune_s": state["tune_s"], "build_s": state["train_s"] + state["add_s"] + state["tune_s"],
            "bytes_per_vector": info.get("bytes_per_vector"), "build_threads": build_threads,
            "search_threads": search_threads,
            "recall@10_search_arrays": recall(arr_ids), "recall@10_search": recall(hit_ids),
            "recall@10_raw_faiss_same_params": recall(np.where(raw_labels >= 0, slot_map[np.clip(raw_labels, 0, None)], -1)),
            "ms_per_query_search_arrays": ms["search_arrays"], "ms_per_query_search": ms["search"],
            "ms_per_query_raw_faiss": ms["raw"], "ratio_search_arrays_over_raw": ms["search_arrays"] / ms["raw"],
            "ratio_search_over_raw": ms["search"] / ms["raw"], "rounds_ms": timings, "peak_mib": peak_mib(),
        }
        _write_json(work / "results.json", results)
        print(json.dumps(results["recipes"][name], indent=2), file=sys.stderr, flush=True)
        del index, raw
    return results


def stream_side(docs: Path, model: str, whole: bool) -> dict:
    """One build in this process: the CLI (streamed input) or the whole file loaded first, then built."""
    from polyglot_transfer.cli.main import main
    from polyglot_transfer.retrieval.index_ops import build_index, load_documents

    folder = docs.parent / ("idx-whole" if whole else "idx-stream")
    t0 = time.perf_counter()
    if whole:
        build_index(folder, load_documents(docs), model=model, force=True, show_progress=False)
    else:
        assert main(["index", "build", str(folder), "--from", str(docs), "--model", model, "--force"]) == 0
    wall = time.perf_counter() - t0
    version = folder / (folder / "CURRENT").read_text().split()[0]
    info = json.loads((version / "manifest.json").read_text())
    return {"wall_s": wall, "entries": info["count"], "peak_mib": peak_mib(),
            "index_mib": (version / "index.faiss").stat().st_size / 2**20,
            "docstore_mib": (version / "docstore.jsonl").stat().st_size / 2**20}


def stream_part(sizes: list[int], work: Path) -> dict:
    """Peak RSS of `pgt index build` (streamed input) at two corpus sizes, against loading the file whole.

    The embedder is a 2-layer, 32-dimensional random BERT with e5's tokenizer (`build_tiny_encoder`), so
    the numbers measure the pipeline (reading, chunking, tokenising, adding, saving), not a model's weights."""
    from polyglot_transfer.models.provision import resolve_model
    from polyglot_transfer.models.tiny import build_tiny_encoder

    work.mkdir(parents=True, exist_ok=True)
    model = work / "tiny-e5"
    if not (model / "config.json").exists():
        build_tiny_encoder(model, resolve_model(MODEL))
    base = assemble(100_000)
    out: dict = {"model": "tiny e5-shaped encoder (2 layers, 32 dims, e5 tokenizer)", "sizes": {}}
    for n in sizes:
        docs = work / f"docs-{n}" / "docs.jsonl"
        docs.parent.mkdir(exist_ok=True)
        with open(docs, "w", encoding="utf-8") as f:  # base passages repeated with a numbered variation
            for i in range(n):
                f.write(json.dumps({"id": f"p{i}", "text": f"{base[i % len(base)]} ({i})", "lang": "eng"}) + "\n")
        row: dict = {"file_mib": docs.stat().st_size / 2**20}
        for side in ("stream", "whole"):
            proc = subprocess.run([sys.executable, __file__, "--part", f"stream-{side}", "--docs", str(docs),
                                   "--model", str(model)], capture_output=True, text=True, check=True)
            row[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        out["sizes"][str(n)] = row
        print(json.dumps({n: row}), file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--vectors", type=int, default=200_000)
    ap.add_argument("--out", default="benchmarks/results/index_scale.json")
    ap.add_argument("--part", default="all",
                    choices=["all", "ours", "raw", "search", "build", "million", "stream", "stream-stream", "stream-whole"])
    ap.add_argument("--sizes", default="20000,200000", help="--part stream: corpus sizes (documents)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--work", default="/tmp/pgt_index_1m", help="--part million: where stages are kept (resumable)")
    ap.add_argument("--recipes", default="auto", help="--part million: recipes separated by ';' (auto: choose_recipe)")
    ap.add_argument("--chunk", type=int, default=250_000, help="--part million: vectors added between checkpoints")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--search-threads", type=int, default=1)
    ap.add_argument("--docs", default=None)
    ap.add_argument("--order", default="raw,ours,raw,ours", help="build runs, in order (best wall time of each side)")
    args = ap.parse_args()
    if args.part in ("ours", "raw"):
        docs = Path(args.docs)
        result = run_ours(docs, docs.parent / "idx") if args.part == "ours" else run_raw(docs)
        print(json.dumps(result))
        return
    if args.part == "search":
        print(json.dumps(search_part(args.vectors)))
        return
    if args.part in ("stream-stream", "stream-whole"):
        print(json.dumps(stream_side(Path(args.docs), args.model, whole=args.part == "stream-whole")))
        return
    if args.part == "stream":
        result = stream_part([int(v) for v in args.sizes.split(",")], Path(args.work))
        result["command"] = " ".join(["python", *sys.argv])
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return
    if args.part == "million":
        results = million_part(Path(args.work), args.vectors, args.recipes.split(";"), args.chunk,
                               args.build_threads, args.search_threads)
        results["command"] = " ".join(["python", *sys.argv])
        results["truth"] = _json(Path(args.work) / "truth.json")
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        return
    out: dict = {"command": " ".join(["python", *sys.argv]), "threads": os.environ["OMP_NUM_THREADS"]}
    if args.part in ("all", "build"):
        texts = assemble(args.passages)
        with tempfile.TemporaryDirectory() as tmp:
            docs = Path(tmp) / "docs.jsonl"
            docs.write_text("\n".join(json.dumps({"id": f"p{i}", "text": t}) for i, t in enumerate(texts)) + "\n",
                            encoding="utf-8")
            sides = {}
            for side in args.order.split(","):  # e.g. raw,ours,raw,ours: interleaved, best of each (a shared machine)
                proc = subprocess.run([sys.executable, __file__, "--part", side, "--docs", str(docs)],
                                      capture_output=True, text=True, check=True)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                if side not in sides or r["wall_s"] < sides[side]["wall_s"]:
                    sides[side] = r
        n = len(texts)
        out["build"] = {
            "passages": n, "mean_chars": sum(map(len, texts)) / n,
            "ours": {**sides["ours"], "passages_per_s": n / sides["ours"]["wall_s"]},
            "raw": {**sides["raw"], "passages_per_s": n / sides["raw"]["wall_s"]},
            "ratio_ours_over_raw_time": sides["ours"]["wall_s"] / sides["raw"]["wall_s"],
            "extrapolated_1M_hours_ours": 1e6 / (n / sides["ours"]["wall_s"]) / 3600,
        }
        print(json.dumps(out["build"], indent=2), flush=True)
    if args.part in ("all", "search"):
        proc = subprocess.run([sys.executable, __file__, "--part", "search", "--vectors", str(args.vectors)],
                              capture_output=True, text=True, check=True)
        out["search"] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(out["search"], indent=2), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
