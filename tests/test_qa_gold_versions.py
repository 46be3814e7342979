"""Gold passages across languages: the gold set of a question is every version of its gold document
(documents linked by ``translation_of``), and the QA metrics score retrieval against that set."""

from __future__ import annotations

import pytest

from polyglot_transfer.data.corpora import load_demo_corpus
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.qa_runner import document_versions
from polyglot_transfer.measure.qa import score_qa


def _docs(*links: tuple[str, str, str | None]) -> TextDataset:
    return TextDataset([Example(id=i, text=f"text of {i}", label=None, lang=lang, meta={"translation_of": t})
                        for i, lang, t in links], name="docs")


def test_versions_follow_translation_links_transitively_and_list_the_document_first():
    docs = _docs(("a", "eng_Latn", None), ("b", "swh_Latn", "a"), ("c", "hau_Latn", "b"), ("d", "eng_Latn", None),
                 ("e", "swh_Latn", None))
    versions = document_versions(docs)
    assert versions["a"] == ["a", "b", "c"]
    assert versions["c"] == ["c", "a", "b"]
    assert versions["d"] == ["d"] and versions["e"] == ["e"]
    assert document_versions(None) == {}


def test_a_translation_link_to_an_unknown_document_is_a_data_error():
    with pytest.raises(DataError, match=r"Document 'b' of 'docs' has translation_of 'zz', which is not a document id"):
        document_versions(_docs(("a", "eng_Latn", None), ("b", "swh_Latn", "zz")))


def test_the_shipped_documents_give_swahili_and_hausa_gold_versions():
    versions = document_versions(load_demo_corpus().documents)
    assert versions["doc-001"] == ["doc-001", "doc-006"]
    assert versions["doc-017"] == ["doc-017", "doc-022", "doc-024"]
    assert versions["doc-041"] == ["doc-041", "doc-046", "doc-048"]
    assert versions["doc-043"] == ["doc-043"]  # no translation


def test_retrieving_another_version_of_the_gold_document_is_a_hit():
    versions = document_versions(load_demo_corpus().documents)
    seen = [["doc-046", "doc-002"], ["doc-002", "doc-003"]]  # the Swahili version of doc-041; two misses
    with_versions = score_qa([["x"], ["y"]], ["x", "y"], "swh_Latn", seen_doc_ids=seen,
                             gold_doc_ids=[versions["doc-041"], versions["doc-001"]])
    english_only = score_qa([["x"], ["y"]], ["x", "y"], "swh_Latn", seen_doc_ids=seen,
                            gold_doc_ids=["doc-041", "doc-001"])
    assert with_versions.values["gold_passage_recall"] == 0.5
    assert english_only.values["gold_passage_recall"] == 0.0
