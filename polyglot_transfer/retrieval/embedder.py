"""A sentence-transformers embedder that applies the model's own prompts (e5: ``query: `` / ``passage: ``).

Embeddings are cached in memory for the process and, with ``cache_dir=``, on disk: one folder per model
(keyed by name and weight hashes), holding ``.npy`` shards and a JSON index from sha256(prompt + text) to
(shard, row). Shards are written atomically before the index names them, and are read back with
``np.load(allow_pickle=False)``; nothing is pickled. Batching by length is done by sentence-transformers
itself (it sorts each call's texts by length before batching).

:class:`HashEmbedder` is a deterministic stand-in (hashed character n-grams) with the same API, for
pipeline tests that need vectors but not a model.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import uuid
import zlib
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.fileio import atomic_write_bytes, atomic_write_json, file_lock

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def text_key(prompt: str, text: str) -> str:
    """The cache key of one input: sha256 of the exact string the model sees."""
    return hashlib.sha256((prompt + text).encode("utf-8")).hexdigest()


class EmbeddingDiskCache:
    """Embeddings on disk for one model: ``.npy`` shards + ``index.json`` (key -> shard, row).

    Safe for several processes: shards have unique names and the index is merged under a lock
    and replaced atomically. A damaged shard is ignored with a warning (its texts are re-encoded).
    """

    def __init__(self, root: str | os.PathLike, identity: dict[str, Any]) -> None:
        ident = json.dumps(identity, sort_keys=True, ensure_ascii=False)
        self.identity = identity
        self.folder = Path(root) / hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]
        self._where: dict[str, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}
        self._index_mtime: float | None = None

    @property
    def index_path(self) -> Path:
        return self.folder / "index.json"

    def _read_index(self) -> dict[str, Any]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"format_version": CACHE_FORMAT_VERSION, "identity": self.identity, "shards": {}}
        except json.JSONDecodeError as exc:
            logger.warning("Embedding cache index %s is corrupt (%s); ignoring the cache.", self.index_path, exc)
            return {"format_version": CACHE_FORMAT_VERSION, "identity": self.identity, "shards": {}}
        if data.get("format_version") != CACHE_FORMAT_VERSION or data.get("identity") != self.identity:
            logger.warning("Embedding cache %s was written for another model or format; ignoring it.", self.folder)
            return {"format_version": CACHE_FORMAT_VERSION, "identity": self.identity, "shards": {}}
        return data

    def _refresh(self) -> None:
        try:
            mtime = self.index_path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._index_mtime:
            return
        self._index_mtime = mtime
        for name, entry in self._read_index()["shards"].items():
            for row, key in enumerate(entry["keys"]):
                self._where.setdefault(key, (name, row))

    def _shard(self, name: str) -> np.ndarray | None:
        if name not in self._shards:
            path = self.folder / name
            try:
                self._shards[name] = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                logger.warning("Embedding cache shard %s is unreadable (%s); its texts will be re-encoded.", path, exc)
                return None
        return self._shards[name]

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys`."""
        self._refresh()
        found: dict[str, np.ndarray] = {}
        bad: set[str] = set()
        for key in keys:
            loc = self._where.get(key)
            if loc is None or loc[0] in bad:
                continue
            shard = self._shard(loc[0])
            if shard is None or loc[1] >= len(shard):
                bad.add(loc[0])
                continue
            found[key] = shard[loc[1]]
        if bad:
            self._where = {k: v for k, v in self._where.items() if v[0] not in bad}
        return found

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store `vectors` (one row per key) as a new shard and register it in the index."""
        if not keys:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        name = f"shard-{uuid.uuid4().hex}.npy"
        buf = io.BytesIO()
        np.save(buf, vectors, allow_pickle=False)
        atomic_write_bytes(self.folder / name, buf.getvalue())
        with file_lock(self.folder / ".lock"):
            data = self._read_index()
            data["shards"][name] = {"keys": list(keys), "rows": len(keys)}
            atomic_write_json(self.index_path, data)
        self._shards[name] = vectors
        for row, key in enumerate(keys):
            self._where[key] = (name, row)


MODELS_KEPT = 2  # loaded models an Embedder of the same folder reuses in this process (build, then evaluate)
_LOADED: dict[tuple, Any] = {}


def _folder_stamp(path: Path) -> tuple:
    """Size and modification time of a model folder's files: a folder changed on disk is loaded again."""
    try:
        return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file()))
    except OSError:
        return ()


class Embedder:
    """Encode queries and passages with a sentence-transformers model, L2-normalised float32.

    `model` is a catalog name (provisioned on first use) or a local folder. Prompts come from the
    model's `config_sentence_transformers.json` ("query" / "passage") unless given here. With
    `cache_dir`, embeddings persist across processes (see :class:`EmbeddingDiskCache`).
    """

    def __init__(
        self,
        model: str | os.PathLike = "intfloat/multilingual-e5-small",
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        show_progress: bool = False,
        cache_dir: str | os.PathLike | None = None,
        processes: int = 1,
        precision: str | None = None,
    ) -> None:
        from polyglot_transfer.models.provision import resolve_model

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1. Got {batch_size!r} instead.")
        if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
            raise ConfigError(f"processes must be an int >= 1. Got {processes!r} instead.")
        if precision not in (None, "fp32", "fp16", "bf16"):
            raise ConfigError(f"precision must be 'fp32', 'fp16' or 'bf16' (or None: fp16 on CUDA). Got {precision!r}.")
        self.processes = processes
        self.precision = precision
        self._pool: Any = None
        self.model_name = str(model)
        self.path = resolve_model(model)
        self.device = device or "cpu"
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._query_prompt = query_prompt
        self._passage_prompt = passage_prompt
        self._cache: dict[str, np.ndarray] = {}  # sha256(prompt + text) -> vector, for this process
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    @cached_property
    def model(self) -> Any:
        precision = self.precision or ("fp16" if str(self.device).startswith("cuda") else "fp32")
        key = (str(self.path), str(self.device), precision, _folder_stamp(Path(self.path)))
        cached = _LOADED.pop(key, None)
        if cached is None:
            from sentence_transformers import SentenceTransformer

            cached = SentenceTransformer(str(self.path), device=self.device, trust_remote_code=False)
            if precision != "fp32":  # half precision on a GPU (not measured here: no GPU was available)
                import torch

                cached = cached.to(torch.float16 if precision == "fp16" else torch.bfloat16)
        _LOADED[key] = cached  # most recent last
        while len(_LOADED) > MODELS_KEPT:
            _LOADED.pop(next(iter(_LOADED)))
        return cached

    def close(self) -> None:
        """Stop the multi-process pool (if `processes` > 1 started one)."""
        if self._pool is not None:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None

    @property
    def prompts(self) -> dict[str, str]:
        """The model's named prompts; read from its config file when the model is not loaded yet."""
        if "model" not in self.__dict__ and self.path is not None:
            config = Path(self.path) / "config_sentence_transformers.json"
            try:
                return dict(json.loads(config.read_text(encoding="utf-8")).get("prompts") or {})
            except (OSError, json.JSONDecodeError):
                pass
        return dict(getattr(self.model, "prompts", None) or {})

    @property
    def query_prompt(self) -> str:
        return self._query_prompt if self._query_prompt is not None else self.prompts.get("query", "")

    @property
    def passage_prompt(self) -> str:
        return self._passage_prompt if self._passage_prompt is not None else self.prompts.get("passage", "")

    @cached_property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def _weights(self) -> dict[str, str]:
        from polyglot_transfer.models.provision import model_fingerprint

        return model_fingerprint(self.path)["weights_sha256"]

    @cached_property
    def identity(self) -> dict[str, Any]:
        """What makes two embedders interchangeable: model weights and prompts."""
        return {
            "model": self.model_name,
            "weights_sha256": self._weights,
            "query_prompt": self.query_prompt,
            "passage_prompt": self.passage_prompt,
            "dim": self.dim,
        }

    @cached_property
    def disk_cache(self) -> EmbeddingDiskCache | None:
        """The on-disk cache (None unless `cache_dir` was given); keyed by model name and weights."""
        if self.cache_dir is None:
            return None
        return EmbeddingDiskCache(self.cache_dir, {"model": self.model_name, "weights_sha256": self._weights})

    @property
    def max_tokens(self) -> int | None:
        """How many tokens of a passage the model reads (its max_seq_length less the passage prompt and the
        special tokens); None when the model has no tokenizer."""
        limit = getattr(self.model, "max_seq_length", None)
        if not limit or getattr(self.model, "tokenizer", None) is None:
            return None
        prompt = self.count_tokens([self.passage_prompt])[0] if self.passage_prompt else 0
        return max(1, int(limit) - prompt - 2)

    def count_tokens(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        """Tokens per text by the model's own tokenizer, without special tokens."""
        if not texts:
            return []
        ids = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        pool = None
        if self.processes > 1 and len(texts) >= 4 * self.batch_size:
            if self._pool is None:  # sentence-transformers' pool: one CPU process per worker
                self._pool = self.model.start_multi_process_pool(["cpu"] * self.processes)
            pool = self._pool
        emb = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
            pool=pool,
        )
        return np.asarray(emb, dtype=np.float32).reshape(len(texts), -1)

    def encode(self, texts: list[str], *, prompt: str = "") -> np.ndarray:
        """Embed `texts` (each prefixed with `prompt`); each distinct input is encoded once (per cache)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(prompt, t) for t in texts]
        first: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._cache:
                first.setdefault(key, prompt + text)
        if first and self.disk_cache is not None:
            found = self.disk_cache.get(list(first))
            self._cache.update(found)
            first = {k: v for k, v in first.items() if k not in found}
        if first:
            todo = list(first)
            emb = self._encode_uncached([first[k] for k in todo])
            self._cache.update(zip(todo, emb))
            if self.disk_cache is not None:
                self.disk_cache.put(todo, emb)
        return np.stack([self._cache[k] for k in keys]).astype(np.float32, copy=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(list(texts), prompt=self.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode(list(texts), prompt=self.passage_prompt)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder(Embedder):
    """A deterministic embedder for tests and pipeline checks: hashed word and character n-grams.

    Texts sharing words or character trigrams get similar vectors; no model is loaded. It has the
    full :class:`Embedder` API (including the disk cache) and a distinct `identity`.
    """

    def __init__(
        self,
        dim: int = 64,
        *,
        ngram: int = 3,
        query_prompt: str = "",
        passage_prompt: str = "",
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(dim, int) or dim < 2:
            raise ConfigError(f"dim must be an int >= 2. Got {dim!r} instead.")
        self.model_name = f"hash-ngram-{ngram}"
        self.path = None
        self.device = "cpu"
        self.batch_size = 1024
        self.show_progress = False
        self._query_prompt = query_prompt
        self._passage_prompt = passage_prompt
        self._cache = {}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.ngram = ngram
        self.__dict__["dim"] = dim  # cached_property slot
        self.__dict__["_weights"] = {"hash": f"crc32-dim{dim}-n{ngram}"}
        self.encode_calls = 0  # how many texts were actually computed (for cache tests)

    @property
    def prompts(self) -> dict[str, str]:
        return {"query": self._query_prompt, "passage": self._passage_prompt}

    @property
    def max_tokens(self) -> int | None:
        return None  # no tokenizer: documents are chunked by characters

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        self.encode_calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            text = text.casefold()
            feats = [f"w:{w}" for w in _TOKEN.findall(text)]
            padded = f" {text} "
            feats += [f"c:{padded[i:i + self.ngram]}" for i in range(max(0, len(padded) - self.ngram + 1))]
            for feat in feats:
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm > 0 else np.eye(1, self.dim, dtype=np.float32)
        return out
