"""Zero-shot defaults, old against new, on the demo corpus and on NusaX: `pgt compare` runs, one per corpus.

Each run puts the old defaults and the new ones side by side as setups of one grid (same seed, same data,
same embeddings, paired tests against the old head):

- head_old: logistic regression with C=1 (the old default); head_C10: the hand-tuned C=10;
  head: the new default, C chosen by 5-fold stratified CV on the source training set (macro-F1);
- rag_old: the vote with k=8, temperature=0.05 (the old default); rag: k and temperature chosen by
  leave-one-out over the labelled source examples;
- head+rag_old: both, mixed 0.5 : 0.5 (the old default); head+rag: the new head and vote, mixed 0.5 : 0.5
  (the default weight); head+rag_dev: the mixing weight chosen on out-of-fold source predictions too
  (`combine_weight: null`).

No target-language label is used to choose anything: the choices are in every cell's `selected` field.
Each run is a plain `pgt compare` of a shipped config with `--set` overrides (printed below, and written to
the results file), so it can be rerun from the CLI. Writes runs under --runs and a markdown summary.

    PGT_CORPORA_DIR=/work/shared/corpora python benchmarks/zero_shot_defaults.py --out benchmarks/results/zero_shot_defaults.md
    python benchmarks/zero_shot_defaults.py --only demo
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from polyglot_transfer.evaluation.compare import run_compare  # noqa: E402
from polyglot_transfer.evaluation.config import load_config  # noqa: E402
from polyglot_transfer.fileio import atomic_write_text  # noqa: E402

SETUPS = (
    "{head_old: {adapt: {strategy: head, C: 1.0}}, head_C10: {adapt: {strategy: head, C: 10.0}}, "
    "head: {adapt: {strategy: head}}, "
    "rag_old: {retrieval: {k: 8, temperature: 0.05}}, rag: {retrieval: {}}, "
    "head+rag_old: {adapt: {strategy: head, C: 1.0}, retrieval: {k: 8, temperature: 0.05}, combine_weight: 0.5}, "
    "head+rag: {adapt: {strategy: head}, retrieval: {}}, "
    "head+rag_dev: {adapt: {strategy: head}, retrieval: {}, combine_weight: null}}"
)
ORDER = ["head_old", "head_C10", "head", "rag_old", "rag", "head+rag_old", "head+rag", "head+rag_dev"]
COMMON = [f"setups={SETUPS}", "baseline=head_old", "seeds=[0]", "forgetting=false", "diagnostics=false",
          "threads=1"]
RUNS = {
    "demo": ("eval/configs/demo.yaml", []),
    "nusax": ("eval/configs/nusax.yaml", [
        "sources=[eng_Latn, ind_Latn, eng_Latn+ind_Latn]", "task.max_train_per_label=100"]),
}


def command(config: str, overrides: list[str], out: Path) -> str:
    sets = " ".join(f"--set {shlex.quote(o)}" for o in overrides + [f"output_dir={out}"])
    env = f"PGT_CORPORA_DIR={os.environ['PGT_CORPORA_DIR']} " if "PGT_CORPORA_DIR" in os.environ else ""
    return f"{env}pgt compare {config} {sets}"


def summarise(run_dir: Path, sources: list[str], targets: list[str]) -> list[str]:
    """Mean accuracy / macro-F1 over the zero-shot targets (targets that are not a source language), per
    source, computed from the cells' predictions."""
    lines = []
    for source in sources:
        zero_shot = [t for t in targets if t not in source.split("+")]
        lines += [f"**Source {source}**, mean over {len(zero_shot)} zero-shot targets "
                  f"({', '.join(zero_shot)}):", "", "| setup | accuracy | macro-F1 |", "|---|---|---|"]
        for setup in ORDER:
            accs, f1s = [], []
            for lang in zero_shot:
                cell = json.loads((run_dir / "cells" / "seed0" / source / setup / f"{lang}.json").read_text())
                accs.append(accuracy_score(cell["y_true"], cell["y_pred"]))
                f1s.append(f1_score(cell["y_true"], cell["y_pred"], average="macro", labels=cell["labels"],
                                    zero_division=0))
            lines.append(f"| {setup} | {sum(accs) / len(accs):.3f} | {sum(f1s) / len(f1s):.3f} |")
        lines.append("")
    return lines


def significance(run_dir: Path, sources: list[str], targets: list[str]) -> list[str]:
    """Paired tests against head_old from results.json (macro-F1 paired bootstrap, Holm across targets)."""
    results = json.loads((run_dir / "results.json").read_text())
    lines = ["Against head_old, per zero-shot target (macro-F1, paired bootstrap, Holm-corrected; "
             "wins / ties / losses):", ""]
    for source in sources:
        zero_shot = set(targets) - set(source.split("+"))
        parts = []
        for setup in ORDER[1:]:
            verdicts = [c.get("verdict") for c in results.get("comparisons", [])
                        if c["setup"] == setup and c["source"] == source and c["metric"] == "macro_f1"
                        and c["language"] in zero_shot]
            counts = [sum(v == w for v in verdicts) for w in ("win", "tie", "loss")]
            parts.append(f"{setup} {counts[0]}/{counts[1]}/{counts[2]}")
        lines.append(f"- {source}: " + ", ".join(parts))
    return lines + [""]


def train_sizes(run_dir: Path) -> str:
    train = json.loads((run_dir / "manifest.json").read_text())["data"]["train"]
    return ", ".join(f"{src} n={info['n']}" for src, info in train.items())


def chosen(run_dir: Path, sources: list[str]) -> list[str]:
    lines = ["Chosen on source data (from the cells' `selected` field):", ""]
    for source in sources:
        for setup in ("head", "rag", "head+rag_dev"):
            cells = sorted((run_dir / "cells" / "seed0" / source / setup).glob("*.json"))
            if not cells:
                continue
            sel = json.loads(cells[0].read_text()).get("selected", {})
            parts = []
            if "adapt" in sel:
                parts.append(f"C={sel['adapt']['C']:g} ({sel['adapt']['by']})")
            if "retrieval" in sel:
                r = sel["retrieval"]
                parts.append(f"k={r['k']}, temperature={r['temperature']:g} ({r['by']}; LOO macro-F1 "
                             f"{r['loo_macro_f1']:.3f})")
            if "combine" in sel:
                c = sel["combine"]
                parts.append(f"head weight {c['combine_weight']:g} ({c['by']}; dev macro-F1 {c['dev_macro_f1']:.3f})")
            lines.append(f"- {source} / {setup}: " + "; ".join(parts))
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zero_shot_defaults.md"))
    parser.add_argument("--runs", type=Path, default=Path("runs/zero_shot_defaults"))
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument("--report-only", action="store_true", help="summarise finished runs, run nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    import torch

    torch.set_num_threads(1)
    lines = ["# Zero-shot defaults: old against new", "",
             "Produced by `python benchmarks/zero_shot_defaults.py` (1 torch thread, real "
             "`intfloat/multilingual-e5-small`, seed 0). Each corpus is one `pgt compare` run of the command "
             "shown; every hyper-parameter of the new defaults is chosen on the source language's training "
             "data only (never on a target label). Means are over the targets that are not a source language.", ""]
    for name in args.only or sorted(RUNS):
        config_path, extra = RUNS[name]
        out = args.runs / name
        overrides = COMMON + extra
        config = load_config(config_path, overrides + [f"output_dir={out}"])
        if not args.report_only:
            started = time.perf_counter()
            run_compare(config, progress=False)
            atomic_write_text(out / "timing.json", json.dumps({"seconds": time.perf_counter() - started}))
        took = json.loads((out / "timing.json").read_text())["seconds"]
        lines += [f"## {name}", "", "```", command(config_path, overrides, out), "```", "",
                  f"Train: {train_sizes(out)}; targets: {', '.join(config.target_languages)}; {took:.0f} s.", ""]
        lines += summarise(out, config.sources, config.target_languages)
        lines += significance(out, config.sources, config.target_languages)
        lines += chosen(out, config.sources)
        atomic_write_text(args.out, "\n".join(lines) + "\n")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
