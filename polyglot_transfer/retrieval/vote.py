"""Classification by retrieval: index labelled examples and task documents, predict by a similarity-weighted vote.

Zero-shot defaults are chosen on the labelled source data only: :func:`select_vote_params` picks the vote's k
and temperature by leave-one-out over the labelled source examples (each one is classified by the rest of
the index), and :func:`select_combine_weight` picks how much an adapted model's probabilities weigh against
the vote's on source-language dev predictions. Each returns a record of what was chosen and on what.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from annotated_types import Ge, Gt
from sklearn.metrics import f1_score

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.retriever import IndexRetriever
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

#: Candidates searched when a setup's retrieval block leaves k / temperature out.
K_GRID = (1, 3, 5, 8, 16, 32)
TEMPERATURE_GRID = (0.01, 0.02, 0.05, 0.1, 0.2)
#: Candidates for the adapted model's weight against the vote (1 = adapted model only, 0 = vote only).
COMBINE_WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))


@typed
@dataclass
class RetrievalConfig:
    """A setup's `retrieval:` block. temperature > 0 and finite: 0 divides by zero (a NaN vote), a negative
    one inverts the vote (the least similar hit wins)."""

    k: Annotated[int, Ge(1)] = 8  # hits per query
    temperature: Annotated[float, Gt(0)] = 0.05  # softmax temperature over cosine similarities of the k hits
    use_examples: bool = True  # index the labelled source examples
    use_documents: bool = True  # index the task documents
    recipe: str = "Flat"


def build_task_index(
    embedder: Embedder, examples: TextDataset | None, documents: TextDataset | None, *, recipe: str = "Flat"
) -> VectorIndex:
    """One index over labelled examples (query prompt: they are short messages, like the queries)
    and task documents (passage prompt), each carrying its label, language, kind and id as metadata."""
    index = VectorIndex(embedder.dim, metric="cosine", recipe=recipe, embedder_identity=embedder.identity)
    for data, kind, encode in (
        (examples, "example", embedder.encode_queries),
        (documents, "document", embedder.encode_passages),
    ):
        if data is None or len(data) == 0:
            continue
        if any(label is None for label in data.labels):
            raise DataError(f"Every {kind} indexed for retrieval voting needs a label; {data.name} has unlabelled rows.")
        index.add(
            encode(data.texts),
            data.texts,
            [{"label": e.label, "lang": e.lang, "kind": kind, "source_id": e.id} for e in data],
        )
    if len(index) == 0:
        raise DataError("Nothing to index: retrieval needs labelled examples or task documents.")
    return index


class RetrievalVoteClassifier:
    """Predict a label distribution from the k retrieved items: softmax(similarity / temperature) votes.

    `selected` records how k and temperature were chosen (None when given); `loo_proba` holds the
    leave-one-out probabilities of the labelled source examples under the chosen values, when selected.
    """

    def __init__(self, retriever: IndexRetriever, labels: list[str], temperature: float = 0.05,
                 *, selected: dict[str, Any] | None = None, loo_proba: np.ndarray | None = None) -> None:
        self.retriever = retriever
        self.labels = list(labels)
        self.temperature = temperature
        self.selected = selected
        self.loo_proba = loo_proba

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        position = {label: i for i, label in enumerate(self.labels)}
        rows = self.retriever.retrieve_batch(list(texts))
        k = max((len(docs) for docs in rows), default=0)
        scores = np.full((len(rows), max(k, 1)), -np.inf)
        label_idx = np.full((len(rows), max(k, 1)), -1)
        for r, docs in enumerate(rows):
            for j, d in enumerate(docs):
                scores[r, j] = d.metadata["score"]
                label_idx[r, j] = position.get(d.metadata["label"], -1)
        return vote_proba(scores, label_idx, len(self.labels), self.temperature).astype(np.float32)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]


def vote_proba(scores: np.ndarray, label_idx: np.ndarray, n_labels: int, temperature: float) -> np.ndarray:
    """Vote of ranked hits: `scores` (n, k) similarities, best first (-inf: no hit), `label_idx` (n, k) the
    hits' label positions (-1: a label outside the task). Each hit weighs exp((s - s_best) / temperature);
    a row with no usable hit gets the uniform distribution."""
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.isfinite(scores) & (label_idx >= 0)
    best = np.where(np.isfinite(scores), scores, -np.inf).max(axis=1, keepdims=True)
    best = np.where(np.isfinite(best), best, 0.0)
    weights = np.where(valid, np.exp((np.where(valid, scores, best) - best) / temperature), 0.0)
    probs = np.zeros((scores.shape[0], n_labels))
    rows = np.repeat(np.arange(scores.shape[0]), scores.shape[1])
    np.add.at(probs, (rows, np.clip(label_idx, 0, None).ravel()), weights.ravel())
    total = probs.sum(axis=1, keepdims=True)
    return np.where(total > 0, probs / np.where(total > 0, total, 1.0), 1.0 / n_labels)


def _macro_f1(y: np.ndarray, probs: np.ndarray) -> float:
    return float(f1_score(y, probs.argmax(axis=1), average="macro", labels=np.arange(probs.shape[1]),
                          zero_division=0))


def leave_one_out_hits(embedder: Embedder, examples: TextDataset, documents: TextDataset | None,
                       labels: list[str], k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """For every labelled example, its `k_max` nearest items of the task index (examples with the query
    prompt, documents with the passage prompt, cosine) leaving out itself, exact duplicates of its text and
    its translations (examples sharing its ``meta["item"]``, as NusaX's parallel sentences do):
    (scores, label positions), both (n, k_max), best first."""
    position = {label: i for i, label in enumerate(labels)}
    q = _unit(embedder.encode_queries(examples.texts))
    items, item_labels, item_texts = [q], [position.get(lbl, -1) for lbl in examples.labels], list(examples.texts)
    if documents is not None and len(documents):
        items.append(_unit(embedder.encode_passages(documents.texts)))
        item_labels += [position.get(lbl, -1) for lbl in documents.labels]
        item_texts += list(documents.texts)
    sims = q @ np.vstack(items).T
    texts = np.array(item_texts, dtype=object)
    groups = np.array([e.meta.get("item", f"\x00{i}") for i, e in enumerate(examples)]
                      + [f"\x01{i}" for i in range(len(item_texts) - len(examples))], dtype=object)
    for i, e in enumerate(examples):
        sims[i, (texts == e.text) | (groups == groups[i])] = -np.inf  # itself, duplicates, translations
    k_max = min(k_max, sims.shape[1] - 1) if sims.shape[1] > 1 else 1
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k_max]
    scores = np.take_along_axis(sims, order, axis=1)
    label_idx = np.where(np.isfinite(scores), np.array(item_labels)[order], -1)
    return scores, label_idx


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def select_vote_params(
    embedder: Embedder, examples: TextDataset, documents: TextDataset | None, labels: list[str], *,
    k: int | None = None, temperature: float | None = None,
    k_grid: tuple[int, ...] = K_GRID, temperature_grid: tuple[float, ...] = TEMPERATURE_GRID,
) -> tuple[int, float, dict[str, Any], np.ndarray]:
    """Choose the vote's k and temperature (those not given) by leave-one-out macro-F1 over the labelled
    `examples`; ties go to the larger k and the softer temperature (smoother votes transfer better).

    Returns (k, temperature, record of the choice, leave-one-out probabilities under the choice)."""
    if examples is None or len(examples) < 2:
        raise DataError("Choosing the vote's k and temperature needs at least 2 labelled source examples "
                        f"(leave-one-out); got {0 if examples is None else len(examples)}. Give k and temperature "
                        "in the setup's retrieval block.")
    ks = [k] if k is not None else sorted(set(k_grid))
    temps = [temperature] if temperature is not None else sorted(set(temperature_grid))
    scores, label_idx = leave_one_out_hits(embedder, examples, documents, labels, max(ks))
    position = {label: i for i, label in enumerate(labels)}
    y = np.array([position[lbl] for lbl in examples.labels])
    table: dict[tuple[int, float], float] = {}
    for kk in ks:
        for t in temps:
            table[kk, t] = _macro_f1(y, vote_proba(scores[:, :kk], label_idx[:, :kk], len(labels), t))
    best_k, best_t = max(table, key=lambda kt: (round(table[kt], 10), kt[0], kt[1]))
    what = f"{'+'.join(examples.languages)} train ({len(examples)} labelled examples"
    what += f", index also holding {len(documents)} documents)" if documents is not None and len(documents) else ")"
    chosen = [name for name, given in (("k", k), ("temperature", temperature)) if given is None]
    record = {"k": best_k, "temperature": best_t,
              "by": f"leave-one-out on {what}, macro-F1" if chosen else "given in the config",
              "chosen": chosen, "loo_macro_f1": round(table[best_k, best_t], 4),
              "grid": {f"k={kk},T={t:g}": round(v, 4) for (kk, t), v in table.items()}}
    logger.info("rag: k=%d temperature=%g (%s: macro-F1 %.3f)", best_k, best_t, record["by"], table[best_k, best_t])
    loo = vote_proba(scores[:, :best_k], label_idx[:, :best_k], len(labels), best_t)
    return best_k, best_t, record, loo


def select_combine_weight(adapt_proba: np.ndarray, vote_proba_: np.ndarray, y_true: list[str], labels: list[str],
                          *, on: str, grid: tuple[float, ...] = COMBINE_WEIGHT_GRID) -> tuple[float, dict[str, Any]]:
    """The weight w of the adapted model in w * adapted + (1 - w) * vote with the best macro-F1 on dev
    predictions (`on` says which: e.g. out-of-fold on the source train set); ties go to the w nearest 0.5."""
    position = {label: i for i, label in enumerate(labels)}
    y = np.array([position[lbl] for lbl in y_true])
    if adapt_proba.shape != vote_proba_.shape or adapt_proba.shape[0] != len(y):
        raise DataError(f"Dev predictions disagree in shape: adapted {adapt_proba.shape}, vote {vote_proba_.shape}, "
                        f"{len(y)} labels; expected (n, {len(labels)}) each.")
    table = {float(w): _macro_f1(y, w * adapt_proba + (1 - w) * vote_proba_) for w in grid}
    best = max(table, key=lambda w: (round(table[w], 10), -abs(w - 0.5)))
    record = {"combine_weight": best, "by": f"{on}, macro-F1", "dev_macro_f1": round(table[best], 4),
              "grid": {f"{w:g}": round(v, 4) for w, v in table.items()}}
    logger.info("mix: adapted-model weight %g (%s: macro-F1 %.3f)", best, on, table[best])
    return best, record
