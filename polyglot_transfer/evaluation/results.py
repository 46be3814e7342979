"""Turn the finished cells of a run into results.json: metrics with bootstrap CIs, paired tests
against the baseline with Holm correction across languages, and a wins / ties / losses summary.

Schema (schema_version 1): run, task, source_languages, languages, setups, baseline, records
(setup x language x metric: value, ci_low, ci_high, n, seeds), comparisons (setup vs baseline per
language and metric: delta, ci_low, ci_high, p_value, p_adjusted, verdict), summary, forgetting,
diagnostics, cards, environment.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.evaluation.metrics import get_metric
from polyglot_transfer.evaluation.stats import (
    bootstrap_ci,
    bootstrap_ci_over_seeds,
    holm_correction,
    paired_bootstrap_test,
    wins_ties_losses,
)
from polyglot_transfer.evaluation.task_data import TaskData

SCHEMA_VERSION = 1
PRIMARY_METRIC = "macro_f1"


def _read_cells(run_dir: Path, config: CompareConfig) -> dict[tuple[str, str], list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for setup in config.setups:
        for lang in config.target_languages:
            runs = []
            for seed in config.seeds:
                path = run_dir / "cells" / f"seed{seed}" / setup.replace("/", "_") / f"{lang}.json"
                if not path.is_file():
                    raise DataError(f"{path} is missing: the run did not finish. Rerun the same command to resume.")
                runs.append(json.loads(path.read_text()))
            cells[setup, lang] = runs
    return cells


def _verdict(delta: float, p_adjusted: float, alpha: float) -> str:
    if p_adjusted <= alpha and delta > 0:
        return "win"
    if p_adjusted <= alpha and delta < 0:
        return "loss"
    return "tie"


def build_results(config: CompareConfig, data: TaskData, run_dir: Path, *, duration_s: float | None = None) -> dict:
    from polyglot_transfer.evaluation.compare import describe_setup
    from polyglot_transfer.languages import resolve_language

    boot = config.bootstrap
    cells = _read_cells(run_dir, config)
    labels = data.labels
    records = []
    for (setup, lang), runs in cells.items():
        for metric_name in config.metrics:
            metric = get_metric(metric_name)
            if len(runs) == 1:
                ci = bootstrap_ci(metric, runs[0]["y_true"], runs[0]["y_pred"], labels,
                                  n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            else:
                ci = bootstrap_ci_over_seeds(metric, [(r["y_true"], r["y_pred"]) for r in runs], labels,
                                             n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            records.append({"setup": setup, "language": lang, "metric": metric_name, "value": ci.value,
                            "ci_low": ci.low, "ci_high": ci.high, "n": len(runs[0]["y_true"]),
                            "seed": runs[0]["seed"] if len(runs) == 1 else None,
                            "seeds": [r["seed"] for r in runs]})

    comparisons = []
    if config.baseline:
        for setup in config.setups:
            if setup == config.baseline:
                continue
            for metric_name in config.metrics:
                metric = get_metric(metric_name)
                rows = []
                for lang in config.target_languages:
                    a, b = cells[setup, lang], cells[config.baseline, lang]
                    y_true = [y for r in a for y in r["y_true"]]
                    test = paired_bootstrap_test(
                        metric, y_true, [y for r in a for y in r["y_pred"]], [y for r in b for y in r["y_pred"]],
                        labels, n_resamples=boot.n_resamples, seed=0, alpha=boot.alpha)
                    rows.append({"setup": setup, "baseline": config.baseline, "language": lang,
                                 "metric": metric_name, "delta": test.delta, "ci_low": test.low,
                                 "ci_high": test.high, "p_value": test.p_value, "test": "paired_bootstrap"})
                for row, p_adj in zip(rows, holm_correction([r["p_value"] for r in rows])):
                    row["p_adjusted"] = p_adj
                    row["verdict"] = _verdict(row["delta"], p_adj, boot.alpha)
                comparisons.extend(rows)

    summary = []
    primary = PRIMARY_METRIC if PRIMARY_METRIC in config.metrics else config.metrics[0]
    for setup in config.setups:
        rows = [c for c in comparisons if c["setup"] == setup and c["metric"] == primary]
        if rows:
            summary.append({"setup": setup, "metric": primary, **wins_ties_losses(rows, alpha=boot.alpha)})

    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    env = dict(manifest.get("environment", {}))
    if "model" in manifest:
        env["models"] = {config.model: manifest["model"]}
    env["seeds"] = config.seeds
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"name": config.name, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "run_dir": str(run_dir), "duration_s": duration_s, "ci_level": 1 - boot.alpha,
                "n_resamples": boot.n_resamples},
        "task": {"name": data.name, "type": "classification", "labels": labels, "n_train": len(data.train)},
        "source_languages": [config.source_language],
        "languages": [{"code": lang, "name": resolve_language(lang).name, "resource": data.resource.get(lang)}
                      for lang in config.target_languages],
        "setups": [{"name": name, "description": describe_setup(name, s)} for name, s in config.setups.items()],
        "baseline": config.baseline,
        "records": records,
        "comparisons": comparisons,
        "summary": summary,
        "forgetting": [],
        "diagnostics": [],
        "cards": data.cards,
        "environment": env,
    }
