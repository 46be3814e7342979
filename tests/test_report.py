"""Tests of the Markdown/HTML report writers and their plots (evaluation/report.py, evaluation/plots.py).

The browser tests open the HTML report in headless Chromium and fail on any console message or on a plot
whose <svg> renders with zero size. They are skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation import plots
from polyglot_transfer.evaluation.report import (
    plain_summary,
    write_html,
    write_markdown,
    write_reports,
)

CHROMIUM = "/usr/bin/chromium"
SETUPS = ["head", "lora", "lora+rag"]
LANGS = {"yor_Latn": "Yoruba", "hau_Latn": "Hausa", "swh_Latn": "Swahili"}

# (value, ci_low, ci_high) per metric/language/setup; None = that setup was not run for that language.
_SCORES: dict[str, dict[str, dict[str, tuple[float, float, float] | None]]] = {
    "macro_f1": {
        "yor_Latn": {"head": (0.62, 0.52, 0.71), "lora": (0.74, 0.65, 0.82), "lora+rag": (0.81, 0.72, 0.88)},
        "hau_Latn": {"head": (0.70, 0.61, 0.78), "lora": (0.66, 0.57, 0.75), "lora+rag": (0.58, 0.49, 0.67)},
        "swh_Latn": {"head": (0.77, 0.69, 0.84), "lora": (0.86, 0.79, 0.91), "lora+rag": None},
    },
    "accuracy": {
        "yor_Latn": {"head": (0.66, 0.56, 0.75), "lora": (0.78, 0.69, 0.85), "lora+rag": (0.84, 0.76, 0.90)},
        "hau_Latn": {"head": (0.73, 0.64, 0.81), "lora": (0.71, 0.62, 0.79), "lora+rag": (0.61, 0.52, 0.70)},
        "swh_Latn": {"head": (0.80, 0.72, 0.86), "lora": (0.88, 0.81, 0.93), "lora+rag": None},
    },
}
# Verdicts of each setup against the baseline "head".
_VERDICTS = {
    ("lora", "yor_Latn"): "tie", ("lora+rag", "yor_Latn"): "win",
    ("lora", "hau_Latn"): "tie", ("lora+rag", "hau_Latn"): "loss",
    ("lora", "swh_Latn"): "win",
}


def make_results() -> dict[str, Any]:
    """A realistic results.json payload: 3 setups x 3 languages x 2 metrics, with every optional part."""
    records, comparisons = [], []
    for metric, per_lang in _SCORES.items():
        for lang, per_setup in per_lang.items():
            for setup, score in per_setup.items():
                if score is None:
                    continue
                v, lo, hi = score
                records.append({"setup": setup, "source": "eng_Latn", "language": lang, "metric": metric,
                                "value": v, "ci_low": lo, "ci_high": hi, "n": 60, "seed": 0, "seeds": [0]})
            for (setup, vlang), verdict in _VERDICTS.items():
                if vlang != lang:
                    continue
                delta = per_setup[setup][0] - per_setup["head"][0]  # type: ignore[index]
                p = {"win": 0.004, "loss": 0.01, "tie": 0.2}[verdict]
                comparisons.append({"setup": setup, "baseline": "head", "source": "eng_Latn", "language": lang,
                                    "metric": metric,
                                    "delta": round(delta, 4), "ci_low": round(delta - 0.06, 4),
                                    "ci_high": round(delta + 0.06, 4), "p_value": p, "p_adjusted": min(1.0, p * 5),
                                    "verdict": verdict})
    return {
        "schema_version": 2,
        "run": {"name": "demo", "created": "2026-11-26T12:00:00Z", "config_path": "configs/demo.yaml",
                "duration_s": 123.4},
        "task": {"name": "agri_advice", "type": "classification", "labels": ["pests", "soil", "water", "market"]},
        "source_languages": ["eng_Latn"],
        "languages": [{"code": c, "name": n, "resource": "low" if c != "swh_Latn" else "medium", "n_test": 60,
                       "chance": [{"metric": "macro_f1", "majority": 0.1, "uniform": 0.25, "majority_label": "pests"},
                                  {"metric": "accuracy", "majority": 0.4, "uniform": 0.25, "majority_label": "pests"}]}
                      for c, n in LANGS.items()],
        "setups": [
            {"name": "head", "description": "frozen encoder + logistic-regression head"},
            {"name": "lora", "description": "LoRA fine-tuning of the encoder"},
            {"name": "lora+rag", "description": "LoRA fine-tuning plus retrieved examples"},
        ],
        "baseline": "head",
        "records": records,
        "comparisons": comparisons,
        "primary_metric": "macro_f1",
        "summary": [{"setup": "lora", "source": "eng_Latn", "metric": "macro_f1", "wins": 1, "ties": 2, "losses": 0},
                    {"setup": "lora+rag", "source": "eng_Latn", "metric": "macro_f1", "wins": 1, "ties": 0,
                     "losses": 1}],
        "forgetting": [{"setup": "lora", "language": "eng_Latn", "before": 0.9, "after": 0.85, "drop": 0.05},
                       {"setup": "lora+rag", "language": "eng_Latn", "before": 0.9, "after": 0.89, "drop": 0.01}],
        "diagnostics": [{"language": "yor_Latn", "fertility": 2.1,
                         "notes": ["Tone marks are split into separate tokens."]},
                        {"language": "hau_Latn", "fertility": 1.6, "notes": []}],
        "cards": [{"name": "agri_advice", "description": "Farmers' questions labelled by topic.",
                   "licence": "CC-BY-4.0", "languages": ["eng_Latn", "yor_Latn", "hau_Latn", "swh_Latn"],
                   "how_made": "Translated by native speakers from an English seed set."}],
        "environment": {"python": "3.11.7", "packages": {"torch": "2.13.0", "transformers": "4.99.0"},
                        "hardware": "2 CPU cores, no GPU",
                        "models": {"intfloat/multilingual-e5-small": {"sha256": "ab" * 32, "source": "pypi"}},
                        "seeds": [0]},
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return make_results()


def _minimal(results: dict[str, Any]) -> dict[str, Any]:
    """Only the required parts: no baseline, no comparisons, summary, forgetting, diagnostics, cards, env."""
    out = {k: results[k] for k in ("schema_version", "run", "task", "source_languages", "languages", "setups",
                                   "records")}
    out.update(baseline=None, comparisons=[], summary=[], forgetting=[], diagnostics=[], cards=[], environment={})
    return out


def _table_rows(markdown: str, heading: str) -> list[str]:
    """Table lines under the Markdown heading ``heading`` (up to the next blank line)."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


# ------------------------------------------------------------------------------------------ Markdown


def test_markdown_tables_have_ci_cells_best_in_bold_and_significance_marks(results):
    md = write_markdown(results)
    assert md.startswith("# Evaluation report: demo\n")
    rows = _table_rows(md, "### macro-F1")
    assert rows[0] == "| Language | head (baseline) | lora | lora+rag |"
    assert rows[2] == "| Yoruba (yor_Latn) | 0.62 [0.52, 0.71] | 0.74 [0.65, 0.82] | **0.81 [0.72, 0.88]** ▲ |"
    assert rows[3] == "| Hausa (hau_Latn) | **0.70 [0.61, 0.78]** | 0.66 [0.57, 0.75] | 0.58 [0.49, 0.67] ▼ |"
    assert rows[4] == "| Swahili (swh_Latn) | 0.77 [0.69, 0.84] | **0.86 [0.79, 0.91]** ▲ | — |"
    acc = _table_rows(md, "### accuracy")
    assert acc[2] == "| Yoruba (yor_Latn) | 0.66 [0.56, 0.75] | 0.78 [0.69, 0.85] | **0.84 [0.76, 0.90]** ▲ |"
    # primary metric first, then accuracy
    assert md.index("### macro-F1") < md.index("### accuracy")
    assert "▲ significantly better than the baseline head" in md and "▼ significantly worse" in md


def test_markdown_sections_summary_forgetting_diagnostics_cards_environment(results):
    md = write_markdown(results)
    assert ("- Significant differences on Yoruba (macro-F1): lora+rag > head by 0.19 (adjusted p = 0.020)."
            in md)
    assert "| lora | 1 | 2 | 0 |" in _table_rows(md, "## Wins, ties and losses against head")
    assert "| lora | eng_Latn | 0.90 | 0.85 | 0.05 |" in md
    assert "Drop = before - after: positive means the setup forgot some of the source language" in md
    assert "- Fertility: 2.10 tokens per word" in md and "- Tone marks are split into separate tokens." in md
    assert "- **Licence:** CC-BY-4.0" in md
    assert "| torch | 2.13.0 |" in md and "`" + "ab" * 32 + "`" in md
    assert "- **Duration:** 2 min 3 s" in md
    for heading in ("## At a glance", "## Results", "## Chance levels", "## Forgetting on source languages", "## Diagnostics",
                    "## Data cards", "## Environment", "### All comparisons"):
        assert heading in md.splitlines(), f"missing section {heading!r}"


def test_plain_summary_lists_every_significant_difference_and_the_inconclusive_case(results):
    lines = plain_summary(results)
    assert "Significant differences on Yoruba (macro-F1): lora+rag > head by 0.19 (adjusted p = 0.020)." in lines
    assert "Significant differences on Hausa (macro-F1): head > lora+rag by 0.12 (adjusted p = 0.050)." in lines
    assert "Significant differences on Swahili (macro-F1): lora > head by 0.09 (adjusted p = 0.020)." in lines
    results["comparisons"] = [c for c in results["comparisons"] if c["language"] != "yor_Latn"]
    assert ("On Yoruba, no difference between setups is significant (macro-F1, paired tests, Holm-adjusted)."
            not in plain_summary(results)), "no test recorded: no claim either way"
    assert any(s.startswith("Forgetting (source-language macro-F1 before minus after adaptation, positive = forgot)"
                            ": the largest is lora on eng_Latn, +0.05") for s in lines)


def test_reports_survive_missing_optional_parts(results):
    minimal = _minimal(results)
    md = write_markdown(minimal)
    assert "▲" not in md.split("## Results")[1] and "▼" not in md.split("## Results")[1]
    assert "No baseline was set, so no significance marks are shown." in md
    assert "Not measured in this run." in md and "No data cards were recorded." in md
    assert "| Swahili (swh_Latn) | 0.77 [0.69, 0.84] | **0.86 [0.79, 0.91]** | — |" in md
    page = write_html(minimal)
    assert "No baseline was set" in page and 'class="mark"' not in page
    # No records at all still renders both reports.
    empty = dict(minimal, records=[])
    assert "No results were recorded in this run." in write_markdown(empty)
    assert "No results, so no plots." in write_html(empty)


def test_multiple_seeds_are_averaged(results):
    extra = [dict(r, seed=1, value=r["value"] - 0.1, ci_low=r["ci_low"] - 0.1, ci_high=r["ci_high"] - 0.1)
             for r in results["records"] if r["setup"] == "lora" and r["language"] == "yor_Latn"]
    results["records"] += extra
    md = write_markdown(results)
    assert "| Yoruba (yor_Latn) | 0.62 [0.52, 0.71] | 0.69 [0.60, 0.77] | **0.81 [0.72, 0.88]** ▲ |" in md
    assert "Cells with several seeds show the mean over seeds." in md


def test_lower_is_better_metric_picks_the_smallest_value(results):
    results["records"] += [
        {"setup": s, "language": "yor_Latn", "metric": "loss", "value": v} for s, v in
        (("head", 1.2), ("lora", 0.7), ("lora+rag", 0.9))
    ]
    rows = _table_rows(write_markdown(results), "### loss")
    assert rows[2] == "| Yoruba (yor_Latn) | 1.20 | **0.70** | 0.90 |"
    assert rows[3] == "| Hausa (hau_Latn) | — | — | — |"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r.update(schema_version=1), r"has schema_version 1; expected 2\. It was written by another"),
        (lambda r: r["records"][0].pop("metric"), r"records\.0\.metric: Field required"),
        (lambda r: r["records"][3].update(value="0.8"), r"records\.3\.value: Input should be a valid number"),
        (lambda r: r["records"][3].update(value=float("nan")), r"records\.3\.value: Input should be a finite number"),
        (lambda r: r.update(records={"a": 1}), r"records: Input should be a valid list"),
        (lambda r: r["languages"].append(7), r"languages\.3: Input should be a valid dictionary or instance"),
        (lambda r: r.update(new_field=1), r"new_field: Extra inputs are not permitted"),
    ],
)
def test_malformed_results_raise_data_error(results, mutate, match):
    mutate(results)
    with pytest.raises(DataError, match=match):
        write_markdown(results)


def test_non_dict_results_are_refused():
    with pytest.raises(DataError, match=r"results is a list; expected a dict \(the content of results.json\)"):
        write_html([])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ HTML


class _FigureScanner(HTMLParser):
    """Collects, for every <figure class="plot">, its data-plot and whether an <svg> is inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, Any]] = []
        self._depth = 0
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "figure" and "plot" in (a.get("class") or "").split():
            self.figures.append({"plot": a.get("data-plot"), "svg": 0, "attrs": a})
            self._depth = 1
        elif tag == "figure" and self._depth:
            self._depth += 1
        elif tag == "svg" and self._depth:
            self.figures[-1]["svg"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._depth:
            self._depth -= 1


def _scan(page: str) -> _FigureScanner:
    scanner = _FigureScanner()
    scanner.feed(page)
    return scanner


def test_html_is_self_contained(results):
    page = write_html(results)
    assert not re.search(r"""(?:src|href|action|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page, "the page must not reference any URL"
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    assert "default-src 'none'" in page  # CSP: the browser refuses anything external even if it slips in


def test_html_has_summary_tables_and_plot_figures(results):
    page = write_html(results)
    assert "Significant differences on Yoruba (macro-F1): lora+rag &gt; head by 0.19 (adjusted p = 0.020)." in page
    assert page.index("At a glance") < page.index('id="results"')
    scanner = _scan(page)
    plots_by_name = {f["plot"]: f for f in scanner.figures}
    assert set(plots_by_name) == {"ci-yor_Latn", "ci-hau_Latn", "ci-swh_Latn", "heatmap-macro_f1"}
    assert all(f["svg"] == 1 for f in scanner.figures), scanner.figures
    assert scanner.scripts == 1
    # colour-coded cells: one better cell per win, one worse cell for the loss (x2 metrics)
    assert len(re.findall(r'<td class="[^"]*\bbetter\b[^"]*" title=', page)) == 4
    assert len(re.findall(r'<td class="[^"]*\bworse\b[^"]*" title=', page)) == 2
    assert '<td class="cell num na">—</td>' in page
    assert "<details><summary>Software, hardware, models and seeds" in page
    # element ids are unique across all inline SVGs (no clip-path clashes between plots)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_html_and_markdown_escape_user_text(results):
    evil = "<b>bold</b>"
    for rec in results["records"] + results["comparisons"]:
        if rec["setup"] == "lora":
            rec["setup"] = evil
    results["setups"][1]["name"] = evil
    results["languages"][0]["name"] = 'Yor<script>alert("x")</script>ùbá'
    results["cards"][0]["description"] = "A & B <i>cards</i>"
    page = write_html(results)
    assert evil not in page and html.escape(evil) in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "A &amp; B &lt;i&gt;cards&lt;/i&gt;" in page
    assert _scan(page).scripts == 1
    md = write_markdown(results)
    assert evil not in md and "`<b>`bold`</b>`" in md and "&lt;" not in md
    assert "`<script>`" in md and not re.search(r"(?<![`\\])<", md.replace("`<script>`", "").replace(
        "`<b>`", "").replace("`</b>`", "").replace("`</script>`", "")), "every < is in a code span or escaped"


def test_write_reports_writes_both_files_atomically(results, tmp_path):
    out = tmp_path / "run" / "reports"
    paths = write_reports(results, out)
    assert paths == {"markdown": out / "report.md", "html": out / "report.html"}
    assert paths["markdown"].read_text(encoding="utf-8") == write_markdown(results)
    assert paths["html"].read_text(encoding="utf-8") == write_html(results)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md"]  # no temp files left


def test_write_reports_leaves_nothing_behind_on_bad_input(results, tmp_path):
    results["schema_version"] = 0
    with pytest.raises(DataError, match="schema_version 0; expected 2"):
        write_reports(results, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ plots


def test_heatmap_marks_missing_cells_and_validates_shape():
    svg = plots.heatmap([[0.5, None], [0.7, 0.9]], ["a", "b"], ["x", "y"], "T $x$", key="hm")
    assert svg.startswith('<svg class="pgt-plot"') and svg.rstrip().endswith("</svg>")
    assert ">—<" in svg and ">0.90<" in svg and "T $x$" in svg
    with pytest.raises(DataError, match="heatmap got 1 matrix rows but 2 row labels"):
        plots.heatmap([[0.5, 0.6]], ["a", "b"], ["x", "y"], "t")
    with pytest.raises(DataError, match="heatmap row 0 has 1 values but there are 2 column labels"):
        plots.heatmap([[0.5]], ["a"], ["x", "y"], "t")


def test_ci_plot_is_deterministic_and_ids_are_prefixed():
    points = [plots.CIPoint("head", 0.6, 0.5, 0.7), plots.CIPoint("lora", 0.8, 0.7, 0.9, highlight=True),
              plots.CIPoint("rag", None)]
    a = plots.ci_plot(points, title="Yoruba", xlabel="macro-F1", reference=0.6, key="ci-yor")
    assert a == plots.ci_plot(points, title="Yoruba", xlabel="macro-F1", reference=0.6, key="ci-yor")
    b = plots.ci_plot(points, title="Yoruba", xlabel="macro-F1", reference=0.6, key="ci-hau")
    ids_a = set(re.findall(r'\sid="([^"]+)"', a))
    assert ids_a and all(i.startswith("ci-yor-") for i in ids_a)
    assert not ids_a & set(re.findall(r'\sid="([^"]+)"', b))
    refs = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', a)
    assert all((x or y) in ids_a for x, y in refs), "every internal reference must point at a prefixed id"
    assert ">— (no result)<" in a and "<?xml" not in a and "DOCTYPE" not in a and "http" not in a
    with pytest.raises(DataError, match="ci_plot got no points"):
        plots.ci_plot([], title="t", xlabel="x")


# ------------------------------------------------------------------------------------------ browser

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"{CHROMIUM} not installed (apt-get install chromium)")


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def _console_messages(stderr: str) -> list[str]:
    """Chromium logs every page console message (and uncaught exception) as a ``CONSOLE`` line."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def _dump_dom(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    proc = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert proc.returncode == 0, f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout, _console_messages(proc.stderr)


@needs_chromium
def test_console_error_detection_catches_a_broken_page(tmp_path):
    """The browser check itself must be able to fail: a page that throws is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>throw new Error('boom-42');</script></body></html>",
                    encoding="utf-8")
    _, messages = _dump_dom(page, tmp_path)
    assert any("boom-42" in m for m in messages), messages


@needs_chromium
def test_report_renders_in_chromium_without_console_errors(results, tmp_path):
    paths = write_reports(results, tmp_path / "report")
    dom, messages = _dump_dom(paths["html"], tmp_path)
    assert messages == [], f"JavaScript console messages while rendering the report: {messages}"
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attrs.get("data-ready") == "yes", f"inline script did not run: {attrs}"
    assert attrs.get("data-plots") == "4" and attrs.get("data-svgs-rendered") == "4", attrs
    figures = _scan(dom).figures
    assert len(figures) == 4
    for fig in figures:
        a = fig["attrs"]
        assert fig["svg"] == 1 and a.get("data-rendered") == "yes", f"plot {fig['plot']} not rendered: {a}"
        width, height = (int(x) for x in a["data-size"].split("x"))
        assert width > 100 and height > 50, f"plot {fig['plot']} rendered too small: {a['data-size']}"

    shot = tmp_path / "report.png"
    proc = _chromium(paths["html"], tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400",
                     "--hide-scrollbars")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_messages(proc.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, "screenshot missing or blank"
    keep = os.environ.get("PGT_KEEP_SCREENSHOT")
    if keep:  # handy for looking at the page: PGT_KEEP_SCREENSHOT=/tmp/report.png pytest ...
        shutil.copyfile(shot, keep)
        shutil.copyfile(paths["html"], Path(keep).with_suffix(".html"))


def test_writers_do_not_modify_their_input(results):
    snapshot = copy.deepcopy(results)
    write_markdown(results)
    write_html(results)
    assert results == snapshot, "the writers must not modify their input"


@needs_chromium
def test_size_check_catches_a_plot_that_does_not_render(results, tmp_path):
    """The inline size check must be able to fail: a hidden <svg> is reported as not rendered."""
    page = write_html(results).replace("</head>", "<style>figure.plot svg { display: none; }</style></head>", 1)
    path = tmp_path / "hidden.html"
    path.write_text(page, encoding="utf-8")
    dom, messages = _dump_dom(path, tmp_path)
    assert messages == []
    assert 'data-svgs-rendered="0"' in dom and 'data-plots="4"' in dom
    assert all(f["attrs"].get("data-rendered") == "no" for f in _scan(dom).figures)
