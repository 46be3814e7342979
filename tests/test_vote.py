"""Retrieval voting: one index over labelled examples and documents, similarity-weighted label votes."""

from __future__ import annotations

import numpy as np
import pytest

from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.retriever import IndexRetriever
from polyglot_transfer.retrieval.vote import RetrievalVoteClassifier, build_task_index


class KeywordEmbedder:
    """Deterministic bag-of-keywords vectors: enough to check the voting arithmetic exactly."""

    VOCAB = ["cow", "goat", "maize", "beans", "rain", "wind"]
    dim = len(VOCAB)
    identity = {"model": "keywords", "weights_sha256": {}, "query_prompt": "", "passage_prompt": "", "dim": 6}

    def _enc(self, texts):
        out = np.array([[t.split().count(w) for w in self.VOCAB] for t in texts], dtype=np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_passages = _enc


def ds(rows, name="d"):
    return TextDataset([make_example(id=f"{name}{i}", text=t, label=lbl, lang=lang) for i, (t, lbl, lang) in enumerate(rows)], name=name)


@pytest.fixture()
def voter():
    emb = KeywordEmbedder()
    examples = ds([("cow goat", "animals", "eng_Latn"), ("maize beans", "crops", "eng_Latn")], "ex")
    docs = ds([("rain wind", "weather", "swh_Latn")], "doc")
    index = build_task_index(emb, examples, docs)
    retriever = IndexRetriever(index=index, embedder=emb, k=3)
    return RetrievalVoteClassifier(retriever, ["animals", "crops", "weather"], temperature=0.05)


def test_vote_follows_the_nearest_items(voter):
    probs = voter.predict_proba(["cow", "beans", "wind rain"])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0)
    assert voter.predict(["cow", "beans", "wind rain"]) == ["animals", "crops", "weather"]
    assert probs[0, 0] > 0.99  # a sharp temperature puts nearly all weight on the exact match


def test_retriever_keeps_scores_and_metadata(voter):
    docs = voter.retriever.invoke("rain")
    assert docs[0].metadata["label"] == "weather" and docs[0].metadata["kind"] == "document"
    assert docs[0].metadata["lang"] == "swh_Latn" and docs[0].metadata["score"] > docs[1].metadata["score"]
    only_docs = voter.retriever.retrieve_batch(["cow"], where={"kind": "document"})[0]
    assert [d.metadata["kind"] for d in only_docs] == ["document"]


def test_unlabelled_items_are_refused():
    with pytest.raises(DataError, match="needs a label"):
        build_task_index(KeywordEmbedder(), ds([("cow", None, "eng_Latn")]), None)
    with pytest.raises(DataError, match="Nothing to index"):
        build_task_index(KeywordEmbedder(), None, None)
