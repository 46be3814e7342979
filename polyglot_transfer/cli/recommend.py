"""`pgt recommend` (rank source languages for a target) and `pgt plan` (setups to compare, as a config)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import ConfigError, DataError, PGTError

RECOMMEND_EXAMPLES = """  pgt recommend --target jav --candidates ind,eng,sun
  pgt recommend --target bug                      # NusaX target: the other 11 NusaX languages are candidates
  pgt recommend --target yor --candidates eng,hau,swh,fra --parallel udhr --json
  pgt recommend --target jav --candidates ind,eng --weights model_similarity=2,genetic_distance=0"""

PLAN_EXAMPLES = """  pgt plan --labelled 32 --unlabelled 5000 --parallel 0 --documents 200 --gpu no --target yor --source eng
  pgt plan --labelled 200 --documents 30 --target swh --corpus agri_advice --out plan.yaml && pgt compare plan.yaml
  pgt plan --labelled 0 --unlabelled 20000 --unlabelled-file yor.txt --gpu yes --target yor --out plan.yaml"""


def _languages(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def _weights(items: list[str]) -> dict[str, float]:
    from polyglot_transfer.cli.args import key_values
    from polyglot_transfer.diagnostics.recommend import DEFAULT_WEIGHTS

    parts = [part for item in items for part in item.split(",")]
    return {**DEFAULT_WEIGHTS, **key_values(parts, "--weights", "FEATURE=WEIGHT", "model_similarity=2", convert=float, kind="a number")}


def _parallel_texts(kind: str, langs: list[str]) -> dict[str, list[str]]:
    from polyglot_transfer.data.corpora import find_shared_corpora

    if kind == "nusax":
        from polyglot_transfer.data.nusax import load_nusax_parallel

        shared = find_shared_corpora()
        if shared is None:
            raise DataError("--parallel nusax needs the shared corpora folder (set PGT_CORPORA_DIR).")
        texts = load_nusax_parallel(shared / "nusax", "valid")
        missing = [c for c in langs if c not in texts]
        if missing:
            raise DataError(f"NusaX-MT has no {', '.join(missing)}; use --parallel udhr for other languages.")
        return {c: texts[c] for c in langs}
    if kind == "udhr":
        from polyglot_transfer.diagnostics.udhr import load_udhr

        out = {}
        for code in langs:
            try:
                out[code] = load_udhr(None, code, max_chars=6000).lines
            except PGTError as exc:
                import logging

                logging.getLogger(__name__).warning("no UDHR text for %s (%s); its model view is skipped", code, exc)
        return out
    path = Path(kind).expanduser()
    if not path.is_file():
        raise ConfigError(f"--parallel {kind!r}: expected nusax, udhr or a JSONL/CSV file with text and lang columns.")
    from polyglot_transfer.data.loaders import load_table

    by_lang = load_table(path).by_language()
    return {c: by_lang[c].texts for c in langs if c in by_lang}


def cmd_recommend(args: argparse.Namespace) -> int:
    from polyglot_transfer.cli.main import _console, _table
    from polyglot_transfer.data.nusax import NUSAX_LANGUAGES
    from polyglot_transfer.diagnostics.recommend import (
        FEATURES,
        DataFeatures,
        RecommendConfig,
        recommend_sources,
    )
    from polyglot_transfer.languages import resolve_language

    target = resolve_language(args.target).code
    candidates = _languages(args.candidates)
    if candidates is None:
        if target not in NUSAX_LANGUAGES:
            raise ConfigError(f"--candidates is needed for {target} (only NusaX targets have default candidates). "
                              "Example: --candidates eng,fra,swh")
        candidates = [c for c in NUSAX_LANGUAGES if c != target]
    codes = [resolve_language(c).code for c in candidates]
    kind = args.parallel or ("nusax" if all(c in NUSAX_LANGUAGES for c in [target, *codes]) else "udhr")
    texts = _parallel_texts(kind, [target, *codes])
    from polyglot_transfer.cli.args import key_values

    sizes = {resolve_language(lang).code: n for lang, n in key_values(
        _languages(args.train_sizes), "--train-sizes", "LANG=N", "ind=500", convert=int, kind="an int").items()}
    features = {c: DataFeatures(n_train=sizes.get(c)) for c in codes}
    config = RecommendConfig(weights=_weights(args.weights), use_uriel=not args.no_uriel)
    recs = recommend_sources(target, codes, model=args.model, parallel=texts, data_features=features, config=config)
    if args.json:
        print(json.dumps([r.to_dict() for r in recs], indent=2, ensure_ascii=False))
        return 0
    shown = [f for f in FEATURES if config.weights.get(f, 0) > 0]
    short = {"model_similarity": "model sim", "subword_overlap": "subword ovl", "fertility_ratio": "fert ratio",
             "train_size": "log n", "genetic_distance": "genetic", "featural_distance": "typol",
             "geographic_distance": "geo", "lexical_distance": "lexical"}
    rows = [[r.source, str(r.rank), f"{r.score:+.2f}",
             *["-" if r.features[f] is None else f"{r.features[f]:.2f}" for f in shown]] for r in recs]
    console = _console()
    console.print(_table(f"Source languages for {target} ({kind} text for the model's view)",
                         ["source", "#", "score", *[short[f] for f in shown]], rows))
    for r in recs[: args.explain]:
        console.print(f"* {r.explanation}", markup=False)
    return 0


# placeholders written into the config's task when no data was named (the run then says what to replace)
TRAIN_PLACEHOLDER, TEST_PLACEHOLDER = "TRAIN_FILE.jsonl", "TEST_FILE.jsonl"


def _task(args: argparse.Namespace, source: str, target: str) -> tuple[dict, int | None, Any, str]:
    """(the config's task mapping, number of labels, data to measure fertility on, how the data was chosen).

    Only data the user named goes into the config: --corpus NAME, or --train and --test files. Without them
    the task holds placeholders, and the message names a built-in corpus that has both languages, if any.
    """
    if args.train or args.test:
        if not (args.train and args.test):
            raise ConfigError("pgt plan needs both --train and --test files (or --corpus NAME).")
        from polyglot_transfer.data.dataset import TextDataset
        from polyglot_transfer.data.loaders import load_table

        task = {"train": str(Path(args.train).resolve()), "test": str(Path(args.test).resolve())}
        if args.documents_file:
            task["documents"] = str(Path(args.documents_file).resolve())
        train, test = load_table(Path(args.train), label_required=True), load_table(Path(args.test))
        data = TextDataset([replace(e, id=f"{part}:{e.id}") for part, ds in (("train", train), ("test", test))
                            for e in ds], name=f"{args.train} + {args.test}")
        return task, len(train.label_set), data, f"--train {args.train} and --test {args.test}"
    from polyglot_transfer.tasks import TASKS, TaskConfig, check_task

    if args.corpus is not None:
        task = TASKS.get(args.corpus)
        train = task.load(TaskConfig(corpus=args.corpus), [source], [target]).train(source)
        n_labels = len(train.label_set) if train is not None and task.type == "classification" else None
        return {"corpus": args.corpus}, n_labels, args.corpus, f"the built-in corpus {args.corpus} (--corpus)"
    # the first registered classification task with data for source -> target
    covering = next((name for name, t in TASKS.items() if t.type == "classification"
                     and not check_task(TaskConfig(corpus=name), [source], [target])), None)
    hint = (f"the built-in corpus {covering} has {source} and {target}: add --corpus {covering} to use it, or "
            if covering else "")
    return ({"train": TRAIN_PLACEHOLDER, "test": TEST_PLACEHOLDER}, None, None,
            f"none named: the config's task holds the placeholders {TRAIN_PLACEHOLDER} / {TEST_PLACEHOLDER}; "
            f"{hint}pass --train FILE --test FILE (labelled JSONL/CSV with text, label, lang)")


def _assumptions(args: argparse.Namespace, data_note: str, fertility: Any, target: str, source: str) -> list[str]:
    """One line per input the plan rests on: its value and where it came from (given, default, measured)."""
    lines = [f"task data: {data_note}"]
    for name, option in (("labelled", "--labelled"), ("unlabelled", "--unlabelled"), ("parallel", "--parallel"),
                         ("documents", "--documents")):
        value = getattr(args, name)
        noun = {"labelled": "labelled examples", "documents": "task documents"}.get(name, f"{name} texts")
        lines.append(f"{noun}: "
                     + (f"{value} ({option})" if value is not None else f"0 (not given; pass {option} N)"))
    lines.append("GPU: " + (f"{args.gpu} (--gpu)" if args.gpu is not None else "no (not given; pass --gpu yes)"))
    if args.no_fertility:
        lines.append("tokenizer fertility: not measured (--no-fertility)")
    elif fertility is None:
        lines.append(f"tokenizer fertility: not measured (no {target} or {source} text to measure it on)")
    else:
        ratio = "n/a (different units)" if fertility.ratio is None else f"{fertility.ratio:.2f}x the source's"
        lines.append(f"tokenizer fertility of {args.model}: {target} {fertility.target.fertility:.2f} pieces per "
                     f"{fertility.target.unit}, {source} {fertility.source.fertility:.2f}; ratio {ratio} "
                     f"(measured on {fertility.text})")
    return lines


def cmd_plan(args: argparse.Namespace) -> int:
    import logging

    import yaml

    from polyglot_transfer.cli.main import _console, _table
    from polyglot_transfer.diagnostics.planner import Resources, measure_fertility, plan_setups
    from polyglot_transfer.evaluation.config import build_config
    from polyglot_transfer.fileio import atomic_write_text
    from polyglot_transfer.languages import resolve_language

    target, source = resolve_language(args.target).code, resolve_language(args.source).code
    task, n_labels, data, data_note = _task(args, source, target)
    fertility = None
    if not args.no_fertility:
        try:
            fertility = measure_fertility(args.model, target, source, data=data)
        except PGTError as exc:
            logging.getLogger(__name__).info("fertility not measured (%s)", exc)
    resources = Resources(target=target, source=source, labelled=args.labelled or 0, unlabelled=args.unlabelled or 0,
                          parallel=args.parallel or 0, documents=args.documents or 0, gpu=args.gpu == "yes",
                          fertility=None if fertility is None else fertility.per_word,
                          fertility_ratio=None if fertility is None else fertility.ratio,
                          unlabelled_file=args.unlabelled_file)
    plan = plan_setups(resources, task=task, model=args.model, name=args.name, n_labels=n_labels)
    _, problems = build_config(plan.config, source="plan")
    # placeholder data files (no data named) are for the user to fill in: everything else must validate
    problems = [p for p in problems if TRAIN_PLACEHOLDER not in p and TEST_PLACEHOLDER not in p]
    if problems:
        raise ConfigError("pgt plan built a config that does not validate (please report this):\n- "
                          + "\n- ".join(problems))
    assumed = _assumptions(args, data_note, fertility, target, source)
    text = plan.to_yaml()
    if args.out:
        atomic_write_text(args.out, "".join(f"# assumed: {line}\n" for line in assumed) + text)
    if args.json:
        print(json.dumps({**plan.to_dict(), "assumed": assumed}, indent=2, ensure_ascii=False))
        return 0
    rows = [[s.name, "yes" if s.in_config else "no (needs data)",
             (s.adapt or {}).get("strategy", "-"), "yes" if s.retrieval else "-", s.reasoning.split(". ")[0].split("; ")[0]] for s in plan.setups]
    console = _console()
    console.print("Assumed:", markup=False)
    for line in assumed:
        console.print(f"  - {line}", markup=False)
    console.print(_table(f"Plan for {target} (source {source})", ["setup", "in config", "strategy", "retrieval",
                                                                   "why"], rows))
    for note in plan.notes:
        console.print(f"* {note}", markup=False)
    if args.out:
        console.print(f"\nConfig: {args.out}   (run: pgt compare {args.out})", markup=False)
    else:
        print("\n" + yaml.safe_dump(plan.config, sort_keys=False, allow_unicode=True))
    return 0


def register(sub: argparse._SubParsersAction, add) -> None:
    from polyglot_transfer.models.catalog import DEFAULT_EMBEDDER

    p = add("recommend", "rank candidate source languages for a target, with the reasons", cmd_recommend,
            RECOMMEND_EXAMPLES)
    p.add_argument("--target", required=True, metavar="LANG")
    p.add_argument("--candidates", default=None, metavar="LANG,LANG",
                   help="candidate sources (default for NusaX targets: the other NusaX languages)")
    p.add_argument("--model", default=DEFAULT_EMBEDDER, help="catalog name or model folder")
    p.add_argument("--parallel", default=None, metavar="nusax|udhr|FILE",
                   help="text for the model's view and subword overlap (default: nusax if every language has it, "
                        "else udhr)")
    p.add_argument("--train-sizes", default=None, metavar="LANG=N,...", help="labelled examples per candidate")
    p.add_argument("--weights", action="append", default=[], metavar="FEATURE=W",
                   help="override feature weights (see polyglot_transfer.diagnostics.recommend)")
    p.add_argument("--no-uriel", action="store_true", help="skip URIEL+ (Swadesh lexical distance only)")
    p.add_argument("--explain", type=int, default=3, help="explain the top N (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("plan", "plan setups from the resources you have and write a ready `pgt compare` config", cmd_plan,
            PLAN_EXAMPLES)
    p.add_argument("--target", required=True, metavar="LANG")
    p.add_argument("--source", default="eng", metavar="LANG", help="language of the labelled data (default eng)")
    p.add_argument("--labelled", type=int, default=None, help="labelled examples you have (default 0)")
    p.add_argument("--unlabelled", type=int, default=None, help="unlabelled target-language texts you have (default 0)")
    p.add_argument("--parallel", type=int, default=None, help="parallel sentences, source-target (default 0)")
    p.add_argument("--documents", type=int, default=None, help="task documents for retrieval (default 0)")
    p.add_argument("--gpu", choices=["yes", "no"], default=None, help="a GPU for training (default no)")
    p.add_argument("--model", default=DEFAULT_EMBEDDER)
    p.add_argument("--corpus", default=None, help="a registered task for the config (pgt ls tasks), e.g. "
                   "agri_advice; without it or --train/--test the config holds placeholders")
    p.add_argument("--train", default=None, metavar="FILE", help="labelled source-language file for the config")
    p.add_argument("--test", default=None, metavar="FILE", help="labelled test file with a lang column")
    p.add_argument("--documents-file", default=None, metavar="FILE", help="task documents for retrieval")
    p.add_argument("--unlabelled-file", default=None, metavar="FILE", help="unlabelled target text (.txt/.jsonl)")
    p.add_argument("--name", default=None, help="config name (default plan_<target>)")
    p.add_argument("--no-fertility", action="store_true",
                   help="do not measure tokenizer fertility (measured on the named data as `pgt diagnose` does, "
                        "else on UDHR)")
    p.add_argument("--out", default=None, metavar="FILE", help="write the config here (YAML)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
