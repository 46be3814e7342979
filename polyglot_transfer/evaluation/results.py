"""Turn the finished cells of a run into results.json: metrics with bootstrap CIs, chance levels, paired tests
against the baseline with Holm correction across target languages, paired tests of each target's leader,
wins / ties / losses, a recommendation of what to deploy, the transfer matrix (source x target per setup),
forgetting and tokenizer diagnostics.

Task types (docs/results_schema.md): classification records carry chance levels and a `failed` flag; token
classification (NER) adds one record per entity type (`entity_f1:PER`, ...); generative QA scores each cell
through its metric views (evaluation/qa_setups.qa_view) and adds a few example answers. Chance levels and
`failed` are defined for classification only: for NER and QA they are left absent.

results.json is written through one typed model (polyglot_transfer.evaluation.results_model.Results,
schema_version 2, documented in docs/results_schema.md); the report reads it through the same model. Every
record, comparison and summary row names its `source`; the grid is setup x source x target x seed.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.evaluation.qa_setups import describe_qa_setup, qa_view
from polyglot_transfer.evaluation.results_model import SCHEMA_VERSION, validate_results
from polyglot_transfer.evaluation.run_folder import (
    DIAGNOSTICS_FILE,
    cell_path,
    describe_setup,
    forgetting_path,
    model_dir,
    read_cell,
    read_json_file,
    trains_encoder,
)
from polyglot_transfer.evaluation.task_data import TaskData
from polyglot_transfer.measure import stats as _stats
from polyglot_transfer.measure.metrics import get_metric
from polyglot_transfer.measure.stats import (
    bootstrap_ci,
    bootstrap_ci_over_seeds,
    holm_correction,
    mcnemar_test,
    paired_bootstrap_test,
    wins_ties_losses,
)

__all__ = ["SCHEMA_VERSION", "PRIMARY_METRIC", "build_results", "build_transfer_matrix", "chance_levels", "qa_examples"]

PRIMARY_METRIC = "macro_f1"
#: Transfer labels of a transfer-matrix cell against the baseline setup.
TRANSFER_LABELS = {"win": "positive", "loss": "negative", "tie": "inconclusive", "both_failed": "failed"}
#: Random draws used to estimate the expected score of uniformly random predictions (metrics other than accuracy).
UNIFORM_DRAWS = 200
_EPS = 1e-9
#: A score within this of the chance level counts as "at" it (chance levels are stored rounded to 6 decimals).
CHANCE_TOLERANCE = 1e-6

Cells = dict[tuple[str, str, str], list[dict[str, Any]]]  # (setup, source, target) -> one cell per seed
#: How a metric reads a cell: (metric, y_true, y_pred, paired), or None where the metric does not apply.
View = Callable[[str, Any, dict[str, Any]], "tuple[Any, list, list, bool] | None"]


def _plain_view(metric_name: str, metric: Any, run: dict[str, Any]) -> tuple[Any, list, list, bool]:
    return metric, run["y_true"], run["y_pred"], True


def _qa_view(metric_name: str, metric: Any, run: dict[str, Any]) -> tuple[Any, list, list, bool] | None:
    return qa_view(metric_name, run)


def _view_of(data: TaskData | None) -> View:
    return _qa_view if data is not None and data.type == "generative_qa" else _plain_view


def _scored_metrics(config: CompareConfig, data: TaskData) -> list[tuple[str, Any]]:
    """(record name, metric) for the config's metrics, plus the per-type metric of a task that has one
    (NER: entity_f1:PER, entity_f1:LOC, ...: one record per entity type of the tag set)."""
    out = [(name, get_metric(name)) for name in config.metrics]
    per_type = data.task.task_type.per_type_metric if data.task is not None else None
    if per_type:
        from polyglot_transfer.measure.ner import entity_types

        out += [(f"{per_type}:{kind}", get_metric(per_type, entity_type=kind)) for kind in entity_types(data.labels)]
    return out


def _read_cells(run_dir: Path, config: CompareConfig) -> Cells:
    """Every cell of the grid, validated (read_cell); DataError listing what is missing or damaged."""
    cells: Cells = {}
    missing = []
    for setup in config.setups:
        for source in config.sources:
            for lang in config.target_languages:
                runs = []
                for seed in config.seeds:
                    path = cell_path(run_dir, seed, source, setup, lang)
                    cell = read_cell(path)
                    if cell is None:
                        missing.append(path)
                        continue
                    runs.append(cell)
                cells[setup, source, lang] = runs
    if missing:
        raise DataError(f"{len(missing)} cell(s) are missing or damaged, e.g. {missing[0]}: the run did not finish. "
                        "Rerun the same command to resume (damaged cells are computed again).")
    return cells


_CHOSEN_KEYS = {"adapt": ("C",), "retrieval": ("k", "temperature"), "combine": ("combine_weight",)}


def _chosen_text(cells: Cells, setup: str) -> str:
    """What a setup's hyper-parameters were and on what they were chosen (the cells' `selected` records,
    written by the runner: source data only), e.g. "; C=30 (5-fold stratified CV on eng_Latn train, macro-F1)".
    One phrase per distinct choice over sources and seeds; "" when the cells record none."""
    phrases: list[str] = []
    several_sources = len({source for _, source, _ in cells}) > 1
    for (name, source, _lang), runs in cells.items():
        if name != setup:
            continue
        for cell in runs:
            for part, keys in _CHOSEN_KEYS.items():
                chosen = (cell.get("selected") or {}).get(part)
                if not isinstance(chosen, dict) or not any(k in chosen for k in keys):
                    continue
                values = ", ".join(f"{k}={chosen[k]:g}" if isinstance(chosen[k], int | float) else f"{k}={chosen[k]}"
                                   for k in keys if k in chosen)
                where = f"; source {source}" if several_sources else ""
                phrase = f"{values} ({chosen.get('by', 'how: not recorded')}{where})"
                if phrase not in phrases:
                    phrases.append(phrase)
    return "; hyper-parameters: " + "; ".join(phrases) if phrases else ""


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(float(x)) else None


def _verdict(delta: float, p_adjusted: float, alpha: float) -> str:
    if p_adjusted <= alpha and delta > 0:
        return "win"
    if p_adjusted <= alpha and delta < 0:
        return "loss"
    return "tie"


def chance_levels(y_true: list[str], labels: list[str], metrics: list[str]) -> list[dict[str, Any]]:
    """Per metric, the score of always predicting the most frequent test label (`majority`) and the expected
    score of uniformly random labels (`uniform`: 1/K for accuracy, a seeded average of UNIFORM_DRAWS draws
    otherwise), computed from the test labels."""
    counts = Counter(y_true)
    majority_label = max(labels, key=lambda lab: (counts.get(lab, 0), -labels.index(lab)))
    rng = np.random.default_rng(0)
    draws = [list(rng.choice(labels, size=len(y_true))) for _ in range(UNIFORM_DRAWS)]
    out = []
    for name in metrics:
        metric = get_metric(name)
        majority = float(metric(np.asarray(y_true), np.asarray([majority_label] * len(y_true)), labels))
        if name == "accuracy":
            uniform = 1.0 / len(labels)
        else:
            uniform = float(np.mean([metric(np.asarray(y_true), np.asarray(d), labels) for d in draws]))
        out.append({"metric": name, "majority": round(majority, 6), "uniform": round(uniform, 6),
                    "majority_label": majority_label})
    return out


def _records(config: CompareConfig, cells: Cells, labels: list[str],
             chance: dict[tuple[str, str], float] | None, metrics: list[tuple[str, Any]] | None = None,
             view: View = _plain_view) -> list[dict[str, Any]]:
    """One record per setup x source x target x metric (a metric that does not apply to a setup, e.g. the
    gold-passage recall of a setup that retrieves nothing, has no record).

    `chance` (classification only, else None): `failed` when the value is at or below the target's chance
    level on that metric (the higher of the majority-class and uniform-random scores). Without chance levels
    (NER, QA) records have no `failed` key.
    """
    boot = config.bootstrap
    records = []
    metrics = metrics if metrics is not None else [(name, get_metric(name)) for name in config.metrics]
    for (setup, source, lang), runs in cells.items():
        for metric_name, metric in metrics:
            views = [view(metric_name, metric, r) for r in runs]
            if any(v is None for v in views):
                continue
            scored = views[0][0]
            if len(runs) == 1:
                ci = bootstrap_ci(scored, views[0][1], views[0][2], labels,
                                  n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            else:
                ci = bootstrap_ci_over_seeds(scored, [(v[1], v[2]) for v in views], labels,
                                             n_resamples=boot.n_resamples, alpha=boot.alpha, seed=0)
            value = _finite(ci.value)
            record = {"setup": setup, "source": source, "language": lang, "metric": metric_name,
                      "value": value, "ci_low": _finite(ci.low), "ci_high": _finite(ci.high),
                      "n": len(views[0][1]),
                      "seed": runs[0]["seed"] if len(runs) == 1 else None,
                      "seeds": [r["seed"] for r in runs],
                      "missing_reason": None if value is not None else "the metric is undefined on these predictions"}
            if chance is not None:
                level = chance.get((lang, metric_name))
                record["failed"] = value is not None and level is not None and value <= level + CHANCE_TOLERANCE
            records.append(record)
    return records


def _paired(metric_name: str, a: list[dict[str, Any]], b: list[dict[str, Any]], labels: list[str],
            config: CompareConfig, view: View = _plain_view) -> dict[str, Any] | None:
    """Paired test of setup a against setup b on one target (seeds paired seed by seed, concatenated).

    macro-F1 and other metrics use the paired bootstrap; accuracy uses McNemar's test for the p-value (the CI
    of the difference still comes from the paired bootstrap). None where the metric does not apply to one
    of them or the two do not share gold to pair on (QA's supported-answer share).
    """
    boot = config.bootstrap
    metric = get_metric(metric_name)
    va, vb = [view(metric_name, metric, r) for r in a], [view(metric_name, metric, r) for r in b]
    if not va or any(v is None or not v[3] for v in va + vb):
        return None
    y_true = [y for v in va for y in v[1]]
    pred_a, pred_b = [y for v in va for y in v[2]], [y for v in vb for y in v[2]]
    test = paired_bootstrap_test(va[0][0], y_true, pred_a, pred_b, labels,
                                 n_resamples=boot.n_resamples, seed=0, alpha=boot.alpha)
    row = {"delta": test.delta, "ci_low": _finite(test.low), "ci_high": _finite(test.high),
           "p_value": test.p_value, "test": "paired_bootstrap"}
    if metric_name == "accuracy":
        mc = mcnemar_test(y_true, pred_a, pred_b)
        row.update(p_value=mc.p_value, test="mcnemar",
                   mcnemar={"b": mc.b, "c": mc.c, "statistic": mc.statistic, "exact": mc.exact})
    return row


def _comparisons(config: CompareConfig, cells: Cells, labels: list[str],
                 failed: dict[tuple[str, str, str, str], bool], view: View = _plain_view) -> list[dict[str, Any]]:
    """Each setup vs the baseline (same source), per target and metric; Holm across targets.

    Where both the setup and the baseline are at or below the majority class the verdict is `both_failed`:
    a difference between two failed predictors is not a win or a loss.
    """
    comparisons: list[dict[str, Any]] = []
    if not config.baseline:
        return comparisons
    base = config.baseline
    for setup in config.setups:
        if setup == base:
            continue
        for source in config.sources:
            for metric_name in config.metrics:
                rows = []
                for lang in config.target_languages:
                    test = _paired(metric_name, cells[setup, source, lang], cells[base, source, lang], labels,
                                   config, view)
                    if test is None:  # not scored for one of them, or nothing shared to pair on
                        continue
                    rows.append({"setup": setup, "baseline": base, "source": source, "language": lang,
                                 "metric": metric_name, **test})
                for row, p_adj in zip(rows, holm_correction([r["p_value"] for r in rows])):
                    row["p_adjusted"] = p_adj
                    both = (failed.get((setup, source, row["language"], metric_name))
                            and failed.get((base, source, row["language"], metric_name)))
                    row["verdict"] = "both_failed" if both else _verdict(row["delta"], p_adj, config.bootstrap.alpha)
                comparisons.extend(rows)
    return comparisons


def _leader_tests(config: CompareConfig, cells: Cells, labels: list[str],
                  value: dict[tuple[str, str, str, str], float | None],
                  comparisons: list[dict[str, Any]], view: View = _plain_view) -> list[dict[str, Any]]:
    """Per source x metric x target: the leader (highest value) against every other setup, paired. The first
    `other` is the runner-up.

    Every pair has exactly one test, so no two sentences of the report can disagree: a pair that involves
    the baseline is decided by its `comparisons` record (family "baseline": Holm across targets); the other
    pairs are tested here and Holm-corrected among themselves (family "leader": source x metric x target).
    """
    alpha = config.bootstrap.alpha
    vs_base = {(c["setup"], c["source"], c["language"], c["metric"]): c for c in comparisons}
    out = []
    for source in config.sources:
        for metric_name in config.metrics:
            for lang in config.target_languages:
                scored = [(s, v) for s in config.setups if (v := value.get((s, source, lang, metric_name))) is not None]
                if len(scored) < 2:
                    continue
                scored.sort(key=lambda sv: -sv[1])  # stable: config order breaks exact ties
                leader = scored[0][0]
                rows, own = [], []
                for i, (other, _) in enumerate(scored[1:]):
                    base = {"source": source, "language": lang, "metric": metric_name, "leader": leader,
                            "other": other, "runner_up": i == 0}
                    pair_setup = other if leader == config.baseline else leader
                    if config.baseline in (leader, other) and (pair_setup, source, lang, metric_name) in vs_base:
                        setup, sign = (other, -1.0) if leader == config.baseline else (leader, 1.0)
                        c = vs_base[setup, source, lang, metric_name]
                        lo, hi = c["ci_low"], c["ci_high"]
                        rows.append({**base, "delta": sign * c["delta"],
                                     "ci_low": lo if sign > 0 or hi is None else -hi,
                                     "ci_high": hi if sign > 0 or lo is None else -lo,
                                     "p_value": c["p_value"], "p_adjusted": c["p_adjusted"], "test": c["test"],
                                     "family": "baseline",
                                     "significant": bool(c["p_adjusted"] <= alpha and sign * c["delta"] > 0)})
                        continue
                    row = _paired(metric_name, cells[leader, source, lang], cells[other, source, lang], labels, config,
                                  view)
                    if row is None:  # nothing shared to pair on (QA's supported-answer share)
                        continue
                    row.pop("mcnemar", None)
                    rows.append({**base, **row, "family": "leader"})
                    own.append(rows[-1])
                for row, p_adj in zip(own, holm_correction([r["p_value"] for r in own])):
                    row["p_adjusted"] = p_adj
                    row["significant"] = bool(p_adj <= alpha and row["delta"] > 0)
                out.extend(rows)
    return out


def _overall_test(config: CompareConfig, cells: Cells, labels: list[str], source: str, metric_name: str,
                  leader: str, other: str, view: View = _plain_view) -> dict[str, Any] | None:
    """Stratified paired bootstrap of the mean over targets: examples are resampled within each target,
    the metric is computed per target and averaged. Two-sided p-value as in paired_bootstrap_test. None where
    the two do not share gold to pair on."""
    boot = config.bootstrap
    rng = np.random.default_rng(0)
    deltas = np.zeros(boot.n_resamples)
    observed = 0.0
    for lang in config.target_languages:
        base_metric = get_metric(metric_name)
        va = [view(metric_name, base_metric, r) for r in cells[leader, source, lang]]
        vb = [view(metric_name, base_metric, r) for r in cells[other, source, lang]]
        if not va or any(v is None or not v[3] for v in va + vb):
            return None
        metric = va[0][0]
        y_true, (pa, pb), labs = _stats._prepare([y for v in va for y in v[1]],
                                                 [[y for v in va for y in v[2]],
                                                  [y for v in vb for y in v[2]]], labels,
                                                 _stats._uses_labels(metric))
        observed += float(metric(y_true, pa, labs)) - float(metric(y_true, pb, labs))
        index = _stats._draw_index(rng, boot.n_resamples, len(y_true))
        scores = _stats._bootstrap_scores(metric, y_true, [pa, pb], labs, index)
        deltas += scores[:, 0] - scores[:, 1]
    k = len(config.target_languages)
    observed, deltas = observed / k, deltas / k
    if abs(observed) <= _EPS:
        p_value = 1.0
    else:
        p_value = min(1.0, 2.0 * float(np.sum(np.sign(observed) * deltas <= _EPS)) / boot.n_resamples)
    low, high = np.quantile(deltas, [boot.alpha / 2, 1 - boot.alpha / 2])
    return {"leader": leader, "other": other, "delta": observed, "ci_low": _finite(low), "ci_high": _finite(high),
            "p_value": p_value, "significant": bool(p_value <= boot.alpha and observed > 0),
            "test": "stratified_paired_bootstrap"}


def _recommendation(config: CompareConfig, cells: Cells, labels: list[str], records: list[dict[str, Any]],
                    leader_tests: list[dict[str, Any]], metric_name: str,
                    view: View = _plain_view) -> dict[str, Any]:
    """What to deploy, on the primary source and metric: the best mean over targets (tested against the
    runner-up), with per-target exceptions where another setup is significantly better there."""
    source = config.sources[0]
    rec = {(r["setup"], r["language"]): r for r in records if r["source"] == source and r["metric"] == metric_name}
    targets = list(config.target_languages)
    means = {}
    for setup in config.setups:
        vals = [rec[setup, t]["value"] for t in targets if (setup, t) in rec]
        if len(vals) == len(targets) and all(v is not None for v in vals):
            means[setup] = float(np.mean(vals))
    tests = [t for t in leader_tests if t["source"] == source and t["metric"] == metric_name]
    languages = []
    for lang in targets:
        scored = sorted(((s, rec[s, lang]) for s in config.setups if rec.get((s, lang), {}).get("value") is not None),
                        key=lambda sr: -sr[1]["value"])
        failed = [s for s, r in scored if r.get("failed")]  # no `failed` (NER, QA): none counted as failed
        if not scored or len(failed) == len(scored):
            languages.append({"language": lang, "status": "failed", "choice": [], "failed": failed})
            continue
        if len(scored) == 1:
            languages.append({"language": lang, "status": "single", "choice": [scored[0][0]], "failed": failed})
            continue
        leader = scored[0][0]
        # a setup the leader is not significantly better than is tied with it (also when no paired test
        # exists for the pair, e.g. a QA metric scored on each setup's own passages)
        beaten = {t["other"] for t in tests if t["language"] == lang and t["leader"] == leader and t["significant"]}
        choice = [leader] + [s for s, _ in scored[1:] if s not in beaten and s not in failed]
        languages.append({"language": lang, "status": "best" if len(choice) == 1 else "tied", "choice": choice,
                          "failed": failed})
    out: dict[str, Any] = {"source": source, "metric": metric_name, "means": means, "n_targets": len(targets),
                           "overall": [], "status": "none", "test": None, "exceptions": {}, "languages": languages}
    if not means:
        return out
    order = sorted(means, key=lambda s: -means[s])
    leader = order[0]
    if len(order) == 1:
        out.update(overall=[leader], status="single")
        return out
    test = _overall_test(config, cells, labels, source, metric_name, leader, order[1], view)
    out["test"] = test
    exceptions = {}
    for choice in languages:
        lang = choice["language"]
        if choice["status"] not in ("best", "tied") or choice["choice"][0] == leader:
            continue
        against = next((t for t in tests if t["language"] == lang and t["leader"] == choice["choice"][0]
                        and t["other"] == leader), None)
        if against is not None and against["significant"]:
            exceptions[lang] = choice["choice"][0]
    out["exceptions"] = exceptions
    if exceptions:
        out.update(overall=[leader], status="per_language")
    elif test is not None and test["significant"]:
        out.update(overall=[leader], status="best")
    else:
        out.update(overall=[leader, order[1]], status="tied")
    return out


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
                rec = value.get((setup, source, target))
                if rec is None:  # the metric does not score this setup
                    continue
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
                    c = tests.get((setup, source, target))
                    if c is None:  # no paired test on this metric (nothing shared to pair on)
                        cell.update(label=None, vs_baseline=None)
                        cells.append(cell)
                        continue
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
                if r is not None and r.get("seen_doc_ids") is not None and r.get("gold_doc_ids") is not None:
                    retrieved[setup] = bool(set(r["gold_doc_ids"][i]) & set(r["seen_doc_ids"][i]))
            out.append({"language": lang, "id": qid, "question": first["questions"][i], "gold": first["y_true"][i],
                        "answers": {setup: (r["y_pred"][i] if r is not None else None) for setup, r in runs.items()},
                        "gold_retrieved": retrieved})
    return out


def ner_examples(config: CompareConfig, cells: Cells, per_language: int = 3) -> list[dict[str, Any]]:
    """A few test sentences per target (first seed, primary source) that hold a gold entity: the words, the
    gold tags and each setup's tags. Cells written before the words were recorded give none."""
    out = []
    source, seed = config.sources[0], config.seeds[0]
    for lang in config.target_languages:
        runs = {setup: next((r for r in cells[setup, source, lang] if r["seed"] == seed), None) for setup in config.setups}
        first = next((r for r in runs.values() if r is not None and r.get("tokens") is not None), None)
        if first is None:
            continue
        shown = [i for i, tags in enumerate(first["y_true"]) if any(t != "O" for t in tags)][:per_language]
        for i in shown:
            out.append({"language": lang, "id": first["ids"][i], "tokens": first["tokens"][i], "gold": first["y_true"][i],
                        "predicted": {setup: (r["y_pred"][i] if r is not None else None) for setup, r in runs.items()}})
    return out


def _forgetting(config: CompareConfig, run_dir: Path) -> list[dict[str, Any]]:
    """One row per (setup that trains the encoder, source): before / after / drop, mean over seeds.

    Damaged score files are skipped with a warning (the rerun measures them again)."""

    rows = []
    for name, setup in config.setups.items():
        if not trains_encoder(setup):
            continue
        for source in config.sources:
            found = []
            for seed in config.seeds:
                path = forgetting_path(run_dir, model_dir(run_dir, config, setup, source, seed))
                f = read_json_file(path, what="forgetting score")
                if isinstance(f, dict) and all(_finite(f.get(k)) is not None for k in ("before", "after", "drop")):
                    found.append(f)
            if not found:
                continue
            mean = {k: sum(float(f[k]) for f in found) / len(found) for k in ("before", "after", "drop")}
            rows.append({"setup": name, "language": source, **mean, "metric": found[0].get("metric", "macro_f1"),
                         "mode": found[0].get("mode", "probe"), "seeds": [f.get("seed", 0) for f in found],
                         "drop_per_seed": [float(f["drop"]) for f in found],
                         "n": found[0].get("n_eval")})
    return rows


def _diagnostics(run_dir: Path) -> list[dict[str, Any]]:
    found = read_json_file(run_dir / DIAGNOSTICS_FILE, what="diagnostics file")
    return found if isinstance(found, list) else []


def build_results(config: CompareConfig, data: TaskData, run_dir: Path, *, duration_s: float | None = None,
                  config_path: str | Path | None = None) -> dict:
    """results.json of a finished run, validated by the typed model (schema: docs/results_schema.md).

    `config_path`: the config file the user ran (when known); `resolved_config`: the run folder's
    config.resolved.yaml (the config as run, overrides included).
    """
    from polyglot_transfer.languages import resolve_language

    run_dir = Path(run_dir)
    boot = config.bootstrap
    cells = _read_cells(run_dir, config)
    labels = data.labels
    task_type = data.type
    view = _view_of(data)
    wanted = data.task.primary_metric if data.task is not None else PRIMARY_METRIC
    primary = wanted if wanted in config.metrics else config.metrics[0]
    languages = []
    # Chance levels (and so `failed`) are defined for classification only: a fixed label set to draw from.
    # NER (tags per token, entity-level scores) and generative QA (free text) have none: left absent.
    majority: dict[tuple[str, str], float] | None = {} if task_type == "classification" else None
    for lang in config.target_languages:
        y_true = list(cells[next(iter(config.setups)), config.sources[0], lang][0]["y_true"])
        entry = {"code": lang, "name": resolve_language(lang).name, "resource": data.resource.get(lang),
                 "n_test": len(y_true)}
        if majority is not None:
            chance = chance_levels(y_true, labels, list(config.metrics))
            majority.update({(lang, c["metric"]): max(c["majority"], c["uniform"]) for c in chance})
            entry["chance"] = chance
        languages.append(entry)
    records = _records(config, cells, labels, majority, _scored_metrics(config, data), view)
    failed = {(r["setup"], r["source"], r["language"], r["metric"]): bool(r.get("failed")) for r in records}
    value = {(r["setup"], r["source"], r["language"], r["metric"]): r["value"] for r in records}
    comparisons = _comparisons(config, cells, labels, failed, view)
    leader_tests = _leader_tests(config, cells, labels, value, comparisons, view)
    summary = []
    for setup in config.setups:
        for source in config.sources:
            rows = [c for c in comparisons if c["setup"] == setup and c["source"] == source and c["metric"] == primary]
            if rows:
                counted = [c for c in rows if c["verdict"] != "both_failed"]
                summary.append({"setup": setup, "source": source, "metric": primary,
                                **wins_ties_losses(counted, alpha=boot.alpha),
                                "both_failed": len(rows) - len(counted)})

    manifest = read_json_file(run_dir / "manifest.json", what="manifest")
    manifest = manifest if isinstance(manifest, dict) else {}
    env = dict(manifest.get("environment", {}))
    if "model" in manifest:
        env["models"] = {config.model: manifest["model"]}
    env["seeds"] = config.seeds
    env["backend"] = config.backend
    resolved = run_dir / "config.resolved.yaml"
    results = {
        "schema_version": SCHEMA_VERSION,
        "run": {"name": config.name, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "run_dir": str(run_dir), "config_path": str(config_path) if config_path else None,
                "resolved_config": str(resolved) if resolved.is_file() else None,
                "duration_s": duration_s, "ci_level": 1 - boot.alpha, "alpha": boot.alpha,
                "n_resamples": boot.n_resamples},
        "task": {"name": data.name, "type": task_type, "labels": labels,
                 "n_train": len(data.train), "n_train_per_source": {s: len(d) for s, d in data.trains.items()}},
        "source_languages": list(config.sources),
        "languages": languages,
        "setups": [{"name": name, "description": (describe_qa_setup(s) if task_type == "generative_qa"
                                                   else describe_setup(name, s)) + _chosen_text(cells, name)}
                   for name, s in config.setups.items()],
        "baseline": config.baseline,
        "primary_metric": primary,
        "records": records,
        "comparisons": comparisons,
        "leader_tests": leader_tests,
        "summary": summary,
        "recommendation": _recommendation(config, cells, labels, records, leader_tests, primary, view),
        "transfer_matrix": build_transfer_matrix(config, records, comparisons, primary),
        "forgetting": _forgetting(config, run_dir),
        "diagnostics": _diagnostics(run_dir),
        "examples": qa_examples(config, cells) if task_type == "generative_qa" else [],
        **({"ner_examples": ner_examples(config, cells)} if task_type == "token_classification" else {}),
        "cards": data.cards,
        "environment": env,
    }
    # One schema: what is written is exactly what the report reads (a field missing from the model fails here).
    return validate_results(results, where="results built from " + str(run_dir)).to_json_dict()
