"""The transfer-matrix section of the reports, and the per-language tables with several sources."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.report import plain_summary, write_html, write_markdown

SOURCES = ["ind_Latn", "eng_Latn"]
TARGETS = ["ind_Latn", "jav_Latn"]
# (setup, source, target) -> macro-F1
VALUES = {
    ("head", "ind_Latn", "ind_Latn"): 0.80, ("head", "ind_Latn", "jav_Latn"): 0.60,
    ("head", "eng_Latn", "ind_Latn"): 0.70, ("head", "eng_Latn", "jav_Latn"): 0.50,
    ("lora", "ind_Latn", "ind_Latn"): 0.90, ("lora", "ind_Latn", "jav_Latn"): 0.75,
    ("lora", "eng_Latn", "ind_Latn"): 0.33, ("lora", "eng_Latn", "jav_Latn"): 0.27,
}
LABELS = {("ind_Latn", "ind_Latn"): "positive", ("ind_Latn", "jav_Latn"): "positive",
          ("eng_Latn", "ind_Latn"): "inconclusive", ("eng_Latn", "jav_Latn"): "negative"}


def make_results() -> dict[str, Any]:
    records = [{"setup": s, "source": src, "language": t, "metric": "macro_f1", "value": v, "ci_low": v - 0.05,
                "ci_high": v + 0.05, "n": 400, "seed": 0, "seeds": [0]} for (s, src, t), v in VALUES.items()]
    setups = []
    for setup in ("head", "lora"):
        cells = []
        for src in SOURCES:
            for tgt in TARGETS:
                v = VALUES[setup, src, tgt]
                own = VALUES[setup, tgt, tgt] if tgt in SOURCES else None
                label = "baseline" if setup == "head" else LABELS[src, tgt]
                cells.append({"source": src, "target": tgt, "value": v, "ci_low": v - 0.05, "ci_high": v + 0.05,
                              "n": 400, "seeds": [0], "in_language": src == tgt, "in_language_value": own,
                              "gap": None if own is None else own - v, "label": label, "vs_baseline": None})
        setups.append({"setup": setup, "cells": cells, "labels": {}})
    return {
        "schema_version": 2,
        "run": {"name": "nusax-two-sources", "created": "2026-11-30T10:00:00+00:00"},
        "task": {"name": "nusax_sentiment", "type": "classification", "labels": ["negative", "neutral", "positive"]},
        "source_languages": SOURCES,
        "languages": [{"code": "ind_Latn", "name": "Indonesian"}, {"code": "jav_Latn", "name": "Javanese"}],
        "setups": [{"name": "head"}, {"name": "lora"}],
        "baseline": "head",
        "records": records,
        "comparisons": [
            {"setup": "lora", "baseline": "head", "source": src, "language": t, "metric": "macro_f1",
             "delta": VALUES["lora", src, t] - VALUES["head", src, t], "ci_low": -0.1, "ci_high": 0.2,
             "p_value": 0.01, "p_adjusted": 0.02,
             "verdict": {"positive": "win", "negative": "loss"}.get(LABELS[src, t], "tie")}
            for src in SOURCES for t in TARGETS],
        "summary": [{"setup": "lora", "source": "ind_Latn", "metric": "macro_f1", "wins": 2, "ties": 0, "losses": 0},
                    {"setup": "lora", "source": "eng_Latn", "metric": "macro_f1", "wins": 0, "ties": 1, "losses": 1}],
        "transfer_matrix": {"metric": "macro_f1", "sources": SOURCES, "targets": TARGETS, "baseline": "head",
                            "alpha": 0.05, "setups": setups},
        "forgetting": [], "diagnostics": [], "cards": [], "environment": {},
    }


def test_markdown_transfer_tables_mark_labels_gaps_and_the_diagonal():
    md = write_markdown(make_results())
    section = md.split("## Transfer matrix (macro-F1)", 1)[1].split("## Forgetting", 1)[0]
    assert "### head (baseline)" in section and "### lora" in section
    lora = section.split("### lora", 1)[1]
    rows = [line for line in lora.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Source / target | Indonesian | Javanese |"
    # in-language cell in italics with no gap; transfer cells carry the label mark and the gap to in-language
    assert rows[1] == "| Indonesian (ind_Latn) | *0.90 [0.85, 0.95]* ▲ | 0.75 [0.70, 0.80] ▲ |"
    assert rows[2] == "| English (eng_Latn) | 0.33 [0.28, 0.38] (gap +0.57) | 0.27 [0.22, 0.32] ▼ |"
    assert "Against head: 2 positive, 1 negative, 1 inconclusive." in lora


def test_per_language_tables_and_summary_show_the_first_source_only():
    results = make_results()
    md = write_markdown(results)
    main = md.split("## Results", 1)[1].split("## Transfer matrix", 1)[0]
    assert "0.33" not in main and "0.27" not in main  # English-source lora numbers stay out of the main table
    assert "0.75" in main and "0.90" in main
    sentences = plain_summary(results)
    assert sum("Against head, lora" in s for s in sentences) == 1
    assert any("better on 2 of 2 targets" in s for s in sentences)


def test_html_has_a_transfer_heatmap_per_setup_and_coloured_cells():
    page = write_html(make_results())
    assert 'href="#transfer"' in page and '<h2 id="transfer">' in page
    assert page.count('data-plot="transfer-') == 2
    section = page.split('<h2 id="transfer">', 1)[1].split('<h2 id="forgetting">', 1)[0]
    assert len(re.findall(r'<td class="cell better"', section)) == 2
    assert len(re.findall(r'<td class="cell worse"', section)) == 1
    assert "gap +0.57" in section and "http" not in section


def test_no_transfer_section_without_a_matrix():
    results = make_results()
    del results["transfer_matrix"]
    assert "Transfer matrix" not in write_markdown(results)
    assert 'id="transfer"' not in write_html(results)


def test_malformed_matrix_is_a_data_error():
    results = make_results()
    bad = copy.deepcopy(results)
    bad["transfer_matrix"]["setups"][0]["cells"] = "oops"
    with pytest.raises(DataError, match=r"transfer_matrix\.setups\.0\.cells: Input should be a valid list"):
        write_markdown(bad)
    bad = copy.deepcopy(results)
    bad["transfer_matrix"]["setups"][1]["cells"][2] = {"value": 0.5}
    with pytest.raises(DataError, match=r"transfer_matrix\.setups\.1\.cells\.2\.source: Field required"):
        write_html(bad)
    bad["transfer_matrix"] = [1, 2]
    with pytest.raises(DataError, match=r"transfer_matrix: Input should be a valid dictionary or instance of "
                                        r"TransferMatrix"):
        write_markdown(bad)
