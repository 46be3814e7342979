"""`pgt index build|add|delete|search|info|evaluate`: FAISS index folders from the command line."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = """  pgt index build idx/ --from corpora/agri_advice/documents.jsonl
  pgt index search idx/ "Ni lini nipande mahindi?" -k 3 --mode hybrid_norm
  pgt index search idx/ "maize pests" --where lang=swh_Latn --json
  pgt index add idx/ --from more_docs.csv --columns text=body
  pgt index delete idx/ --ids 3 7
  pgt index info idx/
  pgt index evaluate idx/ --queries judged.jsonl --tune-on dev.jsonl --out retrieval.json
  pgt index evaluate idx/ --build-from docs.jsonl --queries judged.jsonl   # build + evaluate, one model load"""


def _columns(items: list[str] | None) -> dict[str, str] | None:
    from polyglot_transfer.cli.args import key_values

    return key_values(items, "--columns", "CANONICAL=COLUMN", "text=body") or None


def _where(items: list[str] | None) -> dict | None:
    from polyglot_transfer.cli.args import key_values

    return key_values(items, "--where", "KEY=VALUE", "lang=yor_Latn") or None


def _cutoffs(text: str) -> tuple[int, ...]:
    from polyglot_transfer.errors import ConfigError

    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"--at expects comma-separated cut-offs >= 1 such as 1,5,10,20. Got {text!r} instead.")
    return tuple(sorted(set(values)))


def _chunking(args: argparse.Namespace) -> dict:
    from polyglot_transfer.errors import ConfigError

    if args.chunk_chars is not None and args.chunk_tokens is not None:
        raise ConfigError("Give --chunk-tokens or --chunk-chars, not both.")
    for flag, value in (("--chunk-tokens", args.chunk_tokens), ("--chunk-chars", args.chunk_chars)):
        if value is not None and value < 0:
            raise ConfigError(f"{flag} must be >= 0 (0: never chunk). Got {value}.")
    if args.chunk_chars is not None:
        return {"max_chars": args.chunk_chars or None, "max_tokens": None}
    if args.chunk_tokens is not None:
        return {"max_chars": None, "max_tokens": args.chunk_tokens or None}
    return {"max_chars": None, "max_tokens": "model"}


def cmd_build(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.faiss_index import check_recall_target
    from polyglot_transfer.retrieval.index_ops import build_index, stream_documents

    check_recall_target(args.recall_target)
    chunking = _chunking(args)
    for flag, value in (("--processes", args.processes), ("--batch-size", args.batch_size),
                        ("--block-size", args.block_size)):
        if value < 1:
            from polyglot_transfer.errors import ConfigError

            raise ConfigError(f"{flag} must be >= 1. Got {value}.")
    # the file is read twice, a row at a time: once to check and count it, once to embed it block by block
    n_docs, rows = stream_documents(args.source, columns=_columns(args.columns), lang=args.lang)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        index = build_index(args.folder, rows(), model=args.model, recipe=args.recipe, metric=args.metric,
                            force=args.force, recall_target=args.recall_target, cache_dir=args.cache_dir,
                            processes=args.processes, batch_size=args.batch_size, show_progress=True,
                            n_documents=n_docs, block_size=args.block_size, **chunking)
    print(f"{args.folder}: {len(index)} entries from {n_docs} documents (recipe {index.recipe})",
          file=sys.stderr if getattr(args, "log_to_stderr", False) else sys.stdout)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import add_documents, load_documents

    ids = add_documents(args.folder, load_documents(args.source, columns=_columns(args.columns), lang=args.lang),
                        **_chunking(args))
    print(f"{args.folder}: added {len(ids)} entries (ids {ids[0]}..{ids[-1]})" if ids else "nothing added")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import delete_documents

    print(f"{args.folder}: removed {delete_documents(args.folder, args.ids)} entries")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import search_index

    hits = search_index(args.folder, [args.query], k=args.k, mode=args.mode, where=_where(args.where))[0]
    if args.json:
        print(json.dumps(hits, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.mode} search: {args.query}", title_justify="left")
    for col in ("#", "score", "lang", "text"):
        table.add_column(col)
    for rank, h in enumerate(hits, 1):
        table.add_row(str(rank), f"{h['score']:.3f}", str(h.get("lang", "")), h["text"][:200])
    Console().print(table)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import index_info

    info = index_info(args.folder)
    print(json.dumps(info, indent=2, ensure_ascii=False))
    q = info["search_quality"]
    recall = next((v for k, v in q.items() if k.startswith("recall@")), None)
    if recall is not None:
        print(f"{info['recipe']}: recall@10 {recall:.3f} against exact search (target {q['recall_target']}) with "
              f"{q['tuned']}, {q['ms_per_query']:.3f} ms/query, {q['bytes_per_vector']} bytes/vector "
              f"(tuned at {q['tuned_at_n_vectors']} vectors)", file=sys.stderr)
    return 0


def _vs_dense(result: dict, mode: str, metric: str) -> str:
    from polyglot_transfer.retrieval.evaluate import compare_systems

    dense = result["modes"].get("dense")
    if dense is None or mode == "dense":
        return ""
    ours = result["tuned"] if mode == "tuned" else result["modes"][mode]
    c = compare_systems(ours["per_query"][metric], dense["per_query"][metric])
    return f"{c['delta']:+.3f} p={c['p_value']:.3f}{' *' if c['significant'] else ''}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from polyglot_transfer.fileio import atomic_write_json
    from polyglot_transfer.retrieval.evaluate import metric_names
    from polyglot_transfer.retrieval.hybrid import MODES
    from polyglot_transfer.retrieval.index_ops import evaluate_index, load_documents

    from tqdm.contrib.logging import logging_redirect_tqdm

    columns, metric = _columns(args.columns), "ndcg@10"
    cutoffs = _cutoffs(args.at)
    queries = load_documents(args.queries, columns=columns, lang=args.lang)
    tune = load_documents(args.tune_on, columns=columns, lang=args.lang) if args.tune_on else None
    if args.build_from:  # build first, in this process: the embedder loads once for both steps
        cmd_build(argparse.Namespace(
            folder=args.folder, source=args.build_from, columns=None, lang=None, chunk_tokens=None, chunk_chars=None,
            model=args.model, recipe=args.recipe, metric="cosine", force=args.force, recall_target=0.95,
            cache_dir=None, processes=1, batch_size=32, block_size=4096, log_to_stderr=True))
    with logging_redirect_tqdm():  # log lines do not break the progress bars
        result = evaluate_index(args.folder, queries, modes=args.modes or MODES, tune=tune,
                                relevant_by=args.relevant_by, cutoffs=cutoffs, show_progress=not args.json)
    if args.out:
        atomic_write_json(args.out, result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Retrieval on {len(queries)} judged queries ({args.folder})", title_justify="left")
    names = [n for n in metric_names(cutoffs) if not n.startswith("success@")]
    headers = [n.replace("recall@", "R@").replace("mrr@", "MRR@").replace("ndcg@", "nDCG@") for n in names]
    for col in ("mode", "query", "docs", "n", *headers, "nDCG@10 vs dense"):
        table.add_column(col, no_wrap=True)
    runs = list(result["modes"].items())
    if "tuned" in result:
        runs.append(("tuned", result["tuned"]))
    for mode, run in runs:
        overall = run["overall"]
        table.add_row(mode, "all", "all", str(overall["n_queries"]), *(f"{overall[m]:.3f}" for m in names),
                      _vs_dense(result, mode, metric))
        for row in run["breakdown"]:
            table.add_row("", row["query_lang"], "all" if row["doc_lang"] == "*" else row["doc_lang"],
                          str(row["n_queries"]), *(f"{row[m]:.3f}" for m in names), "")
        table.add_section()
    console = Console()
    console.width = max(console.width, 130)  # a pipe gets 80 columns, too few for this table
    console.print(table)
    if "tuned" in result:
        setting = " ".join(f"{k}={v}" for k, v in result["tuned"]["setting"].items())
        print(f"tuned: {setting}, the setting that scored best on {args.tune_on} ({metric}).")
    print("nDCG@10 vs dense: mean difference over the same queries, paired bootstrap p-value, * below 0.05. "
          "Per query language: first all documents, then each language its relevant documents are in.")
    return 0


def register(sub, add) -> None:
    index = add("index", "build, extend and search FAISS index folders", None, EXAMPLES)
    isub = index.add_subparsers(dest="index_command", metavar="ACTION")

    def source_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("folder")
        p.add_argument("--from", dest="source", required=True, help="documents file (jsonl / csv / tsv)")
        p.add_argument("--columns", nargs="*", metavar="CANONICAL=COLUMN", help="map text/id/lang/label columns")
        p.add_argument("--lang", default=None, help="language of every row (when the file has no lang column)")
        p.add_argument("--chunk-tokens", type=int, default=None, metavar="N",
                       help="chunk documents longer than N tokens of the embedder's tokenizer (default: as many as "
                            "the model reads, e.g. 512 for e5, so passages that fit stay whole; 0: never chunk)")
        p.add_argument("--chunk-chars", type=int, default=None, metavar="N",
                       help="chunk by characters instead (documents longer than N characters)")

    p = isub.add_parser("build", help="embed a documents file into a new index folder")
    source_args(p)
    p.add_argument("--model", default="intfloat/multilingual-e5-small")
    p.add_argument("--recipe", default=None, help="FAISS factory string (default: chosen by corpus size)")
    p.add_argument("--metric", default="cosine", choices=["cosine", "ip", "l2"])
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.add_argument("--recall-target", type=float, default=0.95, metavar="R",
                   help="approximate recipes (HNSW, IVF) tune efSearch / nprobe to reach this recall@10 against "
                        "exact search (default 0.95); shown by `pgt index info`")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="keep embeddings on disk (keyed by model and text): an interrupted build run again with "
                        "the same DIR only embeds what is missing")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="embed on N CPU processes (sentence-transformers' multi-process pool)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="embedding batch size (default 32)")
    p.add_argument("--block-size", type=int, default=4096, metavar="N",
                   help="documents read, embedded and added at a time (default 4096): the input file is streamed, "
                        "never held whole")
    p.set_defaults(func=cmd_build)
    p = isub.add_parser("add", help="add documents (with the embedder the index was built with)")
    source_args(p)
    p.set_defaults(func=cmd_add)
    p = isub.add_parser("delete", help="remove entries by id")
    p.add_argument("folder")
    p.add_argument("--ids", type=int, nargs="+", required=True)
    p.set_defaults(func=cmd_delete)
    p = isub.add_parser("search", help="query an index")
    p.add_argument("folder")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", default="dense", help="dense (default), bm25, hybrid_rrf or hybrid_norm")
    p.add_argument("--where", nargs="*", metavar="KEY=VALUE", help="metadata filter, applied before ranking")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
    p = isub.add_parser("info", help="show an index's manifest")
    p.add_argument("folder")
    p.set_defaults(func=cmd_info)
    p = isub.add_parser(
        "evaluate", help="score retrieval on judged queries: recall@k, MRR, nDCG@10 by query x document language",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score every retrieval mode on judged queries, overall and per query language x document\n"
                    "language, with a paired bootstrap test of each mode against dense. Each query row needs\n"
                    "text, lang and `relevant`: the ids of the documents that answer it (the `id` column of the\n"
                    "documents file), as a JSON list or as 'id1|id2' in CSV/TSV, e.g.\n\n"
                    '  {"text": "Yaushe ake shuka masara?", "lang": "hau", "relevant": ["doc-007"]}\n\n'
                    "examples:\n"
                    "  pgt index evaluate idx/ --queries judged.jsonl\n"
                    "  pgt index evaluate idx/ --queries corpora/agri_advice/test.jsonl --relevant-by label\n"
                    "  pgt index evaluate idx/ --queries test.jsonl --tune-on dev.jsonl --out retrieval.json\n"
                    "  pgt index evaluate idx/ --queries judged.csv --modes dense hybrid_norm --json\n"
                    "  pgt index evaluate idx/ --build-from docs.jsonl --queries judged.jsonl   # build + evaluate")
    p.add_argument("folder")
    p.add_argument("--build-from", default=None, metavar="DOCS",
                   help="first build FOLDER from this documents file (columns text / id / lang, default build "
                        "settings), in the same process: the embedder loads once for both steps")
    p.add_argument("--model", default="intfloat/multilingual-e5-small", help="embedder for --build-from")
    p.add_argument("--recipe", default=None, help="FAISS factory string for --build-from (default: by corpus size)")
    p.add_argument("--force", action="store_true", help="with --build-from: replace an existing folder")
    p.add_argument("--queries", required=True, help="judged queries file (jsonl / csv / tsv)")
    p.add_argument("--tune-on", default=None, metavar="FILE",
                   help="other judged queries to choose the fusion on (adds a 'tuned' row)")
    p.add_argument("--modes", nargs="+", default=None, metavar="MODE",
                   help="any of dense, bm25, hybrid_rrf, hybrid_norm (default: all four)")
    p.add_argument("--relevant-by", default=None, metavar="FIELD",
                   help="relevant = every document with the query's value of FIELD (e.g. label), "
                        "instead of a `relevant` column")
    p.add_argument("--columns", nargs="*", metavar="CANONICAL=COLUMN", help="map text/id/lang columns")
    p.add_argument("--lang", default=None, help="language of every query (when the file has no lang column)")
    p.add_argument("--at", default="1,5,10,20", metavar="K,K,...",
                   help="cut-offs for recall@k / success@k, MRR at each k >= 10 (default 1,5,10,20); nDCG is @10")
    p.add_argument("--out", default=None, help="write the full results (with per-query scores) as JSON")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.set_defaults(func=cmd_evaluate)
