"""`pgt index build|add|delete|search|info`: FAISS index folders from the command line."""

from __future__ import annotations

import argparse
import json

EXAMPLES = """  pgt index build idx/ --from corpora/agri_advice/documents.jsonl
  pgt index search idx/ "Ni lini nipande mahindi?" -k 3 --mode hybrid_norm
  pgt index search idx/ "maize pests" --where lang=swh_Latn --json
  pgt index add idx/ --from more_docs.csv --columns text=body
  pgt index delete idx/ --ids 3 7
  pgt index info idx/"""


def _columns(items: list[str]) -> dict[str, str] | None:
    from polyglot_transfer.errors import ConfigError

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--columns expects CANONICAL=COLUMN (e.g. text=body). Got {item!r}.")
        k, v = item.split("=", 1)
        out[k] = v
    return out or None


def _where(items: list[str]) -> dict | None:
    from polyglot_transfer.errors import ConfigError

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--where expects KEY=VALUE (e.g. lang=yor_Latn). Got {item!r}.")
        k, v = item.split("=", 1)
        out[k] = v
    return out or None


def cmd_build(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import build_index, load_documents

    data = load_documents(args.source, columns=_columns(args.columns), lang=args.lang)
    index = build_index(args.folder, data, model=args.model, recipe=args.recipe, metric=args.metric,
                        max_chars=args.chunk_chars or None, force=args.force)
    print(f"{args.folder}: {len(index)} entries from {len(data)} documents (recipe {index.recipe})")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from polyglot_transfer.retrieval.index_ops import add_documents, load_documents

    ids = add_documents(args.folder, load_documents(args.source, columns=_columns(args.columns), lang=args.lang),
                        max_chars=args.chunk_chars or None)
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

    print(json.dumps(index_info(args.folder), indent=2, ensure_ascii=False))
    return 0


def register(sub, add) -> None:
    index = add("index", "build, extend and search FAISS index folders", None, EXAMPLES)
    isub = index.add_subparsers(dest="index_command", metavar="ACTION")

    def source_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("folder")
        p.add_argument("--from", dest="source", required=True, help="documents file (jsonl / csv / tsv)")
        p.add_argument("--columns", nargs="*", metavar="CANONICAL=COLUMN", help="map text/id/lang/label columns")
        p.add_argument("--lang", default=None, help="language of every row (when the file has no lang column)")
        p.add_argument("--chunk-chars", type=int, default=1000, help="chunk longer documents (0: never)")

    p = isub.add_parser("build", help="embed a documents file into a new index folder")
    source_args(p)
    p.add_argument("--model", default="intfloat/multilingual-e5-small")
    p.add_argument("--recipe", default=None, help="FAISS factory string (default: chosen by corpus size)")
    p.add_argument("--metric", default="cosine", choices=["cosine", "ip", "l2"])
    p.add_argument("--force", action="store_true", help="replace an existing folder")
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
    p.add_argument("--mode", default="dense", choices=["dense", "bm25", "hybrid_rrf", "hybrid_norm"])
    p.add_argument("--where", nargs="*", metavar="KEY=VALUE", help="metadata filter, applied before ranking")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
    p = isub.add_parser("info", help="show an index's manifest")
    p.add_argument("folder")
    p.set_defaults(func=cmd_info)
