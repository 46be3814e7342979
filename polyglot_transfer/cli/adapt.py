"""`pgt adapt CONFIG`: train one strategy and score it (a one-setup comparison)."""

from __future__ import annotations

import argparse
import sys


def cmd_adapt(args: argparse.Namespace) -> int:
    from polyglot_transfer.evaluation.adapt_run import run_adapt
    from polyglot_transfer.cli.main import _print_results

    result = run_adapt(args.config, args.set, progress=not args.no_progress and sys.stderr.isatty())
    _print_results(result.results)
    for row in result.results.get("forgetting", []):
        print(f"forgetting on {row.get('language')}: before {row.get('before'):.3f}, after {row.get('after'):.3f}, "
              f"drop {row.get('drop'):+.3f}")
    print(f"Run folder: {result.run_dir} (trained weights under models/)")
    return 0


def register(sub, add) -> None:
    p = add("adapt", "train one strategy on the source language and score it", cmd_adapt,
            "  pgt adapt eval/configs/adapt_lora.yaml\n"
            "  pgt adapt eval/configs/adapt_lora.yaml --set strategy=peft --set params.method=dora")
    p.add_argument("config", help="an adapt YAML (task, model, source_language, strategy, params)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    p.add_argument("--no-progress", action="store_true")
