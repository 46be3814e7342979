"""Tokenizer fit for every UDHR language: fertility, unknown pieces and character coverage.

Prints a markdown table (worst fit first by default) and writes every row as JSON to --out.

    python benchmarks/fertility_udhr.py --out results/fertility_udhr.json
    python benchmarks/fertility_udhr.py --model sentence-transformers/all-MiniLM-L6-v2 --sort char_coverage
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from polyglot_transfer.diagnostics.tokenizer_fit import (  # noqa: E402
    HIGH_FERTILITY_PER_CHAR,
    HIGH_FERTILITY_PER_WORD,
    POOR_COVERAGE_CHAR_COVERAGE,
    POOR_COVERAGE_UNK_RATE,
    TokenizerFit,
    load_tokenizer,
)
from polyglot_transfer.diagnostics.udhr import DEFAULT_MAX_CHARS, udhr_fertility_table, udhr_root  # noqa: E402
from polyglot_transfer.errors import PGTError  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json  # noqa: E402
from polyglot_transfer.models.catalog import DEFAULT_EMBEDDER  # noqa: E402

SORT_KEYS = ("badness", "fertility", "unk_rate", "char_coverage", "name")


def _sort_key(key: str):
    if key == "fertility":
        return lambda f: (f.unit != "word", -f.fertility)
    if key == "unk_rate":
        return lambda f: -f.unk_rate
    if key == "char_coverage":
        return lambda f: f.char_coverage
    if key == "name":
        return lambda f: f.label or ""
    # badness: uncovered scripts first (by coverage), then word-unit rows by fertility, then character-unit rows
    return lambda f: (
        not f.poorly_covered,
        f.char_coverage if f.poorly_covered else 0.0,
        f.unit != "word",
        -f.fertility,
    )


def markdown_table(fits: list[TokenizerFit]) -> str:
    """One markdown row per fit."""
    head = "| # | file | language | script | unit | fertility | unk rate | char coverage | split words | flags |"
    rule = "|---:|---|---|---|---|---:|---:|---:|---:|---|"
    rows = [head, rule]
    for i, f in enumerate(fits, 1):
        split = "" if f.continuation_rate is None else f"{f.continuation_rate:.0%}"
        flags = "; ".join(flag.split(":")[0] for flag in f.flags)
        rows.append(
            f"| {i} | {f.label} | {f.display_name if f.lang else '?'} | {f.script or '?'} | {f.unit} | "
            f"{f.fertility:.2f} | {f.unk_rate:.1%} | {f.char_coverage:.1%} | {split} | {flags} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_EMBEDDER, help="catalog name or model folder (default: %(default)s)")
    parser.add_argument("--root", default=None, help="UDHR folder (default: <shared corpora>/udhr/udhr2)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="characters read per file")
    parser.add_argument("--languages", nargs="*", default=None, help="file names or language codes (default: all)")
    parser.add_argument("--sort", choices=SORT_KEYS, default="badness", help="row order (default: %(default)s)")
    parser.add_argument("--top", type=int, default=0, help="print only the first and last N rows (0: all)")
    parser.add_argument("--out", type=Path, default=None, help="write every row as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        start = time.perf_counter()
        tokenizer = load_tokenizer(args.model)
        fits = udhr_fertility_table(tokenizer, args.root, args.languages, max_chars=args.max_chars)
        elapsed = time.perf_counter() - start
    except PGTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    fits.sort(key=_sort_key(args.sort))

    shown = fits
    if args.top and len(fits) > 2 * args.top:
        shown = fits[: args.top] + fits[-args.top :]
    print(markdown_table(shown))
    flagged = sum(bool(f.flags) for f in fits)
    print(
        f"\n{len(fits)} UDHR texts, {flagged} flagged; model {args.model}; first {args.max_chars} characters per "
        f"file; {elapsed:.1f} s. Flags: script poorly covered = unk rate > {POOR_COVERAGE_UNK_RATE:.0%} or char "
        f"coverage < {POOR_COVERAGE_CHAR_COVERAGE:.0%}; high fertility = > {HIGH_FERTILITY_PER_WORD:g} pieces per "
        f"word (> {HIGH_FERTILITY_PER_CHAR:g} per character)."
    )
    if args.out is not None:
        atomic_write_json(
            args.out,
            {
                "benchmark": "fertility_udhr",
                "model": str(args.model),
                "udhr_root": str(udhr_root(args.root)),
                "max_chars": args.max_chars,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(elapsed, 2),
                "rows": [f.to_dict() for f in fits],
            },
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
