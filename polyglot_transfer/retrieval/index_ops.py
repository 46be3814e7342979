"""Index folders as a user handles them: build from a file, add, delete, search, describe.

These are the operations behind `pgt index build|add|delete|search|info|evaluate`. Documents come from a
JSONL / CSV / TSV file (canonical columns text, id, lang, label; any other column becomes metadata),
long ones are chunked on sentence boundaries, and every write goes through the index's atomic,
locked save.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.retrieval.chunking import chunk_documents, chunk_documents_tokens
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.evaluate import (
    DEFAULT_CUTOFFS,
    cross_lingual_breakdown,
    metric_names,
    per_query_scores,
    ranking_metrics,
)
from polyglot_transfer.retrieval.faiss_index import (
    DEFAULT_RECALL_TARGET,
    VectorIndex,
    add_to_saved_index,
    check_recall_target,
)
from polyglot_transfer.retrieval.recipes import recommended_training_size
from polyglot_transfer.retrieval.hybrid import MODES, HybridRetriever, check_mode, fuse_arrays, ranked_keys, tune_fusion

logger = logging.getLogger(__name__)
DEFAULT_CHUNK_CHARS = 1000  # for embedders without a tokenizer


def _check_chunking(max_chars: Any, max_tokens: Any) -> None:
    for name, value in (("max_chars", max_chars), ("max_tokens", max_tokens)):
        if value is not None and value != "model" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ConfigError(f"{name} must be an int >= 1, 0 (never chunk) or None. Got {value!r} instead.")
    if max_chars and max_tokens not in (None, "model"):
        raise ConfigError(f"Give max_chars ({max_chars}) or max_tokens ({max_tokens}), not both.")


def _documents(
    data: TextDataset, max_chars: int | None, embedder: Embedder | None = None, max_tokens: int | str | None = None,
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Texts, metadata and keys of `data`, chunked by the embedder's tokens (`max_tokens`; "model": as many as
    the model reads) or, with `max_chars` (or an embedder without a tokenizer), by characters."""
    metas = [{**e.meta, "source_id": e.id, "lang": e.lang, **({"label": e.label} if e.label else {})} for e in data]
    if max_tokens == "model":
        max_tokens = embedder.max_tokens if (embedder is not None and not max_chars) else None
        if max_tokens is None and max_chars is None:
            max_chars = DEFAULT_CHUNK_CHARS
    if max_tokens:
        texts, chunk_metas = chunk_documents_tokens(data.texts, metas, embedder.count_tokens, max_tokens=max_tokens,
                                                    overlap_tokens=max_tokens // 5)
        keys = [f"{m['source_id']}#{m['chunk']}" for m in chunk_metas]
        return texts, chunk_metas, keys
    if not max_chars:
        return data.texts, metas, data.ids
    texts, chunk_metas = chunk_documents(data.texts, metas, max_chars=max_chars, overlap_chars=max_chars // 5)
    keys = [f"{m['source_id']}#{m['chunk']}" for m in chunk_metas]
    return texts, chunk_metas, keys


def load_documents(path: str | Path, *, columns: dict[str, str] | None = None, lang: str | None = None) -> TextDataset:
    from polyglot_transfer.data.loaders import load_table

    return load_table(path, columns=columns, lang=lang)


def stream_documents(
    path: str | Path, *, columns: dict[str, str] | None = None, lang: str | None = None
) -> tuple[int, Callable[[], Iterator[Example]]]:
    """(number of rows, a function that opens the file again and yields its rows one at a time).

    The counting pass reads the whole file with every check `load_table` makes (so a bad row near the end
    is refused before any embedding starts) and keeps nothing but the count."""
    from polyglot_transfer.data.loaders import iter_table

    n = 0
    for _ in iter_table(path, columns=columns, lang=lang):
        n += 1
    if n == 0:
        text_column = (columns or {}).get("text", "text")
        raise DataError(f"{path} has no data rows. Expected at least one row with a {text_column!r} value.")
    return n, lambda: iter_table(path, columns=columns, lang=lang)


EMBED_BLOCK = 4096


def build_index(
    folder: str | Path, data: TextDataset | Iterable[Example], *, model: str = "intfloat/multilingual-e5-small",
    recipe: str | None = None, metric: str = "cosine", max_chars: int | None = None, force: bool = False,
    recall_target: float | None = DEFAULT_RECALL_TARGET, max_tokens: int | str | None = "model",
    cache_dir: str | Path | None = None, processes: int = 1, batch_size: int = 32, show_progress: bool = False,
    n_documents: int | None = None, block_size: int = EMBED_BLOCK,
) -> VectorIndex:
    """Embed `data` (passage prompt) into a new index saved at `folder`.

    `data` is a TextDataset or any iterable of Examples (e.g. `stream_documents`' reader): documents are
    read `block_size` at a time, chunked, embedded and added, so the input is never held whole; only the
    index (its vectors and docstore) grows with the corpus. `n_documents` (the count, when `data` has no
    len) sizes the auto recipe and the progress bar's ETA. Approximate recipes are tuned once, at the end.

    Documents longer than the model reads (`max_tokens="model"`, e.g. 512 tokens for e5 less its prompt)
    are chunked on sentence boundaries by the model's own tokenizer; `max_chars` chunks by characters
    instead; `max_tokens=None` with no `max_chars` never chunks.

    Each block is sorted by length inside sentence-transformers; with `cache_dir` every finished block is
    kept on disk, so a build that was interrupted and is run again only embeds what is missing.
    `processes` > 1 embeds on that many CPU processes (sentence-transformers' pool).
    """
    _check_chunking(max_chars, max_tokens)
    if not isinstance(block_size, int) or block_size < 1:
        raise ConfigError(f"block_size must be an int >= 1. Got {block_size!r} instead.")
    folder = Path(folder)
    check_recall_target(recall_target)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ConfigError(f"{folder} already exists and is not empty. Use `pgt index add` to add documents, "
                          "or --force to replace it.")
    if n_documents is None and hasattr(data, "__len__"):
        n_documents = len(data)  # type: ignore[arg-type]
    embedder = Embedder(model, cache_dir=cache_dir, processes=processes, batch_size=batch_size)
    index = VectorIndex(embedder.dim, metric=metric, recipe=recipe, embedder_identity=embedder.identity,
                        expected_size=n_documents or None, recall_target=recall_target)
    pending: list[tuple[np.ndarray, list[str], list[dict[str, Any]], list[str]]] = []
    n_pending = 0

    def flush(last: bool = False) -> None:
        nonlocal n_pending
        if not pending:
            return
        vectors = np.concatenate([p[0] for p in pending]) if len(pending) > 1 else pending[0][0]
        texts = [t for p in pending for t in p[1]]
        metas = [m for p in pending for m in p[2]]
        keys = [k for p in pending for k in p[3]]
        pending.clear()
        n_pending = 0
        # a corpus added in one batch is tuned on its original vectors (and may move to a finer encoding);
        # one added in many is tuned once at the end
        index.add(vectors, texts, metas, keys=keys, retune=last and len(index) == 0)

    seen = 0
    try:
        with tqdm(total=n_documents, desc="embedding", unit="passage", disable=not show_progress) as bar:
            for block in _blocks(data, block_size):
                # what is pending goes in once another block follows (the last block is added by flush(last=True));
                # a recipe that needs training (IVF, PQ) waits for the sample FAISS recommends (bounded memory)
                if pending and (index.is_trained or n_pending >= _training_sample(index, seen)):
                    flush()
                texts, metas, keys = _documents(TextDataset(block), max_chars, embedder, max_tokens)
                pending.append((embedder.encode_passages(texts), texts, metas, keys))
                n_pending += len(texts)
                seen += len(block)
                bar.update(len(block))
                bar.set_postfix(entries=len(index) + n_pending, refresh=False)
            flush(last=True)
    finally:
        embedder.close()
    if seen == 0:
        raise DataError("No documents to index: the input has no rows. Give a file with at least one document.")
    if index._should_tune():
        index.tune()
    index.save(folder)
    return index


def _blocks(data: Iterable[Example], size: int) -> Iterator[list[Example]]:
    block: list[Example] = []
    for example in data:
        block.append(example)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def _training_sample(index: VectorIndex, seen: int) -> int:
    """How many vectors to hold back before the first add: 0 for recipes without training."""
    if index.recipe is None:
        index._ensure_built(max(seen, index.expected_size or 0))
    return recommended_training_size(index.recipe) if not index.is_trained else 0


def add_documents(
    folder: str | Path, data: TextDataset, *, max_chars: int | None = None, max_tokens: int | str | None = "model",
) -> list[int]:
    """Add documents to a saved index with the embedder it was built with (safe with concurrent writers)."""
    _check_chunking(max_chars, max_tokens)
    info = index_info(folder)
    embedder = Embedder(info["embedder"]["model"])
    texts, metas, keys = _documents(data, max_chars, embedder, max_tokens)
    return add_to_saved_index(folder, embedder.encode_passages(texts), texts, metas, keys=keys,
                              expected_embedder=embedder.identity)


def delete_documents(folder: str | Path, ids: list[int]) -> int:
    from polyglot_transfer.fileio import file_lock

    with file_lock(Path(folder) / ".lock"):
        index = VectorIndex.load(folder)
        removed = index.delete(ids)
        index._save_locked(Path(folder))
    return removed


def open_index(folder: str | Path) -> tuple[Embedder, VectorIndex]:
    """A saved index with the embedder it was built with (refused if the files do not match that embedder)."""
    embedder = Embedder(index_info(folder)["embedder"]["model"])
    return embedder, VectorIndex.load(folder, expected_embedder=embedder.identity)


def search_index(
    folder: str | Path, queries: list[str], *, k: int = 5, mode: str = "dense", where: dict[str, Any] | None = None
) -> list[list[dict[str, Any]]]:
    """Search a saved index; each hit is {text, score, metadata...}. `mode` adds BM25 or hybrid fusion."""
    check_mode(mode)
    embedder, index = open_index(folder)
    retriever = HybridRetriever(index=index, embedder=embedder, mode=mode, k=k, where=where)
    return [[{"text": d.page_content, **d.metadata} for d in docs] for docs in retriever.retrieve_batch(queries)]


def _relevant_ids(value: Any, where: str) -> set[str]:
    if isinstance(value, str):
        ids = {v.strip() for v in value.split("|") if v.strip()}
    elif isinstance(value, (list, tuple)):
        ids = {str(v) for v in value if str(v).strip()}
    else:
        ids = set()
    if not ids:
        raise DataError(f"{where}: no relevant document ids (got {value!r}). Give each query a `relevant` column: "
                        "the ids of the documents that answer it, as a JSON list or as 'id1|id2' in CSV/TSV.")
    return ids


def evaluate_index(
    folder: str | Path, queries: TextDataset, *, modes: list[str] | tuple[str, ...] = MODES,
    tune: TextDataset | None = None, relevant_by: str | None = None, cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Score a saved index on judged queries, per retrieval mode, overall and by query x document language.

    Each query needs a language and ``meta["relevant"]``: the ids of the documents that answer it (the
    ``id`` column of the documents file; chunks of one document count as that document). With
    `relevant_by` (e.g. "label"), a query's relevant documents are instead all documents whose value of
    that field equals the query's (topical relevance from labelled queries and documents). With `tune`
    (other judged queries), a ``tuned`` row is added: the fusion that scored best on them (`tune_fusion`).
    `cutoffs` are the k of recall@k / success@k (MRR at each k >= 10; nDCG at 10). Each query is embedded
    once (batched, longest first) and searched once per side (dense in one FAISS call, BM25 in one bm25s
    call; no BM25 index at all when only dense is asked for); every mode ranks those same candidates, fused
    for all queries at once in numpy (`fuse_arrays`), and so does the fusion tuning on its own queries.
    Returns {"modes": {mode: {"overall": {...}, "breakdown": [...], "per_query": {...}}}, "tuned": {...}}.
    """
    metric_names(cutoffs)  # checks the cut-offs before any work
    cutoffs = tuple(sorted(set(cutoffs)))
    for mode in modes:
        check_mode(mode)
    embedder, index = open_index(folder)
    embedder.show_progress = show_progress
    source_of: dict[int, str] = {}
    lang_of: dict[str, str] = {}
    by_value: dict[str, set[str]] = {}
    for doc_id in index.ids:
        meta = index.get(doc_id)["metadata"]
        source = str(meta.get("source_id", doc_id))
        source_of[doc_id] = source
        if meta.get("lang"):
            lang_of[source] = meta["lang"]
        if relevant_by and meta.get(relevant_by) is not None:
            by_value.setdefault(str(meta[relevant_by]), set()).add(source)
    if relevant_by and not by_value:
        raise DataError(f"No document of {folder} has a {relevant_by!r} field, so relevance cannot be taken from it. "
                        "Build the index from a file with that column, or give queries a `relevant` column.")

    def relevant_of(e: Any) -> set[str]:
        if not relevant_by:
            return _relevant_ids(e.meta.get("relevant"), f"query {e.id!r}")
        value = e.label if relevant_by == "label" else e.meta.get(relevant_by)
        if value is None or str(value) not in by_value:
            raise DataError(f"query {e.id!r}: no document has {relevant_by}={value!r} (documents have "
                            f"{sorted(by_value)[:8]}). Every query needs at least one relevant document.")
        return by_value[str(value)]

    def judged(data: TextDataset) -> list[set[str]]:
        relevant = [relevant_of(e) for e in data]
        unknown = sorted({d for rel in relevant for d in rel} - set(source_of.values()))
        if unknown:
            raise DataError(f"{len(unknown)} relevant id(s) are not documents of {folder}: {unknown[:5]}. "
                            "Relevant ids must be the `id` values of the documents the index was built from.")
        return relevant

    relevant = judged(queries)
    query_langs = [e.lang or "und" for e in queries]
    need_bm25 = tune is not None or any(mode != "dense" for mode in modes)  # dense alone: no BM25 index is built
    retriever = HybridRetriever(index=index, embedder=embedder, k=max(max(cutoffs), 10),
                                mode="hybrid_rrf" if need_bm25 else "dense")
    # queries are embedded and BM25 is built once; every mode ranks the same candidates
    logger.info("Retrieving candidates for %d queries (%s)...", len(queries), "dense and BM25" if need_bm25 else "dense")
    cands = retriever.candidate_arrays(queries.texts, depth=max(4 * retriever.k, 50), both=need_bm25)

    def score(setting: dict[str, Any]) -> dict[str, Any]:  # every query's fusion at once, in numpy
        ranked = ranked_keys(fuse_arrays(*cands, **setting, k=retriever.k)[0], source_of.__getitem__)
        return {"overall": ranking_metrics(ranked, relevant, cutoffs=cutoffs),
                "breakdown": cross_lingual_breakdown(ranked, relevant, query_langs, lang_of, cutoffs=cutoffs),
                "per_query": {k: v.tolist() for k, v in per_query_scores(ranked, relevant, cutoffs=cutoffs).items()}}

    out: dict[str, Any] = {"index": str(folder), "n_queries": len(queries), "cutoffs": list(cutoffs), "modes": {}}
    for mode in tqdm(modes, desc="scoring modes", unit="mode", disable=not show_progress):
        out["modes"][mode] = score({"mode": mode, "alpha": retriever.alpha, "rrf_k": retriever.rrf_k})
    if tune is not None:
        grid = tune_fusion(retriever, tune.texts, judged(tune), doc_key=source_of.__getitem__, apply=False)
        setting = {k: grid[0][k] for k in ("mode", "alpha", "rrf_k") if k in grid[0]}
        out["tuned"] = {"setting": setting, "grid": grid, **score(setting)}
    return out


def index_info(folder: str | Path) -> dict[str, Any]:
    """The verified manifest of the live version of a saved index (no vectors loaded).

    CURRENT must name a version inside `folder` and the manifest's sha256 (see `VectorIndex.read_manifest`).
    """
    manifest = VectorIndex.read_manifest(folder)[1]
    tuning = manifest.get("tuning") or {}
    manifest["search_quality"] = {
        "recipe": manifest["recipe"],
        "exact": not tuning and str(manifest["recipe"]).startswith("Flat"),
        f"recall@{tuning.get('k', 10)}_vs_exact": tuning.get("recall"),
        "recall_target": tuning.get("target", manifest.get("recall_target")),
        "tuned": {tuning["param"]: tuning["value"]} if tuning.get("param") else None,
        "ms_per_query": tuning.get("ms_per_query"),
        "bytes_per_vector": manifest.get("bytes_per_vector"),
        "tuned_at_n_vectors": tuning.get("n_vectors"),
    }
    return manifest
