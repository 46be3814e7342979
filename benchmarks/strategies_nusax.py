"""Adaptation strategies on NusaX sentiment, in the source language: macro-F1 and forgetting per strategy.

Trains each strategy on a per-label subsample of one NusaX language's train split (English by default)
with the real default encoder, scores it on a seeded subsample of the same language's test split, and
measures forgetting on its dev split: a linear probe on the frozen encoder ("before") against a probe on
the adapted features ("after"; see polyglot_transfer.adapt.forgetting). Prints a markdown table and
writes everything to --out as JSON.

    python benchmarks/strategies_nusax.py --out results/strategies_nusax.json
    python benchmarks/strategies_nusax.py --source ind --per-label 50 --strategies head,lora
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from polyglot_transfer.adapt import build_strategy  # noqa: E402
from polyglot_transfer.adapt.forgetting import linear_probe_score, measure_forgetting  # noqa: E402
from polyglot_transfer.data.corpora import find_shared_corpora  # noqa: E402
from polyglot_transfer.data.dataset import TextDataset  # noqa: E402
from polyglot_transfer.data.nusax import load_nusax_sentiment  # noqa: E402
from polyglot_transfer.errors import PGTError  # noqa: E402
from polyglot_transfer.evaluation.manifest import environment  # noqa: E402
from polyglot_transfer.measure.metrics import get_metric  # noqa: E402
from polyglot_transfer.fileio import atomic_write_json  # noqa: E402
from polyglot_transfer.models.catalog import DEFAULT_EMBEDDER  # noqa: E402

# Settings per strategy; small enough for a CPU run of a few minutes on 150 training examples.
STRATEGY_PARAMS: dict[str, dict] = {
    "zero_shot": {"label_descriptions": {"negative": "a negative, critical opinion",
                                         "neutral": "neutral, factual information",
                                         "positive": "a positive, approving opinion"}},
    "head": {},
    "lora": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 16, "max_length": 96},
    # word embeddings frozen: they are 80% of e5-small and their dense gradients dominate a CPU step
    "few_shot": {"k": None, "n_pairs": 320, "epochs": 1, "learning_rate": 2e-5, "batch_size": 16,
                 "max_length": 96, "train_embeddings": False},
    "full": {"epochs": 2, "learning_rate": 3e-5, "batch_size": 16, "max_length": 96},
    "peft": {"method": "dora", "epochs": 3, "learning_rate": 1e-3, "batch_size": 16, "max_length": 96},
}


def subsample(ds: TextDataset, n: int | None, seed: int) -> TextDataset:
    """A seeded subsample of `n` examples in the original order (all when n is None or larger)."""
    if n is None or n >= len(ds):
        return ds
    keep = sorted(random.Random(f"subsample\x1f{seed}").sample(range(len(ds)), n))
    return TextDataset([ds[i] for i in keep], name=f"{ds.name}-{n}")


def markdown_table(rows: list[dict]) -> str:
    lines = ["| strategy | macro-F1 (test) | accuracy (test) | fit s | forgetting: before | after | drop |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f = r["forgetting"]
        lines.append(f"| {r['strategy']} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} | {r['fit_s']:.1f} | "
                     f"{f['before']:.3f} | {f['after']:.3f} | {f['drop']:+.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="NusaX folder (default: the shared corpora's nusax)")
    parser.add_argument("--source", default="eng", help="language to train and test on (default: eng)")
    parser.add_argument("--model", default=DEFAULT_EMBEDDER)
    parser.add_argument("--strategies", default="zero_shot,head,lora,few_shot")
    parser.add_argument("--per-label", type=int, default=50, help="training examples per label")
    parser.add_argument("--test-size", type=int, default=200, help="test examples (seeded subsample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the results as JSON here (after every strategy); rows already there for the "
                             "same model, data, seed and params are reused, so an interrupted run resumes")
    parser.add_argument("--fresh", action="store_true", help="ignore rows already in --out")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    try:
        root = args.root or (find_shared_corpora() or Path(".")) / "nusax"
        train = load_nusax_sentiment(root, args.source, "train").sample_per_label(args.per_label, seed=args.seed)
        dev = load_nusax_sentiment(root, args.source, "valid")
        test = subsample(load_nusax_sentiment(root, args.source, "test"), args.test_size, args.seed)
        from polyglot_transfer.retrieval.embedder import Embedder

        embedder = Embedder(args.model)
        macro_f1, labels = get_metric("macro_f1"), train.label_set
        t0 = time.perf_counter()
        before = linear_probe_score(embedder.encode_queries(train.texts), train.labels,
                                    embedder.encode_queries(dev.texts), dev.labels, seed=args.seed)
        print(f"source {train.languages[0]}: train {len(train)}, dev {len(dev)}, test {len(test)}; "
              f"frozen-encoder probe on dev: macro-F1 {before:.3f} ({time.perf_counter() - t0:.1f} s)", flush=True)
        header = {
            "benchmark": "strategies_nusax", "model": args.model, "source": train.languages[0], "seed": args.seed,
            "data": {"train": {"n": len(train), "sha256": train.fingerprint()},
                     "dev": {"n": len(dev), "sha256": dev.fingerprint()},
                     "test": {"n": len(test), "sha256": test.fingerprint()}},
            "probe_before": before,
        }
        done = {} if args.fresh else _previous_rows(args.out, header)
        rows = []
        for name in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            params = STRATEGY_PARAMS.get(name, {})
            if (name, _key(params)) in done:
                rows.append(done[name, _key(params)])
                print(f"{name}: reusing the result in {args.out}", flush=True)
                continue
            strategy = build_strategy(name, params, args.model, seed=args.seed, embedder=embedder)
            t0 = time.perf_counter()
            strategy.fit(train)
            fit_s = time.perf_counter() - t0
            pred = strategy.predict(test.texts)
            forgetting = measure_forgetting(strategy, train, dev, embedder=embedder, before=before, seed=args.seed)
            row = {
                "strategy": name, "params": params, "fit_s": fit_s,
                "macro_f1": macro_f1(test.labels, pred, labels=labels),
                "accuracy": float(sum(a == b for a, b in zip(test.labels, pred)) / len(pred)),
                "forgetting": forgetting.to_dict(),
                "trainable_parameters": list(strategy.trainable_parameters())
                if hasattr(strategy, "trainable_parameters") else None,
            }
            rows.append(row)
            print(f"{name}: macro-F1 {row['macro_f1']:.3f}, fit {fit_s:.1f} s, forgetting drop "
                  f"{forgetting.drop:+.3f}", flush=True)
            _write(args, header, rows)
    except PGTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print()
    print(markdown_table(rows))
    _write(args, header, rows)
    if args.out:
        print(f"\nwrote {args.out}")
    return 0


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def _previous_rows(out: Path | None, header: dict) -> dict[tuple[str, str], dict]:
    """Rows of an earlier run in `out` with the same model, data, seed and probe (keyed by strategy, params)."""
    if out is None or not out.is_file():
        return {}
    old = json.loads(out.read_text())
    if any(old.get(k) != v for k, v in header.items()):
        print(f"{out} holds results for another model, data or seed; not reusing them", flush=True)
        return {}
    return {(r["strategy"], _key(r["params"])): r for r in old.get("results", [])}


def _write(args: argparse.Namespace, header: dict, rows: list[dict]) -> None:
    if not args.out:
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, {
        **header,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "threads": args.threads,
        "environment": environment(),
        "results": rows,
    })


if __name__ == "__main__":
    sys.exit(main())
