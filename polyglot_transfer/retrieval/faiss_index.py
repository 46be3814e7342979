"""A FAISS index with stable ids, documents, metadata filters and pickle-free, checksummed persistence.

On disk an index is a folder: `index.faiss` (faiss.write_index), `docstore.jsonl` (one document per
line: id, text, metadata) and `manifest.json` (embedder identity, dimension, metric, recipe, sha256
of both files, library versions). Saving stages a new folder and renames it into place, so a kill
mid-save leaves the previous version loadable; loading verifies the checksums and the embedder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError, DataError, IntegrityError, did_you_mean
from polyglot_transfer.fileio import sha256_file, staged_dir

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METRICS = ("cosine", "ip", "l2")
MetadataFilter = dict[str, Any] | Callable[[dict[str, Any]], bool]


@dataclass
class Hit:
    id: int
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


class VectorIndex:
    """Dense vectors + documents. `recipe` is a FAISS factory string ("Flat", "HNSW32", "IVF64,PQ16", ...)."""

    def __init__(
        self,
        dim: int,
        *,
        metric: str = "cosine",
        recipe: str = "Flat",
        embedder_identity: dict[str, Any] | None = None,
    ) -> None:
        import faiss

        if metric not in METRICS:
            raise ConfigError(f"Unknown metric {metric!r}.{did_you_mean(metric, METRICS)} Use one of {METRICS}.")
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"dim must be a positive int. Got {dim!r} instead.")
        self.dim, self.metric, self.recipe = dim, metric, recipe
        self.embedder_identity = embedder_identity or {}
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        try:
            base = faiss.index_factory(dim, recipe, faiss_metric)
        except RuntimeError as exc:
            raise ConfigError(f"FAISS cannot build recipe {recipe!r}: {exc}. Try 'Flat' or 'HNSW32'.") from None
        self._index = faiss.IndexIDMap2(base)
        self._docs: dict[int, dict[str, Any]] = {}
        self._next_id = 0

    # -- building -------------------------------------------------------------------------------
    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DataError(f"Expected vectors of shape (n, {self.dim}). Got {vectors.shape} instead.")
        if not np.isfinite(vectors).all():
            raise DataError("Vectors contain NaN or infinity; check the embedder's output.")
        if self.metric == "cosine":
            import faiss

            vectors = vectors.copy()
            faiss.normalize_L2(vectors)
        return vectors

    def add(
        self, vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict[str, Any]] | None = None
    ) -> list[int]:
        """Add documents with their vectors; returns the new stable ids."""
        vectors = self._prepare(vectors)
        if len(texts) != len(vectors) or (metadatas is not None and len(metadatas) != len(vectors)):
            raise DataError(
                f"add() got {len(vectors)} vectors, {len(texts)} texts and "
                f"{'no' if metadatas is None else len(metadatas)} metadata dicts; the counts must match."
            )
        if not self._index.is_trained:
            self._index.train(vectors)
        ids = np.arange(self._next_id, self._next_id + len(vectors), dtype=np.int64)
        self._index.add_with_ids(vectors, ids)
        for i, text, meta in zip(ids, texts, metadatas or [{}] * len(texts)):
            self._docs[int(i)] = {"text": str(text), "metadata": dict(meta)}
        self._next_id += len(vectors)
        return [int(i) for i in ids]

    def delete(self, ids: Sequence[int]) -> int:
        """Remove documents by id; returns how many were removed."""
        import faiss

        ids = [int(i) for i in ids]
        missing = [i for i in ids if i not in self._docs]
        if missing:
            raise DataError(f"delete(): ids {missing[:10]} are not in the index.")
        removed = self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        for i in ids:
            del self._docs[i]
        return int(removed)

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, doc_id: int) -> dict[str, Any]:
        return self._docs[int(doc_id)]

    # -- searching ------------------------------------------------------------------------------
    def _allowed_ids(self, where: MetadataFilter) -> np.ndarray:
        if callable(where):
            keep = [i for i, d in self._docs.items() if where(d["metadata"])]
        else:
            keep = [
                i
                for i, d in self._docs.items()
                if all(
                    (d["metadata"].get(k) in v) if isinstance(v, (list, tuple, set)) else d["metadata"].get(k) == v
                    for k, v in where.items()
                )
            ]
        return np.asarray(sorted(keep), dtype=np.int64)

    def search(self, vectors: np.ndarray, k: int = 10, *, where: MetadataFilter | None = None) -> list[list[Hit]]:
        """k nearest documents per query vector; `where` filters by metadata before ranking."""
        import faiss

        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be an int >= 1. Got {k!r} instead.")
        vectors = self._prepare(vectors)
        params = None
        if where is not None:
            allowed = self._allowed_ids(where)
            if len(allowed) == 0:
                return [[] for _ in range(len(vectors))]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        k_eff = min(k, len(self._docs))
        if k_eff == 0:
            return [[] for _ in range(len(vectors))]
        scores, ids = self._index.search(vectors, k_eff, params=params)
        out = []
        for row_s, row_i in zip(scores, ids):
            hits = []
            for s, i in zip(row_s, row_i):
                if i < 0:
                    continue
                d = self._docs[int(i)]
                score = -float(s) if self.metric == "l2" else float(s)  # higher is better everywhere
                hits.append(Hit(int(i), score, d["text"], dict(d["metadata"])))
            out.append(hits)
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the index folder atomically (the previous version survives a crash mid-save)."""
        import faiss

        folder = Path(folder)
        with staged_dir(folder) as stage:
            faiss.write_index(self._index, str(stage / "index.faiss"))
            with open(stage / "docstore.jsonl", "w", encoding="utf-8") as f:
                for i in sorted(self._docs):
                    f.write(json.dumps({"id": i, **self._docs[i]}, ensure_ascii=False) + "\n")
            manifest = {
                "format_version": FORMAT_VERSION,
                "dim": self.dim,
                "metric": self.metric,
                "recipe": self.recipe,
                "count": len(self._docs),
                "next_id": self._next_id,
                "embedder": self.embedder_identity,
                "files": {
                    name: sha256_file(stage / name) for name in ("index.faiss", "docstore.jsonl")
                },
                "versions": {"faiss": faiss.__version__},
            }
            (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, expected_embedder: dict[str, Any] | None = None) -> VectorIndex:
        """Load a saved index, refusing tampered files and indexes built by another embedder."""
        import faiss

        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except FileNotFoundError:
            raise DataError(f"{folder} is not an index folder (no manifest.json). Build one with `pgt index build`.") from None
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{folder / 'manifest.json'} is corrupt: {exc}.") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IntegrityError(
                f"{folder} has index format {manifest.get('format_version')!r}; this version reads {FORMAT_VERSION}."
            )
        for name, digest in manifest["files"].items():
            path = folder / name
            if not path.is_file() or sha256_file(path) != digest:
                raise IntegrityError(
                    f"{path} does not match the checksum in its manifest: the index was modified or damaged. "
                    "Rebuild it with `pgt index build`."
                )
        if expected_embedder is not None:
            check = ("model", "weights_sha256", "passage_prompt", "dim")
            built = {k: manifest["embedder"].get(k) for k in check}
            wanted = {k: expected_embedder.get(k) for k in check}
            if built != wanted:
                raise IntegrityError(
                    f"{folder} was built with embedder {built['model']!r} ({built}); you are querying it with "
                    f"{wanted['model']!r} ({wanted}). Vectors from different embedders are not comparable: "
                    "rebuild the index with this embedder."
                )
        self = cls.__new__(cls)
        self.dim, self.metric, self.recipe = manifest["dim"], manifest["metric"], manifest["recipe"]
        self.embedder_identity = manifest["embedder"]
        self._index = faiss.read_index(str(folder / "index.faiss"))
        self._docs = {}
        with open(folder / "docstore.jsonl", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                self._docs[int(d["id"])] = {"text": d["text"], "metadata": d["metadata"]}
        self._next_id = manifest["next_id"]
        if self._index.ntotal != len(self._docs):
            raise IntegrityError(f"{folder}: index holds {self._index.ntotal} vectors but {len(self._docs)} documents.")
        return self
