"""`pgt diagnose`: tokenizer fit and domain gaps per language; `--udhr` for the fertility of every UDHR language."""

from __future__ import annotations

import argparse
import json

from polyglot_transfer.errors import ConfigError

EXAMPLES = """  pgt diagnose --data nusax --source ind --languages jav,sun,bug
  pgt diagnose --data agri_advice --source eng --queries incoming.jsonl --json
  pgt diagnose --data train.jsonl --source eng --documents docs.jsonl --model intfloat/multilingual-e5-small
  pgt diagnose --udhr                      # fertility for every UDHR language, worst fit first"""


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _fit_row(f) -> list[str]:
    return [f.label or f.lang or "", f.lang or "-", f.script or "-", f.unit, f"{f.fertility:.2f}",
            f"{f.unk_rate:.1%}", f"{f.char_coverage:.1%}", "; ".join(x.split(":")[0] for x in f.flags) or "-"]


def _p(gap) -> str:
    if gap.embedding is None:
        return "too few texts"
    e = gap.embedding
    return f"MMD p={e.mmd_p_value:.3f}, clf {e.classifier_accuracy:.0%} p={e.classifier_p_value:.3f}"


def cmd_diagnose(args: argparse.Namespace) -> int:
    from polyglot_transfer.cli.main import _console, _table, progress_logging, show_progress

    if args.data is None and not args.udhr:
        raise ConfigError("pgt diagnose needs --data FILE_OR_CORPUS (with --source), or --udhr for the UDHR "
                          "fertility table. Example: pgt diagnose --data nusax --source ind")
    if args.data is not None and args.source is None:
        raise ConfigError("pgt diagnose --data needs --source LANG (the language with training labels), e.g. --source eng.")
    console = _console()
    if args.data is None:
        from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer
        from polyglot_transfer.diagnostics.udhr import udhr_fertility_table

        fits = udhr_fertility_table(load_tokenizer(args.model), args.udhr_root)
        fits.sort(key=lambda f: (not f.poorly_covered, f.char_coverage if f.poorly_covered else 0.0,
                                 f.unit != "word", -f.fertility))
        if args.json:
            print(json.dumps([f.to_dict() for f in fits], indent=2, ensure_ascii=False))
            return 0
        console.print(_table(f"Tokenizer fit of {args.model} on {len(fits)} UDHR texts (worst first)",
                             ["file", "language", "script", "unit", "fertility", "unk", "char coverage", "flags"],
                             [_fit_row(f) for f in fits]))
        return 0

    from polyglot_transfer.diagnostics.diagnose import diagnose

    with progress_logging():
        report = diagnose(args.model, args.data, args.source, languages=_split(args.languages),
                          documents=args.documents, queries=args.queries, max_texts=args.max_texts,
                          seed=args.seed, **({} if args.permutations is None else {"n_permutations": args.permutations}), udhr=args.udhr, udhr_root=args.udhr_root,
                          progress=show_progress(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    rows = []
    for d in report.languages:
        ratio = "source" if d.lang == report.source else (
            "other unit" if d.fertility_ratio is None else f"{d.fertility_ratio:.2f}x fertility")
        rows.append([f"{d.name} ({d.lang})", str(d.n_texts), f"{d.fit.fertility:.2f}/{d.fit.unit}",
                     f"{d.fit.char_coverage:.1%}", ratio, str(len(d.flags))])
    console.print(_table(f"Tokenizer fit ({report.model}; source {report.source})",
                         ["language", "texts", "fertility", "char coverage", "vs source", "flags"], rows))
    gap_rows = []
    for d in report.languages:
        for g in d.gaps:
            labels = "-" if g.labels is None else f"TVD {g.labels.tvd:.2f} p={g.labels.p_value:.3f}"
            gap_rows.append([d.lang, g.name, f"{g.n_a}/{g.n_b}", _p(g),
                             f"{g.vocabulary.oov_rate:.0%} OOV, J={g.vocabulary.jaccard:.2f}", labels])
    if gap_rows:
        console.print(_table("Domain gap per language (embeddings, vocabulary, labels)",
                             ["language", "samples", "n", "embeddings", "vocabulary", "label shift"], gap_rows))
    if any("documents" in (g.a, g.b) for d in report.languages for g in d.gaps):
        console.print("Pairs with documents are reported, not flagged: passages and short messages always differ "
                      "in form; their vocabulary overlap is the number to read.", markup=False)
    for lang, flags in report.flagged.items():
        console.print(f"[bold]{lang}[/bold]")
        for flag in flags:
            console.print(f"  ! {flag}", markup=False)
    if report.udhr is not None:
        console.print(_table(f"UDHR fertility ({len(report.udhr)} texts)",
                             ["file", "language", "script", "unit", "fertility", "unk", "char coverage", "flags"],
                             [_fit_row(f) for f in report.udhr]))
    return 0


def register(sub: argparse._SubParsersAction, add) -> None:
    from polyglot_transfer.models.catalog import DEFAULT_EMBEDDER

    p = add("diagnose", "tokenizer fit and domain gap per language, before any training", cmd_diagnose, EXAMPLES)
    p.add_argument("--model", default=DEFAULT_EMBEDDER, help=f"catalog name or model folder (default {DEFAULT_EMBEDDER})")
    p.add_argument("--data", default=None, metavar="FILE_OR_CORPUS",
                   help="labelled texts with a lang column (JSONL/CSV/TSV), or nusax / agri_advice")
    p.add_argument("--source", default=None, metavar="LANG", help="the language with training labels, e.g. eng")
    p.add_argument("--languages", action="append", metavar="LANG[,LANG]",
                   help="languages to diagnose (default: all in the data)")
    p.add_argument("--documents", default=None, metavar="FILE", help="the retrieval corpus (JSONL/CSV/TSV)")
    p.add_argument("--queries", default=None, metavar="FILE", help="incoming queries with text and lang")
    p.add_argument("--max-texts", type=int, default=300, help="subsample each sample to this many texts")
    p.add_argument("--permutations", type=int, default=None,
                   help="MMD permutations (default: polyglot_transfer.diagnostics.domain_gap.DEFAULT_PERMUTATIONS)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--udhr", action="store_true", help="also (or, without --data, only) the UDHR fertility table")
    p.add_argument("--udhr-root", default=None, help="UDHR folder (default: the shared corpora)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
