"""`pgt adapt CONFIG`: train one strategy and score it (a one-setup comparison)."""

from __future__ import annotations

import argparse


def cmd_adapt(args: argparse.Namespace) -> int:
    from polyglot_transfer.api import config_path
    from polyglot_transfer.cli.main import _print_results, progress_logging, show_progress
    from polyglot_transfer.evaluation.adapt_run import load_adapt_config
    from polyglot_transfer.evaluation.compare import run_compare

    config = load_adapt_config(config_path(args.config), args.set)
    with progress_logging():
        result = run_compare(config, run_dir=args.output_dir, progress=show_progress(args))
    _print_results(result.results)
    for row in result.results.get("forgetting", []):
        print(f"forgetting on {row.get('language')}: before {row.get('before'):.3f}, after {row.get('after'):.3f}, "
              f"drop {row.get('drop'):+.3f}")
    print(f"Run folder: {result.run_dir} (trained weights under models/)")
    return 0


def register(sub, add) -> None:
    p = add("adapt", "train one strategy on the source language and score it", cmd_adapt,
            "  pgt adapt eval/configs/adapt_lora.yaml\n"
            "  pgt adapt adapt_lora --output-dir runs/lora-try   # the shipped example, from any folder\n"
            "  pgt adapt eval/configs/adapt_lora.yaml --set strategy=peft --set params.method=dora")
    p.add_argument("config", help="an adapt YAML (task, model, source_language, strategy, params), or adapt_lora")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    p.add_argument("--output-dir", default=None,
                   help="run folder (default: output_dir in the config, else runs/NAME); a rerun resumes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
