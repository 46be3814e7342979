"""Turn a results dict (the content of ``results.json``) into a Markdown and a self-contained HTML report.

The Markdown report is for reviewers and version control; the HTML report is one file a non-engineer
can open anywhere: inline CSS, inline SVG plots, a tiny inline script, no external URL of any kind.
Both are built from the same prepared view (:class:`_View`) so they always agree.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import DataError, PGTError
from polyglot_transfer.evaluation import plots
from polyglot_transfer.evaluation.glance import Claim, glance
from polyglot_transfer.evaluation.glance import metric_label as _metric_label
from polyglot_transfer.evaluation.report_templates import TASK_SECTIONS, Raw, e, md_escape, render_section
from polyglot_transfer.evaluation.results_model import SCHEMA_VERSION, Results, validate_results
from polyglot_transfer.fileio import atomic_write_text
from polyglot_transfer.measure.ner import sentence_entities

__all__ = [
    "PRIMARY_METRIC",
    "metric_label",
    "SCHEMA_VERSION",
    "plain_summary",
    "write_html",
    "write_markdown",
    "write_reports",
]

logger = logging.getLogger(__name__)

#: The metric the summary, heatmap and CI plots use when the run has it.
PRIMARY_METRIC = "macro_f1"
METRIC_LABELS: dict[str, str] = {
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "weighted_f1": "weighted-F1",
    "f1": "F1",
    "accuracy": "accuracy",
    "exact_match": "exact match",
    "chrf": "chrF",
    "bleu": "BLEU",
    "recall_at_k": "recall@k",
    "mrr": "MRR",
}
#: Metrics where a smaller number is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"loss", "perplexity", "cer", "wer", "ece", "brier", "ter"})
_BETTER = frozenset({"win", "better", "significantly_better", "sig_better", "significantly better"})
_WORSE = frozenset({"loss", "worse", "significantly_worse", "sig_worse", "significantly worse"})
_TIE = frozenset({"tie", "inconclusive", "no_difference", "not_significant"})
#: How a missing value is shown (never "n/a", never "not run" for a key that is simply absent, never NaN).
MISSING = "—"
MARK_BETTER = "▲"
MARK_WORSE = "▼"
_EPS = 1e-9


# --------------------------------------------------------------------------------------------------
# The prepared view: validated, indexed, display-ordered
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lang:
    code: str
    name: str
    resource: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.name and self.name != self.code else self.code


@dataclass(frozen=True)
class _Setup:
    name: str
    description: str = ""


@dataclass
class _Cell:
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    seeds: list[Any]
    best: bool = False
    mark: str = ""  # "better", "worse", "tie" or "" (no comparison)
    reason: str | None = None  # why value is missing, when the record says
    failed: bool = False  # at or below the majority class


@dataclass
class _View:
    results: Mapping[str, Any]
    title: str
    run: Mapping[str, Any]
    task: Mapping[str, Any]
    source_languages: list[str]
    languages: list[_Lang]
    setups: list[_Setup]
    baseline: str | None
    metrics: list[str]
    primary: str | None
    cells: dict[tuple[str, str, str], _Cell]
    comparisons: list[Mapping[str, Any]]
    summary: list[Mapping[str, Any]]
    forgetting: list[Mapping[str, Any]]
    diagnostics: list[Mapping[str, Any]]
    cards: list[Mapping[str, Any]]
    environment: Mapping[str, Any]
    multi_seed: bool = False
    sentences: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    model: Results | None = None
    seeds: list[int] = field(default_factory=list)

    def cell(self, metric: str, lang: str, setup: str) -> _Cell | None:
        return self.cells.get((metric, lang, setup))

    def lang_label(self, code: str) -> str:
        for lang in self.languages:
            if lang.code == code:
                return lang.label
        return code


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: object) -> float | None:
    return float(x) if _is_number(x) else None


def _as_list(results: Mapping[str, Any], key: str) -> list[Any]:
    value = results.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise DataError(
            f"results[{key!r}] is a {type(value).__name__}; expected a list (possibly empty). "
            "Check that results.json was written by the evaluator."
        )
    return list(value)


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataError(f"{where} is a {type(value).__name__}; expected an object (dict).")
    return value


def metric_label(metric: str) -> str:
    """Human name of a metric ("macro_f1" -> "macro-F1")."""
    return _metric_label(metric)


def _ordered_unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _of_primary_source(results: Mapping[str, Any], rows: list[Any]) -> list[Any]:
    """Rows trained on the first source language (rows without a `source` key are kept).

    With several sources the per-language tables show the first source; the transfer matrix section
    shows every source.
    """
    sources = [str(x) for x in _as_list(results, "source_languages")]
    if len(sources) < 2:
        return rows
    return [r for r in rows if not isinstance(r, Mapping) or r.get("source") in (None, sources[0])]


def _prepare(results: Mapping[str, Any]) -> _View:
    """Validate ``results`` and index it for the writers. Raises DataError on malformed input."""
    model = validate_results(results if not isinstance(results, Mapping) else dict(results))
    results = model.to_json_dict()
    run = _as_mapping(results.get("run"), "results['run']")
    task = _as_mapping(results.get("task"), "results['task']")

    raw_records = _of_primary_source(results, _as_list(results, "records"))
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for i, rec in enumerate(raw_records):
        if not isinstance(rec, Mapping):
            raise DataError(f"records[{i}] is a {type(rec).__name__}; expected an object with keys "
                            "setup, language, metric, value.")
        missing = [k for k in ("setup", "language", "metric") if k not in rec]
        if missing:
            raise DataError(
                f"records[{i}] is missing {', '.join(repr(m) for m in missing)}; expected keys setup, language, "
                "metric, value (ci_low, ci_high, n, seed optional)."
            )
        value = rec.get("value")
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            raise DataError(
                f"records[{i}]['value'] is {value!r}; expected a number or null. "
                "Check the metric computation that produced it."
            )
        key = (str(rec["metric"]), str(rec["language"]), str(rec["setup"]))
        grouped.setdefault(key, []).append(rec)

    setups: list[_Setup] = []
    for i, s in enumerate(_as_list(results, "setups")):
        if isinstance(s, str):
            setups.append(_Setup(s))
        elif isinstance(s, Mapping) and "name" in s:
            setups.append(_Setup(str(s["name"]), str(s.get("description") or "")))
        else:
            raise DataError(f"setups[{i}] is {s!r}; expected {{'name': ..., 'description': ...}} or a name.")
    known = {s.name for s in setups}
    for _, _, setup in grouped:
        if setup not in known:
            known.add(setup)
            setups.append(_Setup(setup))

    languages: list[_Lang] = []
    for i, lang in enumerate(_as_list(results, "languages")):
        if isinstance(lang, str):
            languages.append(_Lang(lang, lang))
        elif isinstance(lang, Mapping) and "code" in lang:
            languages.append(_Lang(str(lang["code"]), str(lang.get("name") or lang["code"]),
                                   lang.get("resource")))
        else:
            raise DataError(f"languages[{i}] is {lang!r}; expected {{'code': 'yor_Latn', 'name': ...}} or a code.")
    known_langs = {lang.code for lang in languages}
    for _, code, _ in grouped:
        if code not in known_langs:
            known_langs.add(code)
            languages.append(_Lang(code, code))

    metrics = _ordered_unique(m for m, _, _ in grouped)
    metrics.sort(key=lambda m: (m != PRIMARY_METRIC, m != "accuracy"))  # stable: others keep their order
    primary = metrics[0] if metrics else None

    cells: dict[tuple[str, str, str], _Cell] = {}
    multi_seed = False
    for key, recs in grouped.items():
        vals = [v for v in (_num(r.get("value")) for r in recs) if v is not None]
        lows = [v for v in (_num(r.get("ci_low")) for r in recs) if v is not None]
        highs = [v for v in (_num(r.get("ci_high")) for r in recs) if v is not None]
        ns = [int(r["n"]) for r in recs if _is_number(r.get("n"))]
        if len(recs) > 1 or any(len(r.get("seeds") or []) > 1 for r in recs):
            multi_seed = True
        cells[key] = _Cell(
            value=sum(vals) / len(vals) if vals else None,
            low=sum(lows) / len(lows) if lows and len(lows) == len(vals) else None,
            high=sum(highs) / len(highs) if highs and len(highs) == len(vals) else None,
            n=max(ns) if ns else None,
            seeds=[r.get("seed") for r in recs],
            reason=next((str(r["missing_reason"]) for r in recs if r.get("missing_reason")), None),
            failed=any(bool(r.get("failed")) for r in recs),
        )

    comparisons = [c for c in _of_primary_source(results, _as_list(results, "comparisons")) if isinstance(c, Mapping)]
    baseline = results.get("baseline")
    if baseline is None:
        bases = _ordered_unique(str(c.get("baseline")) for c in comparisons if c.get("baseline") is not None)
        baseline = bases[0] if len(bases) == 1 else None
    baseline = str(baseline) if baseline is not None else None

    # Significance marks against the baseline.
    for c in comparisons:
        if baseline is None or str(c.get("baseline")) != baseline:
            continue
        verdict = str(c.get("verdict", "")).strip().lower()
        mark = "better" if verdict in _BETTER else "worse" if verdict in _WORSE else "tie" if verdict in _TIE else ""
        cell = cells.get((str(c.get("metric")), str(c.get("language")), str(c.get("setup"))))
        if cell is not None and mark:
            cell.mark = mark

    # Best setup per (metric, language); ties within _EPS are all best.
    for metric in metrics:
        lower = metric in LOWER_IS_BETTER
        for lang in languages:
            vals = {s.name: c.value for s in setups  # a failed setup is never marked best
                    if (c := cells.get((metric, lang.code, s.name))) is not None and c.value is not None
                    and not c.failed}
            if not vals:
                continue
            target = min(vals.values()) if lower else max(vals.values())
            for name, v in vals.items():
                if abs(v - target) <= _EPS:
                    cells[(metric, lang.code, name)].best = True

    title_name = run.get("name") or task.get("name") or "run"
    view = _View(
        results=results,
        title=f"Evaluation report: {title_name}",
        run=run,
        task=task,
        source_languages=[str(x) for x in _as_list(results, "source_languages")],
        languages=languages,
        setups=setups,
        baseline=baseline,
        metrics=metrics,
        primary=primary,
        cells=cells,
        comparisons=comparisons,
        summary=[s for s in _of_primary_source(results, _as_list(results, "summary")) if isinstance(s, Mapping)],
        forgetting=[f for f in _as_list(results, "forgetting") if isinstance(f, Mapping)],
        diagnostics=[d for d in _as_list(results, "diagnostics") if isinstance(d, Mapping)],
        cards=[c for c in _as_list(results, "cards") if isinstance(c, Mapping)],
        environment=_as_mapping(results.get("environment"), "results['environment']"),
        multi_seed=multi_seed,
    )
    view.model = model
    view.seeds = sorted({x for r in model.records for x in r.seeds})
    view.claims = glance(model)
    view.sentences = [c.text for c in view.claims]
    if not cells:
        logger.warning("results for run %r contain no records; the report will only show metadata", title_name)
    return view


# --------------------------------------------------------------------------------------------------
# Plain-language summary
# --------------------------------------------------------------------------------------------------


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _fmt(x: float | None) -> str:
    return MISSING if x is None else f"{x:.2f}"


FORGETTING_TEXT = (
    "What is compared: the score on the source language (held-out source data) of a linear probe trained on the "
    "source's training data, on the frozen pre-trained encoder (before adaptation) and on the adapted model "
    "(after). Drop = before - after: positive means the setup forgot some of the source language, negative means "
    "adapting improved it. Setups that leave the encoder frozen are not listed (nothing to forget).")


def _tests_text(view: _View, code: str) -> str:
    """The summary's sentence on the paired tests of one language (so plots and summary say the same)."""
    for c in view.claims:
        if c.language == code and c.kind in ("differences", "no_differences", "all_failed"):
            return c.text
    return "No paired test was recorded for this language."


def _task_sections(view: _View) -> list[str]:
    return TASK_SECTIONS.get(str(view.task.get("type") or "classification"), [])


def _task_context(view: _View, fmt: str) -> dict[str, Any]:
    """What the task-type templates read: languages with chance levels, metrics, QA rows and examples."""
    model = view.model
    assert model is not None
    metrics = [{"name": m, "label": metric_label(m)} for m in view.metrics]
    languages = []
    for lang in model.languages:
        levels = lang.chance or []  # absent for NER and QA: no chance level is defined there
        chance = {c.metric: c for c in levels}
        languages.append({"code": lang.code, "label": view.lang_label(lang.code), "n_test": lang.n_test,
                          "majority_label": next((c.majority_label for c in levels), None), "chance": chance})
    quality = view.primary or "token_f1"
    retrieval_rows = []
    for lang in view.languages:
        for s in view.setups:
            # the QA runner's metric names (measure/qa.py): gold_passage_recall is recall@k of the gold passage
            q, r = view.cell(quality, lang.code, s.name), view.cell("gold_passage_recall", lang.code, s.name)
            if q is None and r is None:
                continue
            wrap = (lambda c: Raw(_cell_text(c, _md))) if fmt == "md" else _cell_text  # numbers: no escaping needed
            retrieval_rows.append({"language": lang.label, "setup": s.name, "quality": wrap(q),
                                   "recall": wrap(r) if r is not None else f"{MISSING} (no retrieval)"})
    setups = [s.name for s in view.setups]
    groups = []
    for lang in view.languages:
        examples = [x for x in model.examples if x.language == lang.code]
        if examples:
            groups.append({"language": lang.label, "examples": [
                {"question": x.question, "gold": " / ".join(x.gold),
                 "answers": {s: x.answers[s] if x.answers.get(s) is not None else f"{MISSING} (no answer recorded)"
                             for s in setups},
                 "retrieved": {s: x.gold_retrieved.get(s) for s in setups}} for x in examples]})
    return {"metrics": metrics, "languages": languages, "quality": {"name": quality, "label": metric_label(quality)},
            "retrieval_rows": retrieval_rows, "setups": setups, "example_groups": groups,
            **_ner_context(view, fmt, setups)}


def _entity_text(tokens: list[str], tags: list[str] | None) -> str:
    """'Ada Obi (PER); Lagos (LOC)' for one sentence's tags (seqeval strict IOB2 spans), or '(none)'."""
    if tags is None:
        return f"{MISSING} (no prediction recorded)"
    spans = sorted(sentence_entities([list(tags)])[0], key=lambda e: e[1])
    return "; ".join(f"{' '.join(tokens[a:b])} ({kind})" for kind, a, b in spans) or "(none)"


def _ner_context(view: _View, fmt: str, setups: list[str]) -> dict[str, Any]:
    """NER: per-type F1 (language x setup rows, one column per entity type) and example sentences with the
    gold and each setup's entities."""
    model = view.model
    assert model is not None
    prefix = f"{view.primary or 'entity_f1'}:"
    types = sorted({r.metric[len(prefix):] for r in model.records if r.metric.startswith(prefix)})
    wrap = (lambda c: Raw(_cell_text(c, _md))) if fmt == "md" else _cell_text
    type_rows = [{"language": lang.label, "setup": s,
                  "cells": [wrap(view.cell(prefix + t, lang.code, s)) for t in types]}
                 for lang in view.languages for s in setups
                 if any(view.cell(prefix + t, lang.code, s) is not None for t in types)]
    groups = []
    for lang in view.languages:
        rows = [x for x in model.ner_examples if x.language == lang.code]
        if rows:
            groups.append({"language": lang.label, "examples": [
                {"sentence": " ".join(x.tokens), "gold": _entity_text(x.tokens, x.gold),
                 "predicted": {s: _entity_text(x.tokens, x.predicted.get(s)) for s in setups}} for x in rows]})
    return {"entity_types": types, "type_rows": type_rows, "ner_groups": groups}


def plain_summary(results: Mapping[str, Any]) -> list[str]:
    """Plain-language sentences summarising ``results`` (one per target language, then overall)."""
    return list(_prepare(results).sentences)


# --------------------------------------------------------------------------------------------------
# Shared formatting helpers
# --------------------------------------------------------------------------------------------------


def _duration(seconds: object) -> str:
    if not _is_number(seconds):
        return MISSING
    total = float(seconds)  # type: ignore[arg-type]
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(int(round(total)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _cell_text(cell: _Cell | None, esc: Any = str) -> str:
    """Score [CI], or — with the record's reason (passed through `esc`, the output format's escape)."""
    if cell is None:
        return MISSING
    if cell.value is None:
        return f"{MISSING} ({esc(cell.reason)})" if cell.reason else MISSING
    if cell.low is not None and cell.high is not None:
        return f"{cell.value:.2f} [{cell.low:.2f}, {cell.high:.2f}]"
    return f"{cell.value:.2f}"


def _setup_header(view: _View, name: str) -> str:
    return f"{name} (baseline)" if name == view.baseline else name


def _verdict_word(verdict: object) -> str:
    v = str(verdict or "").strip().lower()
    if v in _BETTER:
        return "better"
    if v in _WORSE:
        return "worse"
    if v in _TIE:
        return "inconclusive"
    if v == "both_failed":
        return "both failed (not counted)"
    return v or MISSING


def _p(x: object) -> str:
    if not _is_number(x):
        return MISSING
    x = float(x)  # type: ignore[arg-type]
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _run_facts(view: _View) -> list[tuple[str, str]]:
    run, task = view.run, view.task
    labels = task.get("labels") or []
    task_text = str(task.get("name") or MISSING)
    extra = [str(task["type"])] if task.get("type") else []
    if labels:
        extra.append(f"{len(labels)} labels")
    if extra:
        task_text += f" ({', '.join(extra)})"
    langs = []
    for lang in view.languages:
        bits = [lang.code] + ([f"{lang.resource} resource"] if lang.resource else [])
        langs.append(f"{lang.label} ({', '.join(bits)})" if lang.label != lang.code or lang.resource else lang.code)
    facts = [
        ("Task", task_text),
        ("Run", str(run.get("name") or MISSING)),
        ("Created", str(run.get("created") or MISSING)),
        ("Config", _config_text(run)),
        ("Duration", _duration(run.get("duration_s"))),
        ("Source languages", ", ".join(view.source_languages) or MISSING),
        ("Target languages", ", ".join(langs) or MISSING),
        ("Setups", ", ".join(s.name for s in view.setups) or MISSING),
        ("Baseline", view.baseline or "none"),
    ]
    return facts


def _config_text(run: Mapping[str, Any]) -> str:
    path, resolved = run.get("config_path"), run.get("resolved_config")
    if path and resolved:
        return f"{path} (as run, overrides included: {resolved})"
    return str(path or resolved or f"{MISSING} (results.json records no config path)")


def _hardware_text(hw: object) -> str:
    """The manifest's hardware record as a sentence ("16 CPUs (x86_64), GPU: NVIDIA H200, torch threads 1; Linux-...")."""
    if not hw:
        return f"{MISSING} (not recorded in manifest.json)"
    if not isinstance(hw, Mapping):
        return str(hw)
    cpus = hw.get("cpus")
    bits = [f"{cpus} CPU{'s' if cpus != 1 else ''}" + (f" ({hw['machine']})" if hw.get("machine") else "")
            if cpus else str(hw.get("machine") or "")]
    if hw.get("gpu"):
        bits.append(f"GPU: {hw['gpu']}")
    elif hw.get("cuda") is False:
        bits.append("no GPU")
    if hw.get("torch_threads"):
        bits.append(f"torch threads {hw['torch_threads']}")
    text = ", ".join(b for b in bits if b)
    if hw.get("platform"):
        text += f"; {hw['platform']}"
    extra = [f"{k}: {v}" for k, v in hw.items() if k not in {"cpus", "machine", "gpu", "cuda", "torch_threads",
                                                              "platform"} and v not in (None, "")]
    return "; ".join([text] + extra) if text else "; ".join(extra) or MISSING


def _model_rows(models: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(model, sha256, source) rows from environment.models: a model fingerprint of manifest.json
    (weights_sha256 per file) or a plain {sha256, source}."""
    rows = []
    for name, info in models.items():
        info = info if isinstance(info, Mapping) else {"sha256": info}
        source = str(info.get("source") or MISSING)
        weights = info.get("weights_sha256")
        if isinstance(weights, Mapping) and weights:
            for file, sha in weights.items():
                rows.append((f"{name} ({file})" if len(weights) > 1 else str(name), str(sha), source))
        else:
            rows.append((str(name), str(info.get("sha256") or f"{MISSING} (no hash in manifest.json)"), source))
    return rows


def _extra_items(mapping: Mapping[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    out = []
    for k, v in mapping.items():
        if k in skip or v is None or v == "" or v == []:
            continue
        if isinstance(v, list | tuple):
            v = ", ".join(str(x) for x in v)
        elif isinstance(v, Mapping):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
        out.append((str(k).replace("_", " ").capitalize(), str(v)))
    return out


# --------------------------------------------------------------------------------------------------
# Transfer matrix (source x target per setup)
# --------------------------------------------------------------------------------------------------

_TRANSFER_MARKS = {"positive": MARK_BETTER, "negative": MARK_WORSE}


@dataclass
class _Transfer:
    metric: str
    sources: list[str]
    targets: list[str]
    baseline: str | None
    setups: list[tuple[str, dict[tuple[str, str], Mapping[str, Any]]]]  # setup -> (source, target) -> cell


def _transfer(view: _View) -> _Transfer | None:
    """The validated transfer matrix of ``results['transfer_matrix']``, or None when the run has none."""
    raw = view.results.get("transfer_matrix")
    if not raw:
        return None
    tm = _as_mapping(raw, "results['transfer_matrix']")
    setups = []
    for i, entry in enumerate(tm.get("setups") or []):
        if not isinstance(entry, Mapping) or "setup" not in entry or not isinstance(entry.get("cells"), list):
            raise DataError(f"transfer_matrix.setups[{i}] is {entry!r}; expected {{'setup': name, 'cells': [...]}}.")
        cells = {}
        for j, c in enumerate(entry["cells"]):
            if not isinstance(c, Mapping) or "source" not in c or "target" not in c:
                raise DataError(f"transfer_matrix.setups[{i}].cells[{j}] is {c!r}; expected an object with "
                                "source, target, value (ci_low, ci_high, gap, label optional).")
            cells[str(c["source"]), str(c["target"])] = c
        setups.append((str(entry["setup"]), cells))
    sources = [str(x) for x in tm.get("sources") or _ordered_unique(s for _, c in setups for s, _ in c)]
    targets = [str(x) for x in tm.get("targets") or _ordered_unique(t for _, c in setups for _, t in c)]
    if not setups or not sources or not targets:
        return None
    return _Transfer(str(tm.get("metric") or view.primary or "score"), sources, targets,
                     str(tm["baseline"]) if tm.get("baseline") else None, setups)


def _source_label(view: _View, code: str) -> str:
    """A language's display name, also for sources that are not among the targets."""
    label = view.lang_label(code)
    if label != code:
        return label
    from polyglot_transfer.languages import resolve_language

    try:
        return resolve_language(code).name
    except PGTError:
        return code


def _transfer_cell_text(c: Mapping[str, Any] | None) -> str:
    if c is None or _num(c.get("value")) is None:
        return MISSING
    text = f"{float(c['value']):.2f}"
    if _num(c.get("ci_low")) is not None and _num(c.get("ci_high")) is not None:
        text += f" [{float(c['ci_low']):.2f}, {float(c['ci_high']):.2f}]"
    return text


def _transfer_markdown(view: _View) -> list[str]:
    tm = _transfer(view)
    if tm is None:
        return []
    mlabel = metric_label(tm.metric)
    out = ["", f"## Transfer matrix ({_md(mlabel)})", "",
           "Rows: the source language a setup was trained on; columns: the target language it was tested on."]
    for setup, cells in tm.setups:
        out += ["", f"### {_md(_setup_header(view, setup) if setup == tm.baseline else setup)}", ""]
        rows = []
        for src in tm.sources:
            row = [f"{_md(_source_label(view, src))} ({_md(src)})" if _source_label(view, src) != src else _md(src)]
            for tgt in tm.targets:
                c = cells.get((src, tgt))
                text = _transfer_cell_text(c)
                if c is not None and text != MISSING:
                    if c.get("in_language"):
                        text = f"*{text}*"
                    text += f" {_TRANSFER_MARKS[c['label']]}" if c.get("label") in _TRANSFER_MARKS else ""
                    if _num(c.get("gap")) is not None and not c.get("in_language"):
                        text += f" (gap {float(c['gap']):+.2f})"
                row.append(text)
            rows.append(row)
        out += _md_table(["Source / target"] + [_md(view.lang_label(t)) for t in tm.targets], rows)
        labels = [c.get("label") for c in cells.values()]
        if any(lbl in ("positive", "negative", "inconclusive") for lbl in labels):
            failed = labels.count("failed")
            out += ["", f"Against {_md(tm.baseline)}: {labels.count('positive')} positive, "
                        f"{labels.count('negative')} negative, {labels.count('inconclusive')} inconclusive"
                        + (f", {failed} where both failed (not counted)." if failed else ".")]
    legend = ("Cells: mean over seeds [confidence interval]; *italic*: trained and tested on the same language "
              "(in-language). Gap: in-language score of the target minus this cell (how much is lost by "
              "transferring instead of training on the target itself).")
    if tm.baseline:
        legend += (f" {MARK_BETTER} positive transfer (significantly better than {_md(tm.baseline)} from the same "
                   f"source, Holm-corrected across targets), {MARK_WORSE} negative; no mark: inconclusive.")
    return out + ["", legend]


def _transfer_html(view: _View) -> str:
    tm = _transfer(view)
    if tm is None:
        return ""
    mlabel = metric_label(tm.metric)
    parts = [f'<h2 id="transfer">Transfer matrix ({_e(mlabel)})</h2>',
             '<p class="legend">Rows: the source language a setup was trained on; columns: the target language '
             "it was tested on. Gap: the target's in-language score minus this cell. "
             + (f"{MARK_BETTER} positive / {MARK_WORSE} negative transfer: significantly better / worse than "
                f"{_e(tm.baseline)} trained on the same source (Holm-corrected across targets); no mark: "
                "inconclusive." if tm.baseline else "No baseline was set, so cells are not labelled.") + "</p>"]
    values = [v for _, cells in tm.setups for c in cells.values() if (v := _num(c.get("value"))) is not None]
    vmin, vmax = (min(values), max(values)) if values else (None, None)  # one colour scale for every setup
    if vmin is not None and vmin == vmax:
        vmin, vmax = None, None
    for setup, cells in tm.setups:
        title = _setup_header(view, setup) if setup == tm.baseline else setup
        matrix = [[_num(cells[(s, t)].get("value")) if (s, t) in cells else None for t in tm.targets]
                  for s in tm.sources]
        parts.append(f"<h3>{_e(title)}</h3>")
        if any(v is not None for row in matrix for v in row):
            svg = plots.heatmap(matrix, [_source_label(view, s) for s in tm.sources],
                                [view.lang_label(t) for t in tm.targets], f"{title}: {mlabel} by source and target",
                                vmin=vmin, vmax=vmax, colorbar_label=mlabel, key=f"transfer-{setup}")
            parts.append(_figure("transfer", setup, svg, f"{mlabel} of {setup} trained on each source (row) and "
                                 "tested on each target (column); darker means better. Grey squares (—): no record in results.json.",
                                 wide=True))
        rows = []
        for src in tm.sources:
            name = _e(_source_label(view, src))
            row = [f'<th scope="row" class="lang">{name}<span class="code">{_e(src)}</span></th>']
            for tgt in tm.targets:
                c = cells.get((src, tgt))
                label = str(c.get("label") or "") if c is not None else ""
                cls = {"positive": "better", "negative": "worse"}.get(label, "")
                text = _e(_transfer_cell_text(c)) + (f" {_TRANSFER_MARKS[label]}" if label in _TRANSFER_MARKS else "")
                if c is not None and _num(c.get("gap")) is not None and not c.get("in_language"):
                    text += f' <span class="ci">gap {float(c["gap"]):+.2f}</span>'
                tip = f"{label} transfer" if label in ("positive", "negative", "inconclusive") else label
                row.append(f'<td class="cell {cls}" title="{_e(tip)}">{text}</td>')
            rows.append(row)
        parts.append(_html_table(["Source / target"] + [_e(view.lang_label(t)) for t in tm.targets], rows,
                                 cls="results transfer"))
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------

def _md(text: object) -> str:
    """Escape text once for Markdown (see report_templates.md_escape)."""
    return md_escape(text)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _md_cell(cell: _Cell | None, is_baseline: bool) -> str:
    text = _cell_text(cell, _md)
    if cell is None or cell.value is None:
        return text
    if cell.best:
        text = f"**{text}**"
    if cell.failed:
        text += " †"
    if not is_baseline and cell.mark == "better":
        text += f" {MARK_BETTER}"
    elif not is_baseline and cell.mark == "worse":
        text += f" {MARK_WORSE}"
    return text


def write_markdown(results: Mapping[str, Any]) -> str:
    """Render ``results`` as a Markdown report (tables per metric, summary, forgetting, cards, environment)."""
    view = _prepare(results)
    out: list[str] = [f"# {_md(view.title)}", ""]
    out += [f"- **{k}:** {_md(v)}" for k, v in _run_facts(view)]
    descs = [s for s in view.setups if s.description]
    if descs:
        out += ["", "Setups:", ""] + [f"- **{_md(s.name)}**: {_md(s.description)}" for s in descs]

    out += ["", render_section("glance", "md", claims=view.claims)]

    out += ["", "## Results", ""]
    if not view.metrics:
        out += ["No results were recorded in this run."]
    for metric in view.metrics:
        out += [f"### {_md(metric_label(metric))}", ""]
        header = ["Language"] + [_md(_setup_header(view, s.name)) for s in view.setups]
        rows = []
        for lang in view.languages:
            label = f"{_md(lang.label)} ({_md(lang.code)})" if lang.label != lang.code else _md(lang.code)
            rows.append([label] + [_md_cell(view.cell(metric, lang.code, s.name), s.name == view.baseline)
                                   for s in view.setups])
        out += _md_table(header, rows) + [""]
    if view.metrics:
        legend = (f"Cells: score [confidence interval]; {MISSING}: no record for that setup and language in "
                  "results.json (a reason is given when the record says why). **Bold**: the highest score for the "
                  "language (the summary says whether it is significantly best); †: failed, at or below the "
                  "chance level (see Chance levels).")
        if view.baseline:
            legend += (
                f" {MARK_BETTER} significantly better than the baseline {_md(view.baseline)}, "
                f"{MARK_WORSE} significantly worse; no mark = no significant difference (inconclusive)."
            )
        else:
            legend += " No baseline was set, so no significance marks are shown."
        if view.multi_seed:
            legend += " Cells with several seeds show the mean over seeds."
        out += [legend]
    for section in _task_sections(view):
        out += ["", render_section(section, "md", **_task_context(view, "md"))]

    if view.baseline:
        out += ["", f"## Wins, ties and losses against {_md(view.baseline)}", ""]
        if view.summary:
            out += _md_table(["Setup", "Wins", "Ties", "Losses"],
                             [[_md(s.get("setup", "?")), str(s.get("wins", 0)), str(s.get("ties", 0)),
                               str(s.get("losses", 0))] for s in view.summary])
        else:
            out += ["No summary was recorded."]
        if view.comparisons:
            out += ["", "### All comparisons", ""]
            rows = [[_md(c.get("setup", "?")), _md(c.get("baseline", "?")),
                     _md(view.lang_label(str(c.get("language")))),
                     _md(metric_label(str(c.get("metric", "?")))),
                     f"{float(c['delta']):+.2f}" if _is_number(c.get("delta")) else MISSING,
                     f"[{_fmt(_num(c.get('ci_low')))}, {_fmt(_num(c.get('ci_high')))}]",
                     _p(c.get("p_value")), _p(c.get("p_adjusted")), _md(_verdict_word(c.get("verdict")))]
                    for c in view.comparisons]
            out += _md_table(["Setup", "Baseline", "Language", "Metric", "Δ", "CI of Δ", "p", "p (adjusted)",
                              "Verdict"], rows)

    out += _transfer_markdown(view)

    out += ["", "## Forgetting on source languages", ""]
    if view.forgetting:
        out += [_md(FORGETTING_TEXT), ""]
        out += _md_table(["Setup", "Language", "Before", "After", "Drop (before - after)"],
                         [[_md(f.get("setup", "?")), _md(view.lang_label(str(f.get("language", "?")))),
                           _fmt(_num(f.get("before"))), _fmt(_num(f.get("after"))), _fmt(_num(f.get("drop")))]
                          for f in view.forgetting])
    else:
        out += ["Not measured in this run."]

    out += ["", "## Diagnostics", ""]
    if view.diagnostics:
        for d in view.diagnostics:
            out += [f"### {_md(view.lang_label(str(d.get('language', '?'))))} ({_md(d.get('language', '?'))})", ""]
            if _is_number(d.get("fertility")):
                out += [f"- Fertility: {float(d['fertility']):.2f} tokens per word"]
            out += [f"- {_md(k)}: {_md(v)}" for k, v in _extra_items(d, {"language", "fertility", "notes"})]
            out += [f"- {_md(n)}" for n in (d.get("notes") or [])]
            out += [""]
        out.pop()
    else:
        out += ["No diagnostics were recorded."]

    out += ["", "## Data cards", ""]
    if view.cards:
        for c in view.cards:
            out += [f"### {_md(c.get('name', 'dataset'))}", ""]
            if c.get("description"):
                out += [_md(c["description"]), ""]
            out += [f"- **{_md(k)}:** {_md(v)}" for k, v in _extra_items(c, {"name", "description"})]
            out += [""]
        out.pop()
    else:
        out += ["No data cards were recorded."]

    out += ["", "## Environment", ""]
    env = view.environment
    seeds = env.get("seeds")
    out += [f"- **Python:** {_md(env.get('python') or MISSING + ' (not recorded in manifest.json)')}",
            f"- **Hardware:** {_md(_hardware_text(env.get('hardware')))}",
            f"- **Seeds:** {_md(', '.join(str(s) for s in seeds) if seeds else MISSING)}"]
    out += [f"- **{_md(k)}:** {_md(v)}" for k, v in
            _extra_items(env, {"python", "hardware", "seeds", "packages", "models"})]
    packages = _as_mapping(env.get("packages"), "environment['packages']")
    if packages:
        out += [""] + _md_table(["Package", "Version"], [[_md(k), _md(v)] for k, v in sorted(packages.items())])
    models = _as_mapping(env.get("models"), "environment['models']")
    if models:
        rows = [[_md(name), f"`{_md(sha)}`" if sha != MISSING else MISSING, _md(src)]
                for name, sha, src in _model_rows(models)]
        out += [""] + _md_table(["Model", "sha256", "Source"], rows)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return e(text)


_CSS = """
:root { --ink:#1f2933; --muted:#61707e; --line:#d9dee3; --bg:#f5f7f9; --card:#ffffff;
  --better:#dff3e4; --better-ink:#0f6b34; --worse:#fbe3e1; --worse-ink:#a52a1e; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
header.top { border-bottom: 1px solid var(--line); margin-bottom: 20px; padding-bottom: 12px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-top: 6px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
.subtitle { color: var(--muted); margin: 0; }
nav.toc { font-size: 13px; margin-top: 8px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; }
.glance { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--accent);
  border-radius: 8px; padding: 14px 20px; margin: 18px 0; }
.glance h2 { border: 0; margin: 0 0 6px; padding: 0; font-size: 18px; }
.glance ul { margin: 0; padding-left: 20px; } .glance li { margin: 4px 0; }
.glance li.claim-warning { color: var(--worse-ink); } .glance li.claim-all_failed, .glance li.claim-failed { color: var(--worse-ink); }
.glance li[class*="claim-recommend"] { font-weight: 600; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 14px; margin: 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 8px 12px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #eef1f4; font-weight: 600; min-width: 6.5em; }
tbody tr:last-child td, tbody tr:last-child th { border-bottom: 0; }
th.lang { font-weight: 600; white-space: nowrap; } .code { color: var(--muted); font-size: 12px; font-weight: 400;
  display: block; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.cell .ci { color: var(--muted); font-size: 12px; }
td.best .val { font-weight: 700; }
td.best { box-shadow: inset 3px 0 0 #333; }
td.better { background: var(--better); } td.better .mark { color: var(--better-ink); }
td.worse { background: var(--worse); } td.worse .mark { color: var(--worse-ink); }
td.na { color: #9aa5b1; font-style: italic; }
.mark { font-weight: 700; margin-left: 4px; }
th.baseline, td.baseline { background-image: linear-gradient(#f3f4f6, #f3f4f6); }
.legend { font-size: 13px; color: var(--muted); margin: 8px 2px 0; }
.legend .chip { display: inline-block; padding: 0 6px; border-radius: 4px; margin: 0 2px; }
.legend .chip.better { background: var(--better); color: var(--better-ink); }
.legend .chip.worse { background: var(--worse); color: var(--worse-ink); }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
figure.plot { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figure.plot svg { display: block; margin: 0 auto; max-width: 100%; height: auto; }
figure.plot figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.wtl { display: flex; height: 12px; width: 180px; border-radius: 3px; overflow: hidden; background: #eee; }
.wtl span { display: block; height: 100%; } .wtl .w { background: #2e9d5b; } .wtl .t { background: #b8c2cc; }
.wtl .l { background: #d1493b; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.card h3 { margin-top: 0; } .card p { margin: 4px 0 10px; }
.notes { margin: 4px 0 0; padding-left: 18px; }
details { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
  margin-top: 10px; }
details summary { cursor: pointer; font-weight: 600; }
.hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  overflow-wrap: anywhere; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { body { background: #fff; } .table-wrap, figure.plot, .card, details, .glance { break-inside: avoid; } }
"""

# Marks the page as ready and records, for each plot figure, whether its <svg> rendered with a non-zero size.
_SCRIPT = """
(function () {
  function check() {
    var figs = document.querySelectorAll('figure.plot');
    var rendered = 0;
    for (var i = 0; i < figs.length; i++) {
      var svg = figs[i].querySelector('svg');
      var r = svg ? svg.getBoundingClientRect() : null;
      var ok = !!(r && r.width > 0 && r.height > 0);
      figs[i].setAttribute('data-rendered', ok ? 'yes' : 'no');
      figs[i].setAttribute('data-size', r ? Math.round(r.width) + 'x' + Math.round(r.height) : '0x0');
      if (ok) { rendered++; }
    }
    document.body.setAttribute('data-plots', String(figs.length));
    document.body.setAttribute('data-svgs-rendered', String(rendered));
    document.body.setAttribute('data-ready', 'yes');
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', check); } else { check(); }
})();
"""

# Nothing may be fetched: no network, no external fonts, scripts or images.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """``header`` and ``rows`` are already-escaped HTML fragments (``<td>`` or ``<th>`` included for rows)."""
    head = "".join(f"<th scope=\"col\">{h}</th>" for h in header)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _html_cell(view: _View, cell: _Cell | None, setup: str, lang: _Lang) -> str:
    is_base = setup == view.baseline
    classes = ["cell", "num"] + (["baseline"] if is_base else [])
    if cell is None or cell.value is None:
        return f'<td class="{" ".join(classes + ["na"])}">{_e(_cell_text(cell))}</td>'
    if cell.best:
        classes.append("best")
    failed = ' <span class="mark" title="failed: at or below the chance level">†</span>' if cell.failed else ""
    mark = ""
    if not is_base and view.baseline and cell.mark in ("better", "worse"):
        classes.append(cell.mark)
        symbol = MARK_BETTER if cell.mark == "better" else MARK_WORSE
        desc = f"significantly {cell.mark} than {view.baseline}"
        mark = f'<span class="mark" title="{_e(desc)}" aria-label="{_e(desc)}">{symbol}</span>'
    ci = ""
    if cell.low is not None and cell.high is not None:
        ci = f' <span class="ci">[{cell.low:.2f}, {cell.high:.2f}]</span>'
    tip = [f"{setup} on {lang.label}"]
    if cell.n is not None:
        tip.append(f"n = {cell.n}")
    seeds = [s for s in cell.seeds if s is not None]
    if seeds:
        tip.append(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}")
    return (f'<td class="{" ".join(classes)}" title="{_e("; ".join(tip))}">'
            f'<span class="val">{cell.value:.2f}</span>{ci}{failed}{mark}</td>')


def _figure(kind: str, ident: str, svg: str, caption: str, wide: bool = False) -> str:
    cls = "plot wide" if wide else "plot"
    return (f'<figure class="{cls}" data-plot="{_e(f"{kind}-{ident}")}">{svg}'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _ci_xlim(view: _View, metric: str) -> tuple[float, float] | None:
    ends = []
    for c in (view.cell(metric, lang.code, s.name) for lang in view.languages for s in view.setups):
        if c is not None and c.value is not None:
            ends += [c.value] + [x for x in (c.low, c.high) if x is not None]
    if not ends:
        return None
    lo, hi = min(ends), max(ends)
    pad = max(0.03, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    if min(ends) >= 0 and max(ends) <= 1:
        lo, hi = max(0.0, lo), min(1.0, hi)
    return (lo, hi)


def _plots_html(view: _View) -> str:
    metric = view.primary
    if metric is None:
        return '<p class="empty">No results, so no plots.</p>'
    mlabel = metric_label(metric)
    colours = {s.name: plots.SETUP_COLOURS[i % len(plots.SETUP_COLOURS)] for i, s in enumerate(view.setups)}
    xlim = _ci_xlim(view, metric)
    figs = []
    for lang in view.languages:
        cells = [(s, view.cell(metric, lang.code, s.name)) for s in view.setups]
        if not any(c is not None and c.value is not None for _, c in cells):
            continue
        points = [plots.CIPoint(_setup_header(view, s.name), c.value if c else None, c.low if c else None,
                                c.high if c else None, highlight=bool(c and c.best)) for s, c in cells]
        base = view.cell(metric, lang.code, view.baseline) if view.baseline else None
        svg = plots.ci_plot(
            points,
            title=f"{lang.label} ({lang.code})" if lang.label != lang.code else lang.code,
            xlabel=mlabel,
            reference=base.value if base is not None else None,
            reference_label=f"baseline: {view.baseline}" if base is not None and base.value is not None else None,
            xlim=xlim,
            colours=[colours[s.name] for s, _ in cells],
            key=f"ci-{lang.code}",
        )
        caption = (f"{mlabel} of each setup on {lang.label}: the dot is the score, the bar its confidence interval. "
                   + _tests_text(view, lang.code)
                   + " Overlapping bars do not decide significance: the paired tests compare setups on the same "
                   "examples.")
        if base is not None and base.value is not None:
            caption += f" Dashed line: the baseline {view.baseline}."
        figs.append(_figure("ci", lang.code, svg, caption))
    parts = [f'<h3>Confidence intervals per language ({_e(mlabel)})</h3>']
    parts.append(f'<div class="plots">{"".join(figs)}</div>' if figs else '<p class="empty">No results to plot.</p>')

    matrix = [[(c.value if (c := view.cell(metric, lang.code, s.name)) is not None else None)
               for lang in view.languages] for s in view.setups]
    if view.setups and view.languages and any(v is not None for row in matrix for v in row):
        svg = plots.heatmap(matrix, [_setup_header(view, s.name) for s in view.setups],
                            [lang.label for lang in view.languages], f"{mlabel} by setup and language",
                            colorbar_label=mlabel, key=f"heatmap-{metric}")
        parts.append(f"<h3>All setups and languages at once ({_e(mlabel)})</h3>")
        parts.append(_figure("heatmap", metric, svg,
                             f"Each square is the {mlabel} of one setup (row) on one language (column); "
                             "darker means better. Grey squares (—): no record in results.json.", wide=True))
    return "".join(parts)


def _legend_html(view: _View) -> str:
    text = ("Each cell: score <span class=\"ci\">[confidence interval]</span>. "
            "<b>Bold</b> with a dark left edge: best setup for that language. ")
    if view.baseline:
        b = _e(view.baseline)
        text += (f'<span class="chip better">{MARK_BETTER} green</span>: significantly better than the baseline {b}; '
                 f'<span class="chip worse">{MARK_WORSE} red</span>: significantly worse; '
                 "no mark: no significant difference (inconclusive). ")
    else:
        text += "No baseline was set, so no significance marks are shown. "
    if view.multi_seed:
        text += "Cells with several seeds show the mean over seeds. "
    text += "Hover over a cell for the number of test examples and seeds."
    return f'<p class="legend">{text}</p>'


def _wtl_html(view: _View) -> str:
    if not view.baseline:
        return ('<h2 id="wins">Wins, ties and losses</h2>'
                '<p class="empty">No baseline was set, so setups were not compared.</p>')
    parts = [f'<h2 id="wins">Wins, ties and losses against {_e(view.baseline)}</h2>']
    if view.summary:
        rows = []
        for s in view.summary:
            w, t, loss = (int(s.get(k) or 0) for k in ("wins", "ties", "losses"))
            total = max(w + t + loss, 1)
            bar = (f'<div class="wtl" role="img" aria-label="{w} wins, {t} ties, {loss} losses">'
                   f'<span class="w" style="width:{100 * w / total:.1f}%"></span>'
                   f'<span class="t" style="width:{100 * t / total:.1f}%"></span>'
                   f'<span class="l" style="width:{100 * loss / total:.1f}%"></span></div>')
            rows.append([f'<th scope="row">{_e(s.get("setup", "?"))}</th>', f'<td class="num">{w}</td>',
                         f'<td class="num">{t}</td>', f'<td class="num">{loss}</td>', f"<td>{bar}</td>"])
        parts.append(_html_table(["Setup", "Wins", "Ties", "Losses", ""], rows))
        parts.append('<p class="legend">Win: significantly better than the baseline on one language and metric; '
                     "loss: significantly worse; tie: no significant difference.</p>")
    else:
        parts.append('<p class="empty">No summary was recorded.</p>')
    if view.comparisons:
        rows = []
        for c in view.comparisons:
            word = _verdict_word(c.get("verdict"))
            cls = {"better": "better", "worse": "worse"}.get(word, "")
            delta = f"{float(c['delta']):+.2f}" if _is_number(c.get("delta")) else MISSING
            rows.append([
                f'<th scope="row">{_e(c.get("setup", "?"))}</th>', f'<td>{_e(c.get("baseline", "?"))}</td>',
                f'<td>{_e(view.lang_label(str(c.get("language", "?"))))}</td>',
                f'<td>{_e(metric_label(str(c.get("metric", "?"))))}</td>', f'<td class="num">{delta}</td>',
                f'<td class="num">[{_fmt(_num(c.get("ci_low")))}, {_fmt(_num(c.get("ci_high")))}]</td>',
                f'<td class="num">{_e(_p(c.get("p_value")))}</td>',
                f'<td class="num">{_e(_p(c.get("p_adjusted")))}</td>',
                f'<td class="cell {cls}">{_e(word)}</td>'])
        parts.append("<details><summary>All comparisons (differences, intervals and p-values)</summary>"
                     + _html_table(["Setup", "Baseline", "Language", "Metric", "Difference", "CI of difference",
                                    "p", "p (adjusted)", "Verdict"], rows)
                     + '<p class="legend">Adjusted p-values correct for making many comparisons at once.</p></details>')
    return "".join(parts)


def _forgetting_html(view: _View) -> str:
    parts = ['<h2 id="forgetting">Forgetting on source languages</h2>']
    if not view.forgetting:
        return parts[0] + '<p class="empty">Not measured in this run.</p>'
    parts.append(f'<p class="legend">{_e(FORGETTING_TEXT)}</p>')
    rows = []
    for f in view.forgetting:
        drop = _num(f.get("drop"))
        cls = "worse" if drop is not None and drop > 0.02 else "better" if drop is not None and drop < 0 else ""
        rows.append([f'<th scope="row">{_e(f.get("setup", "?"))}</th>',
                     f'<td>{_e(view.lang_label(str(f.get("language", "?"))))}</td>',
                     f'<td class="num">{_fmt(_num(f.get("before")))}</td>',
                     f'<td class="num">{_fmt(_num(f.get("after")))}</td>',
                     f'<td class="num cell {cls}">{_fmt(drop)}</td>'])
    parts.append(_html_table(["Setup", "Language", "Before", "After", "Drop (before - after)"], rows))
    return "".join(parts)


def _diagnostics_html(view: _View) -> str:
    parts = ['<h2 id="diagnostics">Diagnostics</h2>']
    if not view.diagnostics:
        return parts[0] + '<p class="empty">No diagnostics were recorded.</p>'
    rows = []
    for d in view.diagnostics:
        code = str(d.get("language", "?"))
        fert = f"{float(d['fertility']):.2f}" if _is_number(d.get("fertility")) else MISSING
        notes = [str(n) for n in (d.get("notes") or [])]
        notes += [f"{k}: {v}" for k, v in _extra_items(d, {"language", "fertility", "notes"})]
        notes_html = ('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>") if notes else ""
        label = view.lang_label(code)
        rows.append([f'<th scope="row" class="lang">{_e(label)}<span class="code">{_e(code)}</span></th>',
                     f'<td class="num">{fert}</td>', f"<td>{notes_html}</td>"])
    parts.append(_html_table(["Language", "Fertility (tokens per word)", "Notes"], rows))
    parts.append('<p class="legend">Fertility: how many pieces the model splits an average word into. '
                 "High fertility often means the model knows the language poorly.</p>")
    return "".join(parts)


def _cards_html(view: _View) -> str:
    parts = ['<h2 id="data">Data cards</h2>']
    if not view.cards:
        return parts[0] + '<p class="empty">No data cards were recorded.</p>'
    cards = []
    for c in view.cards:
        body = f'<h3>{_e(c.get("name", "dataset"))}</h3>'
        if c.get("description"):
            body += f'<p>{_e(c["description"])}</p>'
        items = _extra_items(c, {"name", "description"})
        if items:
            body += '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"
        cards.append(f'<article class="card">{body}</article>')
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    return "".join(parts)


def _environment_html(view: _View) -> str:
    env = view.environment
    seeds = env.get("seeds")
    facts = [("Python", env.get("python") or MISSING + " (not recorded in manifest.json)"), ("Hardware", _hardware_text(env.get("hardware"))),
             ("Seeds", ", ".join(str(s) for s in seeds) if seeds else MISSING)]
    facts += _extra_items(env, {"python", "hardware", "seeds", "packages", "models"})
    body = '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"
    packages = _as_mapping(env.get("packages"), "environment['packages']")
    if packages:
        body += "<h3>Packages</h3>" + _html_table(
            ["Package", "Version"],
            [[f"<td>{_e(k)}</td>", f'<td class="num">{_e(v)}</td>'] for k, v in sorted(packages.items())])
    models = _as_mapping(env.get("models"), "environment['models']")
    if models:
        rows = [[f"<td>{_e(name)}</td>", f'<td class="hash">{_e(sha)}</td>', f"<td>{_e(src)}</td>"]
                for name, sha, src in _model_rows(models)]
        body += "<h3>Models</h3>" + _html_table(["Model", "sha256", "Source"], rows)
    return ('<h2 id="environment">Environment</h2><details><summary>Software, hardware, models and seeds '
            f"used for this run (for reproducing it)</summary>{body}</details>")


def write_html(results: Mapping[str, Any]) -> str:
    """Render ``results`` as one self-contained HTML page (inline CSS and SVG plots, no external references)."""
    view = _prepare(results)
    run_bits = [str(view.task.get("name") or ""), str(view.run.get("created") or "")]
    subtitle = " · ".join(_e(b) for b in run_bits if b)

    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _run_facts(view))
    setup_descs = "".join(f"<dt>{_e(s.name)}</dt><dd>{_e(s.description)}</dd>" for s in view.setups if s.description)

    glance = render_section("glance", "html", claims=view.claims)
    body = [
        f'<header class="top"><h1>{_e(view.title)}</h1><p class="subtitle">{subtitle}</p>'
        '<nav class="toc"><a href="#results">Results</a><a href="#plots">Plots</a><a href="#wins">Wins and losses</a>'
        '<a href="#transfer">Transfer</a><a href="#forgetting">Forgetting</a><a href="#diagnostics">Diagnostics</a>'
        '<a href="#data">Data</a>'
        '<a href="#environment">Environment</a></nav></header>',
        glance,
        f'<h2 id="about">About this run</h2><dl class="facts">{facts}</dl>',
    ]
    if setup_descs:
        body.append(f'<h3>What the setups are</h3><dl class="facts">{setup_descs}</dl>')

    body.append('<h2 id="results">Results</h2>')
    if not view.metrics:
        body.append('<p class="empty">No results were recorded in this run.</p>')
    for metric in view.metrics:
        header = ["Language"] + [
            (_e(s.name) + ' <span class="code">baseline</span>') if s.name == view.baseline else _e(s.name)
            for s in view.setups]
        rows = []
        for lang in view.languages:
            label = (f'<th scope="row" class="lang">{_e(lang.label)}<span class="code">{_e(lang.code)}'
                     f'{" · " + _e(lang.resource) + " resource" if lang.resource else ""}</span></th>')
            rows.append([label] + [_html_cell(view, view.cell(metric, lang.code, s.name), s.name, lang)
                                   for s in view.setups])
        body.append(f'<h3>{_e(metric_label(metric))}</h3>')
        body.append(_html_table(header, rows, cls=f"results metric-{_e(metric)}"))
    if view.metrics:
        body.append(_legend_html(view))
    for section in _task_sections(view):
        body.append(render_section(section, "html", **_task_context(view, "html")))

    body.append('<h2 id="plots">Plots</h2>')
    body.append(_plots_html(view))
    body.append(_wtl_html(view))
    body.append(_transfer_html(view))
    body.append(_forgetting_html(view))
    body.append(_diagnostics_html(view))
    body.append(_cards_html(view))
    body.append(_environment_html(view))
    body.append("<footer>Generated by polyglot-transfer. This file is self-contained: it loads nothing from "
                "the network and can be shared or archived as is.</footer>")

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(view.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + f"\n</main>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_reports(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` atomically; return ``{"markdown": ..., "html": ...}``.

    Both reports are rendered before anything is written, so a rendering error leaves ``out_dir`` untouched.
    """
    markdown = write_markdown(results)
    page = write_html(results)
    out = Path(out_dir)
    paths = {"markdown": out / "report.md", "html": out / "report.html"}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["html"], page)
    logger.info("wrote %s and %s", paths["markdown"], paths["html"])
    return paths
