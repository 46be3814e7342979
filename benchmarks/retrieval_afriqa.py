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


# --------------------------------------------------------------------------- speed: the toolkit against a hand loop

SPEED_LANGUAGES = ("bem", "hau", "ibo", "kin", "swa", "twi", "yor", "zul")  # English passages (fon's are French)

HAND_LOOP = """
import json, sys, time, numpy as np, faiss
from sentence_transformers import SentenceTransformer
passages_path, queries_path, tune_path, model_path = sys.argv[1:5]
passages = [json.loads(line) for line in open(passages_path, encoding="utf-8")]
queries = [json.loads(line) for line in open(queries_path, encoding="utf-8")]
tune = [json.loads(line) for line in open(tune_path, encoding="utf-8")]
model = SentenceTransformer(model_path, device="cpu")
p = model.encode(["passage: " + d["text"] for d in passages], batch_size=32, normalize_embeddings=True)
q = model.encode(["query: " + d["text"] for d in queries + tune], batch_size=32, normalize_embeddings=True)
index = faiss.IndexFlatIP(p.shape[1])
index.add(p)
_, top = index.search(q[:len(queries)], 20)
ids = [d["id"] for d in passages]
hits = {}
for d, row in zip(queries, top):
    hits.setdefault(d["lang"], []).append(ids[row[0]] in d["relevant"])
print(json.dumps({lang: float(np.mean(v)) for lang, v in hits.items()}))
"""


API_RUN = """
import json, sys, time
from polyglot_transfer.retrieval.index_ops import build_index, evaluate_index, load_documents, stream_documents
passages_path, queries_path, tune_path, model, folder = sys.argv[1:6]
n, rows = stream_documents(passages_path)
build_index(folder, rows(), model=model, n_documents=n, force=True)
t_build = time.time()
queries, tune = load_documents(queries_path), load_documents(tune_path)
evaluate_index(folder, queries, modes=["dense"])
t_dense = time.time()
evaluate_index(folder, queries, tune=tune)
t_all = time.time()
print(json.dumps({"build_end": t_build, "dense_s": t_dense - t_build, "all_s": t_all - t_dense}))
"""


def speed_data(root: Path, per_language: int, folder: Path) -> dict:
    """passages.jsonl (the first `per_language` English gold passages of each language's test split),
    queries.jsonl (their questions in the language and in English, 3 of every 4) and tune.jsonl (the 4th)."""
    from polyglot_transfer.data.afriqa import load_afriqa_passages, load_afriqa_queries

    passages, queries = [], []
    for lang in SPEED_LANGUAGES:
        chosen = load_afriqa_passages(root, lang, "test").examples[:per_language]
        gold = {qid: p.id for p in chosen for qid in p.meta["query_ids"]}
        passages += [{"id": p.id, "text": f"{p.meta['title']}\n{p.text}", "lang": p.lang} for p in chosen]
        for q in load_afriqa_queries(root, lang, "test").examples:
            if q.id in gold and q.meta["translated_question"].strip():
                queries.append({"id": q.id, "text": q.text, "lang": q.lang, "relevant": [gold[q.id]]})
                queries.append({"id": q.id + "-eng", "text": q.meta["translated_question"], "lang": "eng_Latn",
                                "relevant": [gold[q.id]]})
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in (("passages", passages), ("queries", [q for i, q in enumerate(queries) if i % 4 != 3]),
                       ("tune", [q for i, q in enumerate(queries) if i % 4 == 3])):
        files[name] = folder / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"files": files, "n_passages": len(passages), "n_queries": sum(1 for i in range(len(queries)) if i % 4 != 3),
            "n_tune_queries": sum(1 for i in range(len(queries)) if i % 4 == 3),
            "mean_passage_chars": float(np.mean([len(r["text"]) for r in passages]))}


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _speed_setup(args: argparse.Namespace) -> tuple[Path, dict, dict, dict, str]:
    """Work folder, the speed data (written there), its files, the child processes' environment, Python."""
    work = Path(args.work)
    data = speed_data(Path(args.root), args.per_language, work)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    return work, data, data["files"], env, sys.executable


def speed_main(args: argparse.Namespace) -> int:
    """Side by side, each step a fresh process as a user runs it: the hand loop, `pgt index build`, dense-only
    `pgt index evaluate`, and all modes with `--tune-on`; wall seconds (imports and model loads included)."""
    from polyglot_transfer.models.provision import resolve_model

    work, data, files, env, py = _speed_setup(args)
    pgt = [py, "-m", "polyglot_transfer.cli.main", "index"]
    idx = work / "idx"
    out: dict = {"command": " ".join(["python", *sys.argv]), "threads": args.threads, **{k: v for k, v in data.items()
                                                                                         if k != "files"}}
    hand_cmd = [py, "-c", HAND_LOOP, *(str(files[k]) for k in ("passages", "queries", "tune")),
                str(resolve_model(args.model))]
    for round_ in range(args.rounds):  # hand loop first in even rounds, last in odd ones (warm caches alternate)
        if round_ % 2 == 0:
            hand_s, hand_out = _timed(hand_cmd, env)
        build_s, _ = _timed([*pgt, "build", str(idx), "--from", str(files["passages"]), "--model", args.model,
                             "--force"], env)
        dense_s, _ = _timed([*pgt, "evaluate", str(idx), "--queries", str(files["queries"]), "--modes", "dense",
                             "--out", str(work / "dense.json"), "--json"], env)
        all_s, _ = _timed([*pgt, "evaluate", str(idx), "--queries", str(files["queries"]), "--tune-on",
                           str(files["tune"]), "--out", str(work / "all.json"), "--json"], env)
        start = time.time()
        _, api_out = _timed([py, "-c", API_RUN, *(str(files[k]) for k in ("passages", "queries", "tune")), args.model,
                             str(work / "idx-api")], env)
        api = json.loads(api_out.strip().splitlines()[-1])
        if round_ % 2 == 1:
            hand_s, hand_out = _timed(hand_cmd, env)
        api_build = api["build_end"] - start
        run = {"hand_s": hand_s, "build_s": build_s, "evaluate_dense_s": dense_s, "evaluate_all_tuned_s": all_s,
               "ratio_build_dense_over_hand": (build_s + dense_s) / hand_s,
               "ratio_build_all_tuned_over_hand": (build_s + all_s) / hand_s,
               "api_one_process": {"build_s": api_build, "evaluate_dense_s": api["dense_s"],
                                   "evaluate_all_tuned_s": api["all_s"],
                                   "ratio_build_dense_over_hand": (api_build + api["dense_s"]) / hand_s,
                                   "ratio_build_all_tuned_over_hand": (api_build + api["all_s"]) / hand_s}}
        out.setdefault("rounds", []).append(run)
        print(json.dumps(run), file=sys.stderr, flush=True)
    rounds = out["rounds"]
    best = {k: min(r[k] for r in rounds) for k in ("hand_s", "build_s", "evaluate_dense_s", "evaluate_all_tuned_s")}
    api_best = {k: min(r["api_one_process"][k] for r in rounds)
                for k in ("build_s", "evaluate_dense_s", "evaluate_all_tuned_s")}
    out["best"] = {**best, "ratio_build_dense_over_hand": (best["build_s"] + best["evaluate_dense_s"]) / best["hand_s"],
                   "ratio_build_all_tuned_over_hand": (best["build_s"] + best["evaluate_all_tuned_s"]) / best["hand_s"],
                   "api_one_process": {**api_best, "ratio_build_dense_over_hand":
                                       (api_best["build_s"] + api_best["evaluate_dense_s"]) / best["hand_s"],
                                       "ratio_build_all_tuned_over_hand":
                                       (api_best["build_s"] + api_best["evaluate_all_tuned_s"]) / best["hand_s"]}}
    hand = json.loads(hand_out.strip().splitlines()[-1])
    dense = json.loads((work / "dense.json").read_text())["modes"]["dense"]
    ours = {r["query_lang"]: r["recall@1"] for r in dense["breakdown"] if r["doc_lang"] == "*"}
    out["recall@1"] = {lang: {"hand": hand[lang], "toolkit_dense": ours[lang], "diff": ours[lang] - hand[lang],
                              "n": next(r["n_queries"] for r in dense["breakdown"]
                                        if r["query_lang"] == lang and r["doc_lang"] == "*")}
                       for lang in sorted(hand)}
    info = json.loads((idx / (idx / "CURRENT").read_text().split()[0] / "manifest.json").read_text())
    out["index_entries"] = info["count"]
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


def one_command_main(args: argparse.Namespace) -> int:
    """The hand loop against ONE `pgt index evaluate --build-from` command (build and evaluate in one process,
    the embedder loaded once), dense-only and all modes with tuning; rounds alternate which side goes first."""
    from polyglot_transfer.models.provision import resolve_model

    work, data, files, env, py = _speed_setup(args)
    evaluate = [py, "-m", "polyglot_transfer.cli.main", "index", "evaluate", str(work / "idx-one"), "--build-from",
                str(files["passages"]), "--model", args.model, "--force", "--queries", str(files["queries"]), "--json"]
    hand_cmd = [py, "-c", HAND_LOOP, *(str(files[k]) for k in ("passages", "queries", "tune")),
                str(resolve_model(args.model))]
    out: dict = {"command": " ".join(["python", *sys.argv]), "threads": args.threads,
                 **{k: v for k, v in data.items() if k != "files"}, "rounds": []}
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            hand_s, hand_out = _timed(hand_cmd, env)
        dense_s, dense_out = _timed([*evaluate, "--modes", "dense"], env)
        all_s, _ = _timed([*evaluate, "--tune-on", str(files["tune"])], env)
        if round_ % 2 == 1:
            hand_s, hand_out = _timed(hand_cmd, env)
        run = {"hand_s": hand_s, "one_command_dense_s": dense_s, "one_command_all_tuned_s": all_s,
               "ratio_dense_over_hand": dense_s / hand_s, "ratio_all_tuned_over_hand": all_s / hand_s}
        out["rounds"].append(run)
        print(json.dumps(run), file=sys.stderr, flush=True)
    hand = json.loads(hand_out.strip().splitlines()[-1])
    dense = json.loads(dense_out)["modes"]["dense"]
    ours = {r["query_lang"]: r["recall@1"] for r in dense["breakdown"] if r["doc_lang"] == "*"}
    out["recall@1"] = {lang: {"hand": hand[lang], "toolkit_dense": ours[lang], "diff": ours[lang] - hand[lang]}
                       for lang in sorted(hand)}
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


def speed_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the toolkit's build + evaluate against a hand-written loop")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--root", default="/work/shared/corpora/afriqa")
    parser.add_argument("--per-language", type=int, default=30, help="gold passages per language (8 languages)")
    parser.add_argument("--model", default="intfloat/multilingual-e5-small")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", default="/tmp/pgt_afriqa_speed")
    parser.add_argument("--out", default="benchmarks/results/retrieval_afriqa_speed.json")
    parser.add_argument("--one-command", action="store_true",
                        help="time one `pgt index evaluate --build-from` process against the hand loop instead")
    args = parser.parse_args(argv)
    return one_command_main(args) if args.one_command else speed_main(args)


if __name__ == "__main__":
    if "--speed" in sys.argv[1:]:
        raise SystemExit(speed_cli(sys.argv[1:]))
    raise SystemExit(main())
