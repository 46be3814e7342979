"""Retrieval voting: one index over labelled examples and documents, similarity-weighted label votes."""

from __future__ import annotations

import numpy as np
import pytest

from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.retriever import IndexRetriever
from polyglot_transfer.retrieval.vote import (
    RetrievalVoteClassifier,
    build_task_index,
    leave_one_out_hits,
    select_combine_weight,
    select_vote_params,
    vote_proba,
)


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


# -- zero-shot defaults: k / temperature by leave-one-out, the mixing weight on dev predictions --------


def _loo_by_rebuilding(emb, examples, docs, labels, k, t):
    """Leave-one-out the slow, obvious way: a fresh index without the held-out example, for each example."""
    from sklearn.metrics import f1_score

    preds = []
    for i, e in enumerate(examples):
        rest = TextDataset([x for j, x in enumerate(examples) if j != i], name="rest")
        voter = RetrievalVoteClassifier(IndexRetriever(index=build_task_index(emb, rest, docs), embedder=emb, k=k),
                                        labels, temperature=t)
        preds.append(voter.predict([e.text])[0])
    return f1_score(examples.labels, preds, average="macro", labels=labels, zero_division=0)


class GaussianEmbedder:
    """Each text "<label>-<i>" gets a fixed noisy vector around its label's centre: no tied similarities."""

    dim = 12
    identity = {"model": "gauss", "weights_sha256": {}, "query_prompt": "", "passage_prompt": "", "dim": 12}

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.centres = {lbl: rng.normal(size=self.dim) for lbl in ("animals", "crops", "weather")}
        self.table = {}
        for lbl, c in self.centres.items():
            for i in range(12):
                v = 0.6 * c + rng.normal(size=self.dim)
                self.table[f"{lbl}-{i}"] = v / np.linalg.norm(v)

    def _enc(self, texts):
        return np.stack([self.table[t] for t in texts]).astype(np.float32)

    encode_queries = encode_passages = _enc


def loo_task():
    emb = GaussianEmbedder()
    examples = ds([(f"{lbl}-{i}", lbl, "eng_Latn") for lbl in emb.centres for i in range(8)], "ex")
    docs = ds([(f"{lbl}-{i}", lbl, "swh_Latn") for lbl in emb.centres for i in range(8, 10)], "doc")
    return emb, examples, docs, ["animals", "crops", "weather"]


def test_leave_one_out_equals_rebuilding_the_index_without_each_example():
    emb, examples, docs, labels = loo_task()
    k, t, record, loo = select_vote_params(emb, examples, docs, labels, k_grid=(1, 3, 5), temperature_grid=(0.05, 1.0))
    for key, value in record["grid"].items():
        kk, tt = int(key.split(",")[0][2:]), float(key.split("T=")[1])
        assert value == pytest.approx(_loo_by_rebuilding(emb, examples, docs, labels, kk, tt), abs=1e-4), key
    assert record["loo_macro_f1"] == max(record["grid"].values())
    assert (record["k"], record["temperature"]) == (k, t) and record["chosen"] == ["k", "temperature"]
    assert record["by"] == "leave-one-out on eng_Latn train (24 labelled examples, index also holding 6 documents), macro-F1"
    assert loo.shape == (24, 3) and np.allclose(loo.sum(axis=1), 1.0)


def test_a_given_k_or_temperature_is_kept_and_ties_go_to_the_smoother_vote():
    emb, examples, docs, labels = loo_task()
    k, t, record, _ = select_vote_params(emb, examples, docs, labels, k=3, temperature_grid=(0.05, 0.1, 100.0))
    assert k == 3 and record["chosen"] == ["temperature"] and set(record["grid"]) == {"k=3,T=0.05", "k=3,T=0.1", "k=3,T=100"}
    best = max(record["grid"].values())
    assert t == max(float(key.split("T=")[1]) for key, v in record["grid"].items() if v == best)
    _, _, given, _ = select_vote_params(emb, examples, docs, labels, k=2, temperature=0.05)
    assert given["by"] == "given in the config" and given["chosen"] == []
    with pytest.raises(DataError, match="needs at least 2 labelled source examples"):
        select_vote_params(emb, ds([("cow", "animals", "eng_Latn")]), None, labels)


def test_translations_of_the_held_out_example_are_left_out_too():
    emb = KeywordEmbedder()
    rows = [make_example(id="e1", text="cow goat", label="animals", lang="eng_Latn", meta={"item": "1"}),
            make_example(id="s1", text="cow goat cow", label="animals", lang="swh_Latn", meta={"item": "1"}),
            make_example(id="e2", text="maize", label="crops", lang="eng_Latn", meta={"item": "2"}),
            make_example(id="s2", text="maize maize", label="crops", lang="swh_Latn", meta={"item": "2"}),
            make_example(id="e3", text="cow", label="crops", lang="eng_Latn", meta={"item": "3"})]
    scores, label_idx = leave_one_out_hits(emb, TextDataset(rows, name="par"), None, ["animals", "crops"], 1)
    # e1's nearest item is its own translation s1 (left out), so its nearest remaining item is e3 ("cow")
    assert label_idx[0, 0] == 1 and scores[0, 0] < 0.999


def test_vote_proba_handles_missing_hits_and_unknown_labels():
    scores = np.array([[0.9, 0.8, -np.inf], [-np.inf, -np.inf, -np.inf]])
    label_idx = np.array([[0, -1, -1], [-1, -1, -1]])
    probs = vote_proba(scores, label_idx, 2, 0.05)
    np.testing.assert_allclose(probs, [[1.0, 0.0], [0.5, 0.5]])


def test_the_mixing_weight_is_the_best_on_dev_predictions_nearest_half_on_ties():
    labels = ["a", "b"]
    y = ["a", "a", "b", "b"]
    adapt = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.6, 0.4]])  # right on rows 0 and 2
    vote = np.array([[0.6, 0.4], [0.9, 0.1], [0.45, 0.55], [0.1, 0.9]])  # right on all rows
    w, record = select_combine_weight(adapt, vote, y, labels, on="out-of-fold predictions on x")
    assert record["grid"]["0"] == 1.0 and record["grid"]["1"] < 1.0
    perfect = [float(k) for k, v in record["grid"].items() if v == 1.0]
    assert w == min(perfect, key=lambda v: abs(v - 0.5)) and record["by"] == "out-of-fold predictions on x, macro-F1"
    same, rec = select_combine_weight(vote, vote, y, labels, on="x")
    assert same == 0.5 and rec["dev_macro_f1"] == 1.0
    with pytest.raises(DataError, match=r"Dev predictions disagree in shape: adapted \(4, 2\), vote \(3, 2\)"):
        select_combine_weight(adapt, vote[:3], y, labels, on="x")
