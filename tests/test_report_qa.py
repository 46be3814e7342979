"""Report sections per task type: the generative-QA template (example answers, retrieval recall next to
answer quality) rendered from fabricated QA results, in Markdown and autoescaped HTML."""

from __future__ import annotations

import re
from typing import Any

import pytest

from polyglot_transfer.evaluation.report import write_html, write_markdown
from polyglot_transfer.evaluation.report_templates import TASK_SECTIONS, md_escape, render_section

SETUPS = ["closed_book", "rag", "ft+rag"]
# (language, setup) -> (token F1, recall@k of the gold passage or None when the setup does not retrieve)
SCORES = {("hau_Latn", "closed_book"): (0.08, None), ("hau_Latn", "rag"): (0.21, 0.64),
          ("hau_Latn", "ft+rag"): (0.41, 0.64), ("swh_Latn", "closed_book"): (0.12, None),
          ("swh_Latn", "rag"): (0.35, 0.81), ("swh_Latn", "ft+rag"): (0.52, 0.81)}


def qa_results() -> dict[str, Any]:
    records = []
    for (lang, setup), (f1, recall) in SCORES.items():
        records.append({"setup": setup, "source": "eng_Latn", "language": lang, "metric": "token_f1", "value": f1,
                        "ci_low": f1 - 0.05, "ci_high": f1 + 0.05, "n": 50, "seed": 0, "seeds": [0]})
        if recall is not None:
            records.append({"setup": setup, "source": "eng_Latn", "language": lang, "metric": "gold_passage_recall",
                            "value": recall, "ci_low": recall - 0.1, "ci_high": recall + 0.1, "n": 50, "seed": 0,
                            "seeds": [0]})
    examples = [
        {"language": "hau_Latn", "id": "q1", "question": "Yaushe ake shuka <masara>?", "gold": ["Afrilu", "a Afrilu"],
         "answers": {"closed_book": "\nYaushe ake", "rag": "Afrilu", "ft+rag": "a Afrilu"},
         "gold_retrieved": {"rag": True, "ft+rag": True}},
        {"language": "swh_Latn", "id": "q2", "question": "Mahindi hupandwa lini? <script>x</script>",
         "gold": ["Machi"], "answers": {"rag": "Aprili", "ft+rag": "Machi"}, "gold_retrieved": {"rag": False}},
    ]
    return {
        "schema_version": 2,
        "run": {"name": "qa-demo", "created": "2026-12-01T00:00:00+00:00", "config_path": "eval/configs/qa.yaml"},
        "task": {"name": "agri_qa", "type": "generative_qa"},
        "source_languages": ["eng_Latn"],
        "languages": [{"code": "hau_Latn", "name": "Hausa"}, {"code": "swh_Latn", "name": "Swahili"}],
        "setups": [{"name": s} for s in SETUPS],
        "baseline": "closed_book",
        "primary_metric": "token_f1",
        "records": records,
        "examples": examples,
    }


def test_every_task_type_has_its_sections():
    assert set(TASK_SECTIONS) == {"classification", "token_classification", "generative_qa"}


def test_qa_markdown_has_retrieval_next_to_answer_quality_and_example_answers():
    md = write_markdown(qa_results())
    assert "## Retrieval and answer quality" in md and "## Example answers" in md
    assert "## Chance levels" not in md  # a classification section, not a QA one
    assert "| Hausa | rag | 0.21 [0.16, 0.26] | 0.64 [0.54, 0.74] |" in md
    assert "| Hausa | closed_book | 0.08 [0.03, 0.13] | — (no retrieval) |" in md
    assert "### Hausa" in md and "| Question | Gold answer | closed_book | rag | ft+rag |" in md
    assert "| Yaushe ake shuka `<masara>`? | Afrilu / a Afrilu |  Yaushe ake | Afrilu | a Afrilu |" in md
    assert "| Aprili | Machi |" in md and "— (no answer recorded)" in md  # swh: no closed_book answer
    assert "<script>" not in md.replace("`<script>`", "")


def test_qa_html_is_autoescaped_and_marks_whether_the_gold_passage_was_seen():
    page = write_html(qa_results())
    section = page.split('<h2 id="retrieval">', 1)[1].split('<h2 id="wins">', 1)[0]
    assert "&lt;script&gt;x&lt;/script&gt;" in section and "<script>x" not in page
    assert "Yaushe ake shuka &lt;masara&gt;?" in section
    assert section.count("gold passage retrieved") == 2 and section.count("gold passage not retrieved") == 1
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th><td>([\w+]+)</td>", section)
    assert ("Swahili", "ft+rag") in rows and len(rows) == 6


def test_markdown_templates_escape_every_value_once():
    assert md_escape("<unk> | *x*") == "`<unk>` \\| \\*x\\*"
    text = render_section("glance", "md", claims=[type("C", (), {"text": "a <unk> b & c &amp; d"})()])
    assert text.splitlines()[-1] == "- a `<unk>` b & c \\&amp; d"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_templates_refuse_an_unknown_variable(fmt):
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_section("classification", fmt, metrics=[])  # `languages` missing
