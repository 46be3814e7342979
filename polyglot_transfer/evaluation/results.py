"""Turn the finished cells of a run into results.json: metrics with bootstrap CIs, paired tests against
the baseline with Holm correction across target languages, wins / ties / losses, the transfer matrix
(source x target per setup), forgetting and tokenizer diagnostics.

The full schema is documented in docs/results_schema.md (schema_version 1). Every record, comparison
and summary row names its `source`; the grid is setup x source x target x seed.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from collections.abc import Callable
from typing import Any

from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.measure.metrics import get_metric
from polyglot_transfer.measure.stats import (
    bootstrap_ci,
    bootstrap_ci_over_seeds,
    holm_correction,
    mcnemar_test,
    paired_bootstrap_test,
    wins_ties_losses,
)
from polyglot_transfer.evaluation.run_folder import (
    DIAGNOSTICS_FILE,
    cell_path,
    describe_setup,
    forgetting_path,
    model_dir,
    trains_encoder,
)
from polyglot_transfer.evaluation.qa_setups import describe_qa_setup, qa_view
from polyglot_transfer.evaluation.task_data import TaskData

SCHEMA_VERSION = 1
PRIMARY_METRIC = "macro_f1"
#: Transfer labels of a transfer-matrix cell against the baseline setup.
TRANSFER_LABELS = {"win": "positive", "loss": "negative", "tie": "inconclusive"}

Cells = dict[tuple[str, str, str], list[dict[str, Any]]]  # (setup, source, target) -> one cell per seed


def _read_cells(run_dir: Path, config: CompareConfig) -> Cells:

    cells: Cells = {}
    missing = []
    for setup in config.setups:
        for source in config.sources:
            for lang in config.target_languages:
                runs = []
                for seed in config.seeds:
                    path = cell_path(run_dir, seed, source, setup, lang)
                    if not path.is_file():
                        missing.append(path)
                        continue
                    runs.append(json.loads(path.read_text()))
                cells[setup, source, lang] = runs
    if missing:
        raise DataError(f"{len(missing)} cell(s) are missing, e.g. {missing[0]}: the run did not finish. "
                        "Rerun the same command to resume.")
    return cells


def _verdict(delta: float, p_adjusted: float, alpha: float) -> str:
    if p_adjusted <= alpha and delta > 0:
        return "win"
    if p_adjusted <= alpha and delta < 0:
        return "loss"
    return "tie"


def _scored_metrics(config: CompareConfig, data: TaskData) -> list[tuple[str, Any]]:
    """(record name, metric) for the config's metrics, plus the per-type metric of a task that has one
    (NER: entity_f1:PER, entity_f1:LOC, ...: one record per entity type of the tag set)."""
    out = [(name, get_metric(name)) for name in config.metrics]
    per_type = data.task.task_type.per_type_metric if data.task is not None else None
    if per_type:
        from polyglot_transfer.measure.ner import entity_types

        out += [(f"{per_type}:{kind}", get_metric(per_type, entity_type=kind)) for kind in entity_types(data.labels)]
    return out


View = Callable[[str, Any, dict[str, Any]], "tuple[Any, list, list, bool] | None"]


def _plain_view(metric_name: str, metric: Any, run: dict[str, Any]) -> tuple[Any, list, list, bool]:
    """How a metric reads a cell: (metric, y_true, y_pred, paired); None where it does not apply."""
    return metric, run["y_true"], run["y_pred"], True


def _qa_view(metric_name: str, metric: Any, run: dict[str, Any]) -> tuple[Any, list, list, bool] | None:
    return qa_view(metric_name, run)


def _view_of(data: TaskData | None) -> View:
    return _qa_view if data is not None and data.type == "generative_qa" else _plain_view


def _records(config: CompareConfig, cells: Cells, labels: list[str],
             metrics: list[tuple[str, Any]] | None = None, view: View = _plain_view) -> list[dict[str, Any]]:
    boot = config.bootstrap
    records = []
    metrics = metrics if metrics is not None else [(name, get_metric(name)) for name in config.metrics]
    for (setup, source, lang), runs in cells.items():
        for metric_name, metric in metrics:
            views = [view(metric_name, metric, r) for r in runs]
            if any(v is None for v in views):  # e.g. gold-passage recall of a setup that retrieves nothing
                continue
            scored = views[0][0]
            if len(runs) == 1:
                ci = bootstrap_ci(scored, views[0][1], views[0][2], labels,
                                  n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            else:
                ci = bootstrap_ci_over_seeds(scored, [(v[1], v[2]) for v in views], labels,
                                             n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            records.append({"setup": setup, "source": source, "language": lang, "metric": metric_name,
                            "value": ci.value, "ci_low": ci.low, "ci_high": ci.high, "n": len(views[0][1]),
                            "seed": runs[0]["seed"] if len(runs) == 1 else None,
                            "seeds": [r["seed"] for r in runs]})
    return records


def _comparisons(config: CompareConfig, cells: Cells, labels: list[str],
                 view: View = _plain_view) -> list[dict[str, Any]]:
    """Each setup vs the baseline (same source), per target and metric; Holm across targets.

    Predictions of several seeds are paired seed by seed (concatenated). macro-F1 and other metrics use
    the paired bootstrap; accuracy uses McNemar's test for the p-value (the CI of the difference still
    comes from the paired bootstrap).
    """
    boot = config.bootstrap
    comparisons = []
    if not config.baseline:
        return comparisons
    for setup in config.setups:
        if setup == config.baseline:
            continue
        for source in config.sources:
            for metric_name in config.metrics:
                metric = get_metric(metric_name)
                rows = []
                for lang in config.target_languages:
                    va = [view(metric_name, metric, r) for r in cells[setup, source, lang]]
                    vb = [view(metric_name, metric, r) for r in cells[config.baseline, source, lang]]
                    if any(v is None or not v[3] for v in va + vb):  # not scored, or no shared gold to pair on
                        continue
                    y_true = [y for v in va for y in v[1]]
                    pred_a, pred_b = [y for v in va for y in v[2]], [y for v in vb for y in v[2]]
                    test = paired_bootstrap_test(va[0][0], y_true, pred_a, pred_b, labels,
                                                 n_resamples=boot.n_resamples, seed=0, alpha=boot.alpha)
                    row = {"setup": setup, "baseline": config.baseline, "source": source, "language": lang,
                           "metric": metric_name, "delta": test.delta, "ci_low": test.low, "ci_high": test.high,
                           "p_value": test.p_value, "test": "paired_bootstrap"}
                    if metric_name == "accuracy":
                        mc = mcnemar_test(y_true, pred_a, pred_b)
                        row.update(p_value=mc.p_value, test="mcnemar",
                                   mcnemar={"b": mc.b, "c": mc.c, "statistic": mc.statistic, "exact": mc.exact})
                    rows.append(row)
                for row, p_adj in zip(rows, holm_correction([r["p_value"] for r in rows])):
                    row["p_adjusted"] = p_adj
                    row["verdict"] = _verdict(row["delta"], p_adj, boot.alpha)
                comparisons.extend(rows)
    return comparisons


def build_transfer_matrix(config: CompareConfig, records: list[dict[str, Any]],
                          comparisons: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Per setup, source x target: mean over seeds with CI, gap to in-language training, transfer label.

    The gap of cell (s, t) is in-language(t) - value(s, t), where in-language(t) is the same setup
    trained on t itself (t is also a source); null where t is not a source. The label says whether
    the setup transfers better than the baseline setup from the same source: "positive" (significantly
    better after Holm across targets), "negative" (significantly worse) or "inconclusive"; the baseline's
    own cells are labelled "baseline", and with no baseline every label is null.
    """
    value = {(r["setup"], r["source"], r["language"]): r for r in records if r["metric"] == metric}
    tests = {(c["setup"], c["source"], c["language"]): c for c in comparisons if c["metric"] == metric}
    setups = []
    for setup in config.setups:
        cells = []
        for source in config.sources:
            for target in config.target_languages:
                rec = value[setup, source, target]
                own = value.get((setup, target, target))
                cell = {"source": source, "target": target, "value": rec["value"], "ci_low": rec["ci_low"],
                        "ci_high": rec["ci_high"], "n": rec["n"], "seeds": rec["seeds"],
                        "in_language": source == target,
                        "in_language_value": own["value"] if own else None,
                        "gap": own["value"] - rec["value"] if own else None}
                if config.baseline is None:
                    cell.update(label=None, vs_baseline=None)
                elif setup == config.baseline:
                    cell.update(label="baseline", vs_baseline=None)
                else:
                    c = tests[setup, source, target]
                    cell["label"] = TRANSFER_LABELS[c["verdict"]]
                    cell["vs_baseline"] = {k: c[k] for k in ("delta", "ci_low", "ci_high", "p_value", "p_adjusted",
                                                               "test")}
                cells.append(cell)
        counts = {label: sum(c["label"] == label for c in cells) for label in TRANSFER_LABELS.values()}
        setups.append({"setup": setup, "cells": cells, "labels": counts})
    return {"metric": metric, "sources": list(config.sources), "targets": list(config.target_languages),
            "baseline": config.baseline, "alpha": config.bootstrap.alpha, "setups": setups}


def qa_examples(config: CompareConfig, cells: Cells, per_language: int = 3) -> list[dict[str, Any]]:
    """A few questions per target (first seed, primary source): gold answers and each setup's answer, and
    whether the gold passage was among the passages each retrieval setup showed the generator."""
    out = []
    source, seed = config.sources[0], config.seeds[0]
    for lang in config.target_languages:
        runs = {setup: next((r for r in cells[setup, source, lang] if r["seed"] == seed), None) for setup in config.setups}
        first = next((r for r in runs.values() if r is not None), None)
        if first is None:
            continue
        for i, qid in enumerate(first["ids"][:per_language]):
            retrieved = {}
            for setup, r in runs.items():
                if r is not None and r.get("seen_doc_ids") is not None:
                    retrieved[setup] = bool(set(r["gold_doc_ids"][i]) & set(r["seen_doc_ids"][i]))
            out.append({"language": lang, "id": qid, "question": first["questions"][i], "gold": first["y_true"][i],
                        "answers": {setup: (r["y_pred"][i] if r is not None else None) for setup, r in runs.items()},
                        "gold_retrieved": retrieved})
    return out


def _forgetting(config: CompareConfig, run_dir: Path) -> list[dict[str, Any]]:
    """One row per (setup that trains the encoder, source): before / after / drop, mean over seeds."""

    rows = []
    for name, setup in config.setups.items():
        if not trains_encoder(setup):
            continue
        for source in config.sources:
            found = []
            for seed in config.seeds:
                path = forgetting_path(run_dir, model_dir(run_dir, config, setup, source, seed))
                if path.is_file():
                    found.append(json.loads(path.read_text()))
            if not found:
                continue
            mean = {k: sum(float(f[k]) for f in found) / len(found) for k in ("before", "after", "drop")}
            rows.append({"setup": name, "language": source, **mean, "metric": found[0]["metric"],
                         "mode": found[0]["mode"], "seeds": [f["seed"] for f in found],
                         "drop_per_seed": [float(f["drop"]) for f in found],
                         "n": found[0].get("n_eval")})
    return rows


def _diagnostics(run_dir: Path) -> list[dict[str, Any]]:

    path = run_dir / DIAGNOSTICS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def build_results(config: CompareConfig, data: TaskData, run_dir: Path, *, duration_s: float | None = None) -> dict:
    """results.json of a finished run (schema: docs/results_schema.md)."""
    from polyglot_transfer.languages import resolve_language

    boot = config.bootstrap
    cells = _read_cells(run_dir, config)
    labels = data.labels
    view = _view_of(data)
    records = _records(config, cells, labels, _scored_metrics(config, data), view)
    comparisons = _comparisons(config, cells, labels, view)
    wanted = data.task.primary_metric if data.task is not None else PRIMARY_METRIC
    primary = wanted if wanted in config.metrics else config.metrics[0]
    summary = []
    for setup in config.setups:
        for source in config.sources:
            rows = [c for c in comparisons if c["setup"] == setup and c["source"] == source and c["metric"] == primary]
            if rows:
                summary.append({"setup": setup, "source": source, "metric": primary,
                                **wins_ties_losses(rows, alpha=boot.alpha)})

    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    env = dict(manifest.get("environment", {}))
    if "model" in manifest:
        env["models"] = {config.model: manifest["model"]}
    env["seeds"] = config.seeds
    env["backend"] = config.backend
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"name": config.name, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "run_dir": str(run_dir), "duration_s": duration_s, "ci_level": 1 - boot.alpha,
                "n_resamples": boot.n_resamples},
        "task": {"name": data.name, "type": data.type, "labels": labels,
                 "n_train": len(data.train), "n_train_per_source": {s: len(d) for s, d in data.trains.items()}},
        "source_languages": list(config.sources),
        "languages": [{"code": lang, "name": resolve_language(lang).name, "resource": data.resource.get(lang)}
                      for lang in config.target_languages],
        "setups": [{"name": name, "description": describe_qa_setup(s) if data.type == "generative_qa"
                    else describe_setup(name, s)} for name, s in config.setups.items()],
        "baseline": config.baseline,
        "primary_metric": primary,
        "records": records,
        "comparisons": comparisons,
        "summary": summary,
        "transfer_matrix": build_transfer_matrix(config, records, comparisons, primary),
        "forgetting": _forgetting(config, run_dir),
        "diagnostics": _diagnostics(run_dir),
        "examples": qa_examples(config, cells) if data.type == "generative_qa" else [],
        "cards": data.cards,
        "environment": env,
    }
