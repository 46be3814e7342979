"""A FAISS index with stable ids, documents, metadata filters and pickle-free, checksummed persistence.

Ids are stable: a document keeps its id through `update` and across save/load. Internally each
document's vector lives under a FAISS label ("slot"); an update moves the document to a new slot, and
recipes that cannot remove vectors (HNSW) keep the old slot as a tombstone that search filters out.

On disk an index is a folder::

    <folder>/CURRENT             "<live version> <sha256 of its manifest.json>" (replaced atomically)
    <folder>/v-<stamp>/          index.faiss, docstore.jsonl, manifest.json
    <folder>/.lock               serialises writers (see add_to_saved_index)

`docstore.jsonl` holds one document per line (id, slot, key, text, metadata); `manifest.json` the
embedder identity, dimension, metric, recipe, search parameters (and how they were tuned), the sha256
of both files and library versions. The manifest is itself checked from outside: CURRENT names its
sha256, and it must list every file the format needs. A save writes a complete new version, then
points CURRENT at it, so a kill at any moment leaves the previous version loadable; the previous
`KEEP_VERSIONS` versions are kept, and a reader whose version disappears under it (or is half
replaced) retries on the new CURRENT, so readers see the old or the new index, never an error.
CURRENT must name a version folder inside the index folder (no `..`, no absolute path, no symlink).
Folders written by format 1 (the three files directly in the folder) are still read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyglot_transfer.errors import (
    ConfigError,
    DataError,
    IntegrityError,
    LanguageError,
    UnsupportedError,
    did_you_mean,
)
from polyglot_transfer.fileio import atomic_write_text, file_lock, sha256_file
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.retrieval.recipes import choose_recipe, min_training_size, recommended_training_size

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
KEEP_VERSIONS = 3  # the live version and the two before it survive a save (readers may still be loading them)
LOAD_RETRIES = 50  # a reader retries this often when CURRENT moves under it
REQUIRED_FILES = ("index.faiss", "docstore.jsonl")
REQUIRED_KEYS = ("format_version", "dim", "metric", "recipe", "next_id", "embedder", "files")
_VERSION_NAME = re.compile(r"^v-[0-9]{1,24}(?:-[0-9a-f]{1,32})?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
METRICS = ("cosine", "ip", "l2")
DEVICES = ("cpu", "cuda")
MetadataFilter = dict[str, Any] | Callable[[dict[str, Any]], bool]
EXACT_FALLBACK_MAX = 50_000
DEFAULT_RECALL_TARGET = 0.95  # recall@10 against exact search that approximate recipes are tuned to
TUNE_MIN_VECTORS = 1_000  # below this an approximate recipe is left at its parameters (and Flat is chosen)
TUNE_QUERIES = 500  # corpus vectors used as (leave-one-out) tuning queries
RETUNE_GROWTH = 2.0  # re-tune once the corpus has grown past this factor of its size at the last tuning
EF_SEARCH_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096)  # filtered HNSW searches that come back short are redone exactly below this


@dataclass
class Hit:
    id: int
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


def check_filter(where: Any) -> None:
    """Refuse a `where` that is neither a dict nor a callable."""
    if not (callable(where) or isinstance(where, dict)):
        raise ConfigError(
            f"where must be a dict such as {{'lang': 'yor_Latn'}} or a callable on metadata. "
            f"Got {type(where).__name__} instead."
        )


def _canonical_lang(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return resolve_language(value).code
    except LanguageError:
        return value


def resolve_filter(where: MetadataFilter, metadatas: Iterable[dict[str, Any]]) -> MetadataFilter:
    """Check a dict filter against the documents' metadata and resolve language aliases.

    Unknown keys are refused (listing the known ones); language values (keys named ``lang`` or ending
    in ``_lang``) match by canonical code, so ``eng`` or ``English`` finds documents stored as
    ``eng_Latn``; a value no document has is logged as a warning. Callables pass through unchanged.
    """
    check_filter(where)
    if callable(where) or not where:
        return where
    values: dict[str, set[Any]] = {}
    for meta in metadatas:
        for key, value in meta.items():
            try:
                values.setdefault(key, set()).add(value)
            except TypeError:  # unhashable (list, dict): kept as a known key
                values.setdefault(key, set())
    if not values:
        return where
    unknown = [k for k in where if k not in values]
    if unknown:
        known = sorted(values)
        raise ConfigError(
            f"Unknown metadata key(s) {unknown} in the filter.{did_you_mean(str(unknown[0]), known)} "
            f"The documents have: {known}."
        )
    out: dict[str, Any] = {}
    for key, wanted in where.items():
        many = isinstance(wanted, (list, tuple, set))
        asked = list(wanted) if many else [wanted]
        if key == "lang" or key.endswith("_lang"):
            by_code: dict[Any, list[Any]] = {}
            for v in values[key]:
                by_code.setdefault(_canonical_lang(v), []).append(v)
            matched = [v for a in asked for v in by_code.get(_canonical_lang(a), [a])]
        else:
            matched = asked
        if values[key] and not any(m in values[key] for m in matched if _hashable(m)):
            shown = sorted(map(str, values[key]))
            logger.warning(
                "No document has %s=%r, so the filter matches nothing. Values present: %s%s.",
                key, wanted, shown[:12], " ..." if len(shown) > 12 else "",
            )
        out[key] = matched if (many or len(matched) != 1) else matched[0]
    return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def metadata_matches(metadata: dict[str, Any], where: MetadataFilter) -> bool:
    """Whether a document's metadata passes `where`: a callable, or a dict of key -> value / list of values."""
    if callable(where):
        return bool(where(metadata))
    return all(
        (metadata.get(k) in v) if isinstance(v, (list, tuple, set)) else metadata.get(k) == v
        for k, v in where.items()
    )


def _faiss():
    import faiss

    return faiss


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _ReadWriteLock:
    """Many concurrent readers (searches) or one writer (add, delete, update); a waiting writer goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _locked(kind: str) -> Callable:
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def inner(self: VectorIndex, *args: Any, **kwargs: Any) -> Any:
            lock = self.__dict__.get("_rw")
            if lock is None:
                lock = self.__dict__.setdefault("_rw", _ReadWriteLock())
            if getattr(self._rw_state, "held", False):  # re-entrant within one thread
                return method(self, *args, **kwargs)
            self._rw_state.held = True
            try:
                with getattr(lock, kind)():
                    return method(self, *args, **kwargs)
            finally:
                self._rw_state.held = False
        return inner
    return wrap


class VectorIndex:
    """Dense vectors + documents. `recipe` is a FAISS factory string ("Flat", "HNSW32", "IVF64,PQ16", ...).

    With `recipe=None` the recipe is chosen by :func:`choose_recipe` from `expected_size` or, failing
    that, from the size of the first batch added. Recipes that need training (IVF, PQ) are trained on
    the first batch (or call :meth:`train` with a sample). `nprobe` (IVF) and `ef_search` (HNSW) trade
    speed for recall. `device="cuda"` searches on the GPU through faiss-gpu when one is visible and
    logs a warning when it falls back to CPU (the GPU path is not measured yet).

    Thread-safe: searches from many threads run concurrently (FAISS releases the GIL); add, delete,
    update and training wait for running searches and block new ones while they write.
    """

    @property
    def _rw_state(self) -> threading.local:
        state = self.__dict__.get("_rw_local")
        if state is None:
            state = self.__dict__.setdefault("_rw_local", threading.local())
        return state

    def __init__(
        self,
        dim: int,
        *,
        metric: str = "cosine",
        recipe: str | None = "Flat",
        embedder_identity: dict[str, Any] | None = None,
        expected_size: int | None = None,
        nprobe: int | None = None,
        ef_search: int | None = None,
        device: str = "cpu",
        recall_target: float | None = DEFAULT_RECALL_TARGET,
    ) -> None:
        if metric not in METRICS:
            raise ConfigError(f"Unknown metric {metric!r}.{did_you_mean(metric, METRICS)} Use one of {METRICS}.")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ConfigError(f"dim must be a positive int. Got {dim!r} instead.")
        if device not in DEVICES:
            raise ConfigError(f"Unknown device {device!r}.{did_you_mean(str(device), DEVICES)} Use one of {DEVICES}.")
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("expected_size", expected_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an int >= 1 or None. Got {value!r} instead.")
        self.dim, self.metric = dim, metric
        self.embedder_identity = embedder_identity or {}
        self.expected_size = expected_size
        check_recall_target(recall_target)
        self.nprobe, self.ef_search = nprobe, ef_search
        self.recall_target = None if recall_target is None else float(recall_target)
        self.user_params = nprobe is not None or ef_search is not None  # the user's choice is never re-tuned
        self.auto_recipe = recipe is None
        self.tuning: dict[str, Any] | None = None  # how nprobe / ef_search were chosen (see tune)
        self.device = self._resolve_device(device)
        self._docs: dict[int, dict[str, Any]] = {}
        self._key_to_id: dict[str, int] = {}
        self._slot_to_id: dict[int, int] = {}
        self._tombstones: set[int] = set()
        self._next_id = 0
        self._next_slot = 0
        self._gpu_index: Any = None
        self._index: Any = None
        self.recipe = recipe
        if recipe is not None:
            self._build(recipe)
        elif expected_size is not None:
            self.recipe = choose_recipe(expected_size, dim)
            self._build(self.recipe)

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def _resolve_device(device: str) -> str:
        if device == "cpu":
            return "cpu"
        faiss = _faiss()
        n_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        if n_gpus > 0 and hasattr(faiss, "index_cpu_to_all_gpus"):
            return "cuda"
        logger.warning(
            "VectorIndex: device='cuda' was asked but FAISS sees no GPU (faiss-gpu not installed or no visible "
            "device); searching on CPU instead. Install faiss-gpu and check CUDA_VISIBLE_DEVICES to use the GPU."
        )
        return "cpu"

    def _build(self, recipe: str) -> None:
        faiss = _faiss()
        faiss_metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        try:
            base = faiss.index_factory(self.dim, recipe, faiss_metric)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1][:200]
            raise ConfigError(
                f"FAISS cannot build recipe {recipe!r} for dim {self.dim}: {first}. Try 'Flat' or 'HNSW32', "
                "or recipe=None to choose one by corpus size."
            ) from None
        self.recipe = recipe
        if isinstance(base, faiss.IndexIVF):
            # IVF stores ids itself (an IDMap over IVF cannot remove); a hashtable makes ids reconstructable.
            base.set_direct_map_type(faiss.DirectMap.Hashtable)
            self._index = base
        else:
            self._index = faiss.IndexIDMap2(base)
        self._apply_search_params()

    def _base(self) -> Any:
        faiss = _faiss()
        index = faiss.downcast_index(self._index)
        if isinstance(index, (faiss.IndexIDMap2, faiss.IndexIDMap)):
            return faiss.downcast_index(index.index)
        return index

    def _apply_search_params(self) -> None:
        faiss = _faiss()
        base = self._base()
        if self.nprobe is not None and isinstance(base, faiss.IndexIVF):
            base.nprobe = self.nprobe
        if self.ef_search is not None and isinstance(base, faiss.IndexHNSW):
            base.hnsw.efSearch = self.ef_search
        self._gpu_index = None

    @_locked("write")
    def set_search_params(self, *, nprobe: int | None = None, ef_search: int | None = None) -> VectorIndex:
        """Set IVF `nprobe` and/or HNSW `ef_search` (ignored by recipes that do not have them)."""
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an int >= 1. Got {value!r} instead.")
        self.nprobe = nprobe if nprobe is not None else self.nprobe
        self.ef_search = ef_search if ef_search is not None else self.ef_search
        if self._index is not None:
            self._apply_search_params()
        return self

    @property
    def is_trained(self) -> bool:
        return self._index is not None and bool(self._index.is_trained)

    # -- building -------------------------------------------------------------------------------
    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            model = self.embedder_identity.get("model") if self.embedder_identity else None
            raise DataError(
                f"Expected vectors of shape (n, {self.dim}){f' from embedder {model!r}' if model else ''}. "
                f"Got {vectors.shape} instead: embed with the model the index was built with."
            )
        if not np.isfinite(vectors).all():
            raise DataError("Vectors contain NaN or infinity; check the embedder's output.")
        if self.metric == "cosine":
            vectors = vectors.copy()
            _faiss().normalize_L2(vectors)
        return vectors

    def _ensure_built(self, n: int) -> None:
        if self._index is None:
            self._build(choose_recipe(max(n, self.expected_size or 0), self.dim))
            logger.info("VectorIndex: recipe %r chosen for %d vectors.", self.recipe, max(n, self.expected_size or 0))

    @_locked("write")
    def train(self, vectors: np.ndarray) -> VectorIndex:
        """Train the recipe (IVF centroids, PQ codebooks) on a sample; a no-op for Flat and HNSW."""
        vectors = self._prepare(vectors)
        self._ensure_built(len(vectors))
        if self._index.is_trained:
            return self
        need = min_training_size(self.recipe)
        if len(vectors) < need:
            raise DataError(
                f"Recipe {self.recipe!r} needs at least {need} vectors to train (FAISS recommends "
                f"{recommended_training_size(self.recipe)}); got {len(vectors)}. Train on a larger sample, add a "
                f"larger first batch, or use a recipe for this size (choose_recipe({len(vectors)}) = "
                f"{choose_recipe(len(vectors), self.dim)!r})."
            )
        if len(vectors) < recommended_training_size(self.recipe):
            logger.warning(
                "Training %r on %d vectors; FAISS recommends at least %d for good recall.",
                self.recipe, len(vectors), recommended_training_size(self.recipe),
            )
        self._index.train(vectors)
        return self

    @staticmethod
    def _check_metadata(meta: Any, position: int) -> dict[str, Any]:
        if not isinstance(meta, dict):
            raise DataError(f"metadatas[{position}] is a {type(meta).__name__}; expected a dict.")
        try:
            json.dumps(meta, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"metadatas[{position}] cannot be saved as JSON ({exc}); use str, int, float, bool, None, "
                "lists and dicts of those."
            ) from None
        return dict(meta)

    @_locked("write")
    def add(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]] | None = None,
        *,
        keys: Sequence[str | None] | None = None,
        embedder: dict[str, Any] | None = None,
        retune: bool = True,
    ) -> list[int]:
        """Add documents with their vectors; returns the new stable ids.

        `keys` are optional unique strings (e.g. LangChain ids) to find documents by later. `embedder`
        is the identity of the embedder that made `vectors` (``Embedder.identity``): refused when it is
        not the one the index was built with, recorded when the index has none yet. With `retune=False`
        the search parameters are not re-tuned after this batch (a build that streams many batches in
        calls :meth:`tune` once at the end instead).
        """
        if embedder is not None:
            if self.embedder_identity:
                check_embedder(self.embedder_identity, embedder, "This index")
            else:
                self.embedder_identity = dict(embedder)
        vectors = self._prepare(vectors)
        n = len(vectors)
        if len(texts) != n or (metadatas is not None and len(metadatas) != n) or (keys is not None and len(keys) != n):
            raise DataError(
                f"add() got {n} vectors, {len(texts)} texts, "
                f"{'no' if metadatas is None else len(metadatas)} metadata dicts and "
                f"{'no' if keys is None else len(keys)} keys; the counts must match."
            )
        metas = [self._check_metadata(m, i) for i, m in enumerate(metadatas or [{}] * n)]
        if keys is not None:
            fresh = [k for k in keys if k is not None]
            clash = [k for k in fresh if str(k) in self._key_to_id]
            if clash or len(set(fresh)) != len(fresh):
                raise DataError(
                    f"add(): keys must be unique and new; {clash[:5] or 'duplicates within the batch'} "
                    "already used. Use update() to change an existing document."
                )
        if n == 0:
            return []
        first_batch = self._index is None or self._index.ntotal == 0
        self._ensure_built(n)
        if not self._index.is_trained:
            self.train(vectors)
        slots = np.arange(self._next_slot, self._next_slot + n, dtype=np.int64)
        self._index.add_with_ids(vectors, slots)
        self._gpu_index = None
        ids = list(range(self._next_id, self._next_id + n))
        for i, slot, text, meta, key in zip(ids, slots, texts, metas, keys or [None] * n):
            doc: dict[str, Any] = {"text": str(text), "metadata": meta, "slot": int(slot)}
            if key is not None:
                doc["key"] = str(key)
                self._key_to_id[str(key)] = i
            self._docs[i] = doc
            self._slot_to_id[int(slot)] = i
        self._next_id += n
        self._next_slot += n
        if retune and self._should_tune():
            self._tune(vectors if first_batch and len(self._tombstones) == 0 and n == len(self) else None,
                       allow_recipe_change=first_batch and self.auto_recipe)
        return ids

    # -- recall-targeted search parameters ---------------------------------------------------------
    def _tunable(self) -> str | None:
        """The search parameter this recipe trades recall for speed with ("nprobe", "ef_search") or None."""
        if self._index is None:
            return None
        faiss = _faiss()
        base = self._base()
        if isinstance(base, faiss.IndexIVF):
            return "nprobe"
        if isinstance(base, faiss.IndexHNSW):
            return "ef_search"
        return None

    def _should_tune(self) -> bool:
        if self.recall_target is None or self.user_params or self._tunable() is None or len(self) < TUNE_MIN_VECTORS:
            return False
        return self.tuning is None or len(self) > RETUNE_GROWTH * int(self.tuning.get("n_vectors", 0))

    @_locked("write")
    def tune(
        self, *, target: float | None = None, k: int = 10, queries: np.ndarray | None = None,
        n_queries: int = TUNE_QUERIES, seed: int = 0,
    ) -> dict[str, Any]:
        """Choose `nprobe` (IVF) or `ef_search` (HNSW): the cheapest setting whose recall@k against exact
        search reaches `target` (default: this index's `recall_target`, else 0.95).

        Recall is measured on `queries` (your own query vectors) or, by default, on `n_queries` of the
        corpus's own vectors, each moved by its nearest-neighbour distance in a random direction. The result (recall, ms/query, every
        setting tried) is stored in `tuning` and saved in the manifest. Flat and PQ-only recipes have no
        such parameter; their recall is measured and stored all the same.
        """
        if target is not None:
            self.recall_target = float(target)
        self.user_params = False
        return self._tune(None, queries=queries, k=k, n_queries=n_queries, seed=seed)

    def _live_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        slots = np.asarray(sorted(d["slot"] for d in self._docs.values()), dtype=np.int64)
        return np.ascontiguousarray(self._index.reconstruct_batch(slots), dtype=np.float32), slots

    def _tune(
        self, vectors: np.ndarray | None, *, allow_recipe_change: bool = False, queries: np.ndarray | None = None,
        k: int = 10, n_queries: int = TUNE_QUERIES, seed: int = 0,
    ) -> dict[str, Any]:
        faiss = _faiss()
        target = self.recall_target if self.recall_target is not None else DEFAULT_RECALL_TARGET
        t_start = time.perf_counter()
        if vectors is not None:  # the original vectors of a first batch, in slot order
            xb, slots = vectors, np.arange(self._next_slot - len(vectors), self._next_slot, dtype=np.int64)
        else:
            xb, slots = self._live_matrix()
        k = max(1, min(k, len(xb) - 1))
        rng = np.random.default_rng(seed)
        metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if queries is None:
            # Corpus vectors moved by their nearest-neighbour distance in a random direction: as far from the
            # corpus as a new text of the same kind, and not graph nodes themselves (a corpus vector as its own
            # query flatters HNSW).
            pick = rng.choice(len(xb), size=min(n_queries, len(xb)), replace=False)
            _, nn = faiss.knn(xb[pick], xb, 2, metric=metric)
            other = np.where(nn[:, 0] == pick, nn[:, 1], nn[:, 0])
            dist = np.linalg.norm(xb[pick] - xb[other], axis=1, keepdims=True)
            noise = rng.standard_normal(xb[pick].shape).astype(np.float32)
            xq = xb[pick] + noise / np.linalg.norm(noise, axis=1, keepdims=True) * dist
            if self.metric == "cosine":
                faiss.normalize_L2(xq)
            source = "corpus vectors moved by their nearest-neighbour distance"
        else:
            xq, source = self._prepare(queries), "given query vectors"
        own, depth = None, k
        _, exact_rows = faiss.knn(xq, xb, depth, metric=metric)
        truth = [_drop_own(slots[row], None, k) for row in exact_rows]
        sel = None
        if self._tombstones:
            sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.asarray(sorted(self._tombstones), dtype=np.int64)))
        param = self._tunable()
        grid: list[int | None]
        if param == "nprobe":
            nlist = int(self._base().nlist)
            grid = sorted({p for p in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512,
                                       768, 1024, 1536, 2048, 3072, 4096) if p < nlist} | {nlist})
        elif param == "ef_search":
            grid = [e for e in EF_SEARCH_GRID if e >= k] or [max(EF_SEARCH_GRID)]
        else:
            grid = [None]
        tried = []
        chosen = None
        for value in grid:
            if param == "nprobe":
                params = faiss.SearchParametersIVF(sel=sel, nprobe=int(value))
            elif param == "ef_search":
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(value))
            else:
                params = faiss.SearchParameters(sel=sel) if sel is not None else None
            t0 = time.perf_counter()
            _, found_rows = self._index.search(xq, depth, params=params)
            ms = 1000 * (time.perf_counter() - t0) / len(xq)
            found = [_drop_own(row, own, k) for row in found_rows]
            recall = float(np.mean([len(set(t) & set(f)) / max(1, len(t)) for t, f in zip(truth, found)]))
            tried.append({"value": value, f"recall@{k}": round(recall, 4), "ms_per_query": round(ms, 4)})
            if recall >= target:
                chosen = tried[-1]
                break
        reached = chosen is not None
        chosen = chosen or tried[-1]
        if not reached and allow_recipe_change and vectors is not None:
            finer = finer_encoding(self.recipe)
            if finer is not None:
                logger.warning("Recipe %r reaches recall@%d %.3f < target %.3f even at %s=%s; trying %r.",
                               self.recipe, k, chosen[f"recall@{k}"], target, param, chosen["value"], finer)
                self._build(finer)
                self._index.train(xb)
                self._index.add_with_ids(xb, slots)
                return self._tune(vectors, allow_recipe_change=True, k=k, n_queries=n_queries, seed=seed)
        if param == "nprobe":
            self.nprobe = int(chosen["value"])
        elif param == "ef_search":
            self.ef_search = int(chosen["value"])
        self._apply_search_params()
        if not reached:
            logger.warning(
                "Recipe %r reaches recall@%d %.3f, below the target %.3f, at its most thorough setting (%s=%s). "
                "Use a finer recipe (e.g. 'HNSW32' or 'IVF...,SQ8' instead of PQ) or lower the target.",
                self.recipe, k, chosen[f"recall@{k}"], target, param, chosen["value"],
            )
        self.tuning = {
            "target": target, "k": k, "recall": chosen[f"recall@{k}"], "reached": reached,
            "param": param, "value": chosen["value"], "ms_per_query": chosen["ms_per_query"],
            "n_vectors": len(self), "n_queries": len(xq),
            "queries": source,
            "tried": tried, "tuning_s": round(time.perf_counter() - t_start, 3),
        }
        logger.info("Tuned %r: %s=%s gives recall@%d %.3f (target %.2f), %.3f ms/query.", self.recipe, param,
                    chosen["value"], k, chosen[f"recall@{k}"], target, chosen["ms_per_query"])
        return self.tuning

    def _missing(self, ids: Sequence[int], what: str) -> list[int]:
        ids = [int(i) for i in ids]
        missing = [i for i in ids if i not in self._docs]
        if missing:
            raise DataError(f"{what}(): ids {missing[:10]} are not in the index (it holds {len(self)} documents).")
        return ids

    def _drop_slots(self, slots: list[int]) -> None:
        faiss = _faiss()
        try:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(slots, dtype=np.int64)))
        except RuntimeError:  # HNSW and other graph indexes cannot remove: keep tombstones
            self._tombstones.update(slots)
        for s in slots:
            self._slot_to_id.pop(s, None)
        self._gpu_index = None

    @_locked("write")
    def delete(self, ids: Sequence[int]) -> int:
        """Remove documents by id; returns how many were removed."""
        ids = list(dict.fromkeys(self._missing(ids, "delete")))
        self._drop_slots([self._docs[i]["slot"] for i in ids])
        for i in ids:
            doc = self._docs.pop(i)
            if "key" in doc:
                self._key_to_id.pop(doc["key"], None)
        return len(ids)

    @_locked("write")
    def update(
        self,
        doc_id: int,
        vector: np.ndarray | None = None,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replace a document's vector, text and/or metadata in place; its id (and key) stay the same."""
        (doc_id,) = self._missing([doc_id], "update")
        doc = self._docs[doc_id]
        if metadata is not None:
            doc["metadata"] = self._check_metadata(metadata, 0)
        if text is not None:
            doc["text"] = str(text)
        if vector is not None:
            vec = self._prepare(np.asarray(vector, dtype=np.float32).reshape(1, -1))
            self._drop_slots([doc["slot"]])
            slot = self._next_slot
            self._index.add_with_ids(vec, np.asarray([slot], dtype=np.int64))
            self._next_slot += 1
            doc["slot"] = slot
            self._slot_to_id[slot] = doc_id

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    @property
    def ids(self) -> list[int]:
        return sorted(self._docs)

    def get(self, doc_id: int) -> dict[str, Any]:
        """{"text", "metadata"} (and "key" when set) of one document."""
        doc = self._docs[int(doc_id)]
        out = {"text": doc["text"], "metadata": doc["metadata"]}
        if "key" in doc:
            out["key"] = doc["key"]
        return out

    def id_for_key(self, key: str) -> int | None:
        return self._key_to_id.get(str(key))

    @_locked("read")
    def vector(self, doc_id: int) -> np.ndarray:
        """The stored vector of a document (exact for Flat/HNSW, decoded for PQ recipes)."""
        (doc_id,) = self._missing([doc_id], "vector")
        return self._index.reconstruct(int(self._docs[doc_id]["slot"]))

    # -- searching ------------------------------------------------------------------------------
    def _allowed_ids(self, where: MetadataFilter) -> list[int]:
        where = resolve_filter(where, (d["metadata"] for d in self._docs.values()))
        return [i for i, d in self._docs.items() if metadata_matches(d["metadata"], where)]

    def _params(self, sel: Any, *, exhaustive: bool = False) -> Any:
        faiss = _faiss()
        base = self._base()
        if isinstance(base, faiss.IndexIVF):
            nprobe = base.nlist if exhaustive else base.nprobe
            return faiss.SearchParametersIVF(sel=sel, nprobe=int(nprobe))
        if isinstance(base, faiss.IndexHNSW):
            ef = max(base.hnsw.efSearch, 16)
            return faiss.SearchParametersHNSW(sel=sel, efSearch=int(ef * (8 if exhaustive else 1)))
        if isinstance(base, faiss.IndexPQ):
            return faiss.SearchParametersPQ(sel=sel)
        return faiss.SearchParameters(sel=sel)

    def _search_index(self, filtered: bool) -> Any:
        if self.device != "cuda" or filtered:
            return self._index
        if self._gpu_index is None:
            faiss = _faiss()
            try:
                self._gpu_index = faiss.index_cpu_to_all_gpus(self._index)
            except RuntimeError as exc:
                logger.warning("Recipe %r cannot run on the GPU (%s); searching on CPU.", self.recipe, exc)
                self.device = "cpu"
                return self._index
        return self._gpu_index

    def _exact(self, vectors: np.ndarray, slots: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        mat = np.stack([self._index.reconstruct(int(s)) for s in slots]).astype(np.float32)
        if self.metric == "l2":
            dist = ((vectors[:, None, :] - mat[None, :, :]) ** 2).sum(-1)
            order = np.argsort(dist, axis=1, kind="stable")[:, :k]
            scores = np.take_along_axis(dist, order, 1)
        else:
            sims = vectors @ mat.T
            order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            scores = np.take_along_axis(sims, order, 1)
        return scores, np.asarray(slots, dtype=np.int64)[order]

    @_locked("read")
    def search_arrays(self, vectors: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document ids), each of shape (n_queries, k), best first; id -1 pads a short row.

        The fast path for large query batches: no per-hit objects, ids mapped with one array lookup.
        Without a filter and without tombstones it is one FAISS call (plus the wider search of rows an
        IVF probe left short); otherwise it falls back to :meth:`search`.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be an int >= 1. Got {k!r} instead.")
        vectors = self._prepare(vectors)
        if self._tombstones or not self._docs or len(vectors) == 0:
            rows = self._search_locked(vectors, k, None, prepared=True)
            scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
            ids = np.full((len(vectors), k), -1, dtype=np.int64)
            for qi, row in enumerate(rows):
                scores[qi, :len(row)] = [h.score for h in row]
                ids[qi, :len(row)] = [h.id for h in row]
            return scores, ids
        k_eff = min(k, len(self._docs))
        scores, labels = self._search_index(False).search(vectors, k_eff)
        short = np.flatnonzero((labels < 0).any(axis=1))
        if len(short):
            wider = self._index.search(vectors[short], k_eff, params=self._params(None, exhaustive=True))
            scores[short], labels[short] = wider
        slot_map = self._slot_map()
        ids = np.where(labels >= 0, slot_map[np.clip(labels, 0, None)], -1)
        if self.metric == "l2":
            scores = -scores
        if k_eff < k:
            pad = k - k_eff
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return scores, ids

    def _slot_map(self) -> np.ndarray:
        cached = self.__dict__.get("_slot_map_cache")
        if cached is not None and cached[0] == (self._next_slot, len(self._slot_to_id)):
            return cached[1]
        table = np.full(max(self._next_slot, 1), -1, dtype=np.int64)
        if self._slot_to_id:
            slots = np.fromiter(self._slot_to_id.keys(), dtype=np.int64, count=len(self._slot_to_id))
            table[slots] = np.fromiter(self._slot_to_id.values(), dtype=np.int64, count=len(self._slot_to_id))
        self.__dict__["_slot_map_cache"] = ((self._next_slot, len(self._slot_to_id)), table)
        return table

    @_locked("read")
    def search(self, vectors: np.ndarray, k: int = 10, *, where: MetadataFilter | None = None) -> list[list[Hit]]:
        """k nearest documents per query vector (best first; higher score is better for every metric).

        `where` ({"lang": "yor_Latn"}, {"lang": [..]} or a callable on metadata) filters before ranking,
        so up to k matching documents come back even when few documents match.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be an int >= 1. Got {k!r} instead.")
        return self._search_locked(vectors, k, where)

    def _search_locked(
        self, vectors: np.ndarray, k: int, where: MetadataFilter | None, *, prepared: bool = False
    ) -> list[list[Hit]]:
        faiss = _faiss()
        if not prepared:
            vectors = self._prepare(vectors)
        empty: list[list[Hit]] = [[] for _ in range(len(vectors))]
        if not self._docs or len(vectors) == 0:
            return empty
        sel, keep, allowed_slots = None, [], None
        if where is not None:
            allowed = self._allowed_ids(where)
            if not allowed:
                return empty
            allowed_slots = sorted(self._docs[i]["slot"] for i in allowed)
            sel = faiss.IDSelectorBatch(np.asarray(allowed_slots, dtype=np.int64))
            n_allowed = len(allowed)
        elif self._tombstones:
            inner = faiss.IDSelectorBatch(np.asarray(sorted(self._tombstones), dtype=np.int64))
            sel = faiss.IDSelectorNot(inner)
            keep.append(inner)
            n_allowed = len(self._docs)
        else:
            n_allowed = len(self._docs)
        k_eff = min(k, n_allowed)
        index = self._search_index(sel is not None)
        try:
            scores, labels = index.search(vectors, k_eff, params=self._params(sel) if sel is not None else None)
            short = np.flatnonzero((labels < 0).any(axis=1))
            if len(short):  # a filter or a small nprobe/efSearch left these rows short: search them wider
                wider = self._index.search(vectors[short], k_eff, params=self._params(sel, exhaustive=True))
                scores, labels = np.array(scores), np.array(labels)
                scores[short], labels[short] = wider
        except RuntimeError as exc:  # the recipe has no selector support (e.g. plain PQ)
            if n_allowed > EXACT_FALLBACK_MAX:
                raise UnsupportedError(
                    f"Recipe {self.recipe!r} cannot search with a filter or after deletions ({exc}). "
                    "Use 'Flat', 'HNSW32' or an IVF recipe."
                ) from None
            labels = np.full((len(vectors), k_eff), -1, dtype=np.int64)
        if (labels < 0).any() and n_allowed <= EXACT_FALLBACK_MAX:  # e.g. HNSW with a very selective filter
            slots = allowed_slots if allowed_slots is not None else sorted(d["slot"] for d in self._docs.values())
            try:
                scores, labels = self._exact(vectors, slots, k_eff)
            except RuntimeError:
                logger.warning("Recipe %r returned fewer than k=%d results and cannot be searched exactly.", self.recipe, k)
        out = []
        slot_to_id, docs, sign = self._slot_to_id, self._docs, -1.0 if self.metric == "l2" else 1.0
        for row_s, row_i in zip(np.asarray(scores).tolist(), np.asarray(labels).tolist()):  # Python ints: faster
            found = [(slot_to_id[slot], s) for s, slot in zip(row_s, row_i) if slot in slot_to_id]
            out.append([Hit(i, sign * s, docs[i]["text"], docs[i]["metadata"].copy(), docs[i].get("key"))
                        for i, s in found])
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write a new version of the index folder; the previous version survives a crash mid-save."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / ".lock"):
            return self._save_locked(folder)

    def _manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "metric": self.metric,
            "recipe": self.recipe,
            "count": len(self._docs),
            "next_id": self._next_id,
            "next_slot": self._next_slot,
            "tombstones": sorted(self._tombstones),
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "tuning": self.tuning,
            "recall_target": self.recall_target,
            "user_params": self.user_params,
            "auto_recipe": self.auto_recipe,
            "embedder": self.embedder_identity,
        }

    @_locked("read")
    def _save_locked(self, folder: Path) -> Path:
        faiss = _faiss()
        refuse_orphan_layout(folder, "save into")
        if self._index is None:
            self._build(choose_recipe(self.expected_size or 0, self.dim))
        name = f"v-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        stage = folder / f".{name}.partial"
        stage.mkdir()
        try:
            faiss.write_index(self._index, str(stage / "index.faiss"))
            with open(stage / "docstore.jsonl", "w", encoding="utf-8") as f:
                for i in sorted(self._docs):
                    f.write(json.dumps({"id": i, **self._docs[i]}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            ntotal = max(1, int(self._index.ntotal))
            manifest = {
                **self._manifest(),
                "bytes_per_vector": round((stage / "index.faiss").stat().st_size / ntotal, 1),
                "files": {fn: sha256_file(stage / fn) for fn in REQUIRED_FILES},
                "versions": {"faiss": faiss.__version__},
            }
            manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False)
            atomic_write_text(stage / "manifest.json", manifest_text)
            _fsync_dir(stage)
            os.rename(stage, folder / name)
            _fsync_dir(folder)
            digest = hashlib.sha256(manifest_text.encode("utf-8")).hexdigest()
            atomic_write_text(folder / "CURRENT", f"{name} {digest}\n")
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        # Leftovers of killed saves, format-1 files and versions older than the last KEEP_VERSIONS go; the
        # kept ones serve readers that started loading before this save (they also retry on a CURRENT change).
        versions = sorted(p.name for p in folder.iterdir() if _VERSION_NAME.match(p.name) and p.is_dir())
        for old in versions[:-KEEP_VERSIONS]:
            if old != name:
                shutil.rmtree(folder / old, ignore_errors=True)
        for debris in folder.glob(".v-*.partial"):
            shutil.rmtree(debris, ignore_errors=True)
        for legacy in ("index.faiss", "docstore.jsonl", "manifest.json"):
            (folder / legacy).unlink(missing_ok=True)
        return folder

    @staticmethod
    def _read_current(folder: Path) -> tuple[Path, str | None] | None:
        """(live version folder, manifest sha256 or None for pre-format-3 CURRENT) or None without CURRENT."""
        current = folder / "CURRENT"
        try:
            raw = current.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{current} cannot be read ({exc}). Rebuild the index with `pgt index build`.") from None
        parts = raw.split()
        name = parts[0] if parts else ""
        digest = parts[1] if len(parts) == 2 else None
        if len(parts) not in (1, 2) or not _VERSION_NAME.match(name) or (digest is not None and not _SHA256.match(digest)):
            raise IntegrityError(
                f"{current} holds {raw.strip()[:120]!r}; expected '<version> <sha256>' naming a v-... folder inside "
                f"{folder}: the folder was modified by hand. Rebuild the index with `pgt index build`."
            )
        live = folder / name
        if live.is_symlink() or not live.is_dir() or live.resolve().parent != folder.resolve():
            raise IntegrityError(
                f"{current} names version {name!r}, which is not a folder inside {folder}: the folder was modified by "
                "hand or a writer is mid-save. Rebuild the index if this persists."
            )
        return live, digest

    @classmethod
    def read_manifest(cls, folder: str | Path) -> tuple[Path, dict[str, Any]]:
        """(live version folder, its verified manifest): CURRENT's hash, required keys and files; no vectors read."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"{folder} is not an index folder (it does not exist or is not a folder). "
                            "Build one with `pgt index build`.")
        found = cls._read_current(folder)
        if found is None:
            refuse_orphan_layout(folder, "read")
            if not (folder / "manifest.json").is_file():
                raise DataError(f"{folder} is not an index folder (no CURRENT or manifest.json). "
                                "Build one with `pgt index build`.")
            live, digest = folder, None  # format 1
        else:
            live, digest = found
        path = live / "manifest.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"{live} has no manifest.json: the index folder is damaged. Rebuild it.") from None
        if digest is not None and hashlib.sha256(raw).hexdigest() != digest:
            raise IntegrityError(
                f"{path} does not match the sha256 that {folder / 'CURRENT'} names for it: the manifest was modified "
                "or damaged. Rebuild the index with `pgt index build`."
            )
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{path} is corrupt ({exc}). Rebuild the index with `pgt index build`.") from None
        if not isinstance(manifest, dict):
            raise IntegrityError(f"{path} holds a {type(manifest).__name__}, not a JSON object. Rebuild the index.")
        missing = [k for k in REQUIRED_KEYS if k not in manifest]
        if missing:
            raise IntegrityError(f"{path} lacks the key(s) {missing} every index manifest has (expected {list(REQUIRED_KEYS)}): "
                                 "the manifest was modified or damaged. Rebuild the index with `pgt index build`.")
        if manifest["format_version"] not in READABLE_FORMATS:
            raise IntegrityError(
                f"{folder} has index format {manifest['format_version']!r}; this version reads {READABLE_FORMATS}."
            )
        if digest is None and manifest["format_version"] >= 3:
            raise IntegrityError(f"{folder / 'CURRENT'} does not name the sha256 of {path}, which format 3 requires: "
                                 "the folder was modified by hand. Rebuild the index with `pgt index build`.")
        files = manifest["files"]
        if not isinstance(files, dict) or any(f not in files for f in REQUIRED_FILES):
            raise IntegrityError(
                f"{path} lists files {sorted(files) if isinstance(files, dict) else files!r}; an index manifest must "
                f"list the sha256 of {list(REQUIRED_FILES)}. Rebuild the index with `pgt index build`."
            )
        if not isinstance(manifest["embedder"], dict):
            raise IntegrityError(f"{path}: 'embedder' must be an object, got {manifest['embedder']!r}. Rebuild the index.")
        return live, manifest

    @staticmethod
    def _live_version(folder: Path) -> Path:
        return VectorIndex.read_manifest(folder)[0]

    @classmethod
    def load(
        cls, folder: str | Path, *, expected_embedder: dict[str, Any] | None = None, device: str = "cpu"
    ) -> VectorIndex:
        """Load a saved index, refusing tampered files and indexes built by another embedder.

        A writer may replace the version while this reads it; then the read is retried on the new
        CURRENT (up to `LOAD_RETRIES` times), so a reader gets the old or the new index, never an error.
        """
        folder = Path(folder)
        for attempt in range(LOAD_RETRIES):
            before = _current_text(folder)
            try:
                return cls._load_once(folder, expected_embedder=expected_embedder, device=device)
            except (IntegrityError, OSError, RuntimeError) as exc:
                if attempt + 1 == LOAD_RETRIES or _current_text(folder) == before:
                    if isinstance(exc, IntegrityError):
                        raise
                    raise IntegrityError(f"{folder}: the live version cannot be read ({exc}). Rebuild the index.") from None
                logger.debug("VectorIndex.load: %s changed while loading (%s); retrying.", folder, exc)
        raise AssertionError("unreachable")

    @classmethod
    def _load_once(
        cls, folder: Path, *, expected_embedder: dict[str, Any] | None, device: str
    ) -> VectorIndex:
        faiss = _faiss()
        live, manifest = cls.read_manifest(folder)
        for name, digest in manifest["files"].items():
            path = live / name
            if not path.is_file() or sha256_file(path) != digest:
                raise IntegrityError(
                    f"{path} does not match the checksum in its manifest: the index was modified or damaged. "
                    "Rebuild it with `pgt index build`."
                )
        if expected_embedder is not None:
            check_embedder(manifest["embedder"], expected_embedder, str(folder))
        self = cls.__new__(cls)
        self.dim, self.metric, self.recipe = manifest["dim"], manifest["metric"], manifest["recipe"]
        self.embedder_identity = manifest["embedder"]
        self.expected_size = None
        self.nprobe, self.ef_search = manifest.get("nprobe"), manifest.get("ef_search")
        self.tuning = manifest.get("tuning")
        self.recall_target = manifest.get("recall_target")
        self.user_params = bool(manifest.get("user_params", self.nprobe is not None or self.ef_search is not None))
        self.auto_recipe = bool(manifest.get("auto_recipe", False))
        self.device = cls._resolve_device(device)
        self._gpu_index = None
        self._index = faiss.read_index(str(live / "index.faiss"))
        self._docs, self._key_to_id, self._slot_to_id = {}, {}, {}
        with open(live / "docstore.jsonl", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                try:
                    d = json.loads(line)
                    doc_id = int(d["id"])
                    doc = {"text": d["text"], "metadata": d["metadata"], "slot": int(d.get("slot", doc_id))}
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise IntegrityError(f"{live / 'docstore.jsonl'}:{lineno} is malformed ({exc}).") from None
                if d.get("key") is not None:
                    doc["key"] = str(d["key"])
                    self._key_to_id[doc["key"]] = doc_id
                self._docs[doc_id] = doc
                self._slot_to_id[doc["slot"]] = doc_id
        self._next_id = manifest["next_id"]
        self._next_slot = manifest.get("next_slot", self._next_id)
        self._tombstones = set(manifest.get("tombstones", []))
        if self._index.ntotal != len(self._docs) + len(self._tombstones) or self._index.d != self.dim:
            raise IntegrityError(
                f"{folder}: index.faiss holds {self._index.ntotal} vectors of dim {self._index.d} but the docstore "
                f"{len(self._docs)} documents and {len(self._tombstones)} tombstones (manifest dim {self.dim})."
            )
        self._apply_search_params()
        return self


def check_recall_target(recall_target: Any) -> None:
    if recall_target is not None and (
        isinstance(recall_target, bool) or not isinstance(recall_target, (int, float)) or not 0 < recall_target <= 1
    ):
        raise ConfigError(f"recall_target must be a number in (0, 1], e.g. 0.95 (or None: no tuning). "
                          f"Got {recall_target!r} instead.")


def _drop_own(row: np.ndarray, own: int | None, k: int) -> list[int]:
    return [int(x) for x in row if x >= 0 and x != own][:k]


def finer_encoding(recipe: str | None) -> str | None:
    """The next more precise vector encoding of an IVF recipe: PQ -> SQ8 -> Flat (None when already Flat)."""
    if not recipe or not recipe.startswith("IVF"):
        return None
    head, _, tail = recipe.partition(",")
    if "PQ" in tail:
        return f"{head},SQ8"
    if "SQ" in tail:
        return f"{head},Flat"
    return None


def _current_text(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


EMBEDDER_CHECK = ("model", "weights_sha256", "passage_prompt", "dim")


def check_embedder(built: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    """Refuse vectors or queries from an embedder other than the one an index was built with."""
    b = {k: built.get(k) for k in EMBEDDER_CHECK}
    w = {k: wanted.get(k) for k in EMBEDDER_CHECK}
    if b != w:
        raise IntegrityError(
            f"{where} was built with embedder {b['model']!r} ({b}); you are using it with {w['model']!r} ({w}). "
            "Vectors from different embedders are not comparable: use the embedder the index was built with, "
            "or rebuild the index with this one."
        )


def refuse_orphan_layout(folder: Path, action: str) -> None:
    """Refuse to touch a folder that holds index versions (or format-1 files) but no CURRENT naming one.

    Writing there would start an empty index and the save would delete the versions: all documents lost.
    """
    if (folder / "CURRENT").exists() or (folder / "manifest.json").is_file():
        return
    versions = sorted(p.name for p in folder.glob("v-*") if p.is_dir()) if folder.is_dir() else []
    legacy = [n for n in REQUIRED_FILES if (folder / n).exists()]
    if versions or legacy:
        raise IntegrityError(
            f"Refusing to {action} {folder}: it holds an index layout ({(versions + legacy)[:3]}) but no CURRENT file "
            "naming the live version, so nothing in it can be verified and a write would replace it. Restore CURRENT "
            "(or move the folder away) and retry; nothing was changed."
        )


def add_to_saved_index(
    folder: str | Path,
    vectors: np.ndarray,
    texts: Sequence[str],
    metadatas: Sequence[dict[str, Any]] | None = None,
    *,
    keys: Sequence[str | None] | None = None,
    expected_embedder: dict[str, Any] | None = None,
    metric: str = "cosine",
    recipe: str | None = "Flat",
) -> list[int]:
    """Add documents to the index saved in `folder` (created if absent) without losing concurrent writes.

    Holds ``<folder>/.lock`` while it loads, adds and saves, so several processes can add to one
    folder. `expected_embedder` (the identity of the embedder that made `vectors`) is required when the
    saved index records one, and must match it. An approximate index whose corpus grew past
    `RETUNE_GROWTH` times its size at the last tuning is re-tuned. Returns the new ids.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not an index folder. Give a folder path.")
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    with file_lock(folder / ".lock"):
        refuse_orphan_layout(folder, "add to")
        if (folder / "CURRENT").exists() or (folder / "manifest.json").is_file():
            index = VectorIndex.load(folder)
            if index.embedder_identity and expected_embedder is None:
                raise ConfigError(
                    f"{folder} was built with embedder {index.embedder_identity.get('model')!r}; pass "
                    "expected_embedder=<that embedder>.identity so vectors of another embedder cannot be added."
                )
        else:
            if vectors.ndim != 2:
                raise DataError(f"Expected vectors of shape (n, dim). Got {vectors.shape} instead.")
            index = VectorIndex(
                int(vectors.shape[1]), metric=metric, recipe=recipe, embedder_identity=expected_embedder
            )
        ids = index.add(vectors, texts, metadatas, keys=keys, embedder=expected_embedder)  # re-tunes if it grew
        index._save_locked(folder)
    return ids
