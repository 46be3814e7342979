"""FAISS index recipes (factory strings): which one for a corpus size, and how much training each needs.

The thresholds follow the FAISS guidelines: exact ``Flat`` search is fast enough below ~10k vectors;
``HNSW32`` is the accurate, training-free graph index up to ~1M. Beyond that, inverted lists
(``IVF{4*sqrt(n)}``) with 8-bit scalar quantisation (``SQ8``, a quarter of the float32 memory) while the
codes fit in `SQ8_MAX_BYTES`, and product quantisation (``PQ{m}x8``) only past that: on e5-small
embeddings of AfriQA passages, recall@10 against exact search was 0.986 for IVF64,SQ8 and 0.50 for
IVF64,PQ64x8 with every list probed (`benchmarks/results/recipes_afriqa.md`). PQ's small codes cost
neighbour quality on these anisotropic sentence embeddings, so it is a last resort for memory.
"""

from __future__ import annotations

import math
import re

from polyglot_transfer.errors import ConfigError

FLAT_MAX = 10_000
HNSW_MAX = 1_000_000
SQ8_MAX_BYTES = 8 * 1024**3  # one byte per dimension per vector
# Example recipes every index feature is checked against (tests/test_retrieval_index.py).
CONFORMANCE_RECIPES: tuple[str, ...] = ("Flat", "HNSW32", "IVF8,Flat", "IVF8,SQ8", "IVF8,PQ4x4", "PQ4x4")

_IVF = re.compile(r"IVF(\d+)")
_PQ = re.compile(r"(?<![A-Za-z])PQ(\d+)(?:x(\d+))?")


def _pq_m(dim: int) -> int:
    """The largest sub-quantiser count <= min(64, dim // 4) that divides `dim` (8-bit codes)."""
    for m in range(min(64, max(1, dim // 4)), 0, -1):
        if dim % m == 0:
            return m
    return 1


def choose_recipe(n_docs: int, dim: int = 384) -> str:
    """A FAISS factory string for a corpus of `n_docs` vectors of dimension `dim`.

    >>> choose_recipe(500), choose_recipe(50_000), choose_recipe(4_000_000, 384), choose_recipe(40_000_000, 384)
    ('Flat', 'HNSW32', 'IVF8000,SQ8', 'IVF25298,PQ64x8')
    """
    if not isinstance(n_docs, int) or n_docs < 0:
        raise ConfigError(f"n_docs must be an int >= 0. Got {n_docs!r} instead.")
    if n_docs < FLAT_MAX:
        return "Flat"
    if n_docs <= HNSW_MAX:
        return "HNSW32"
    nlist = int(4 * math.sqrt(n_docs))
    if n_docs * dim <= SQ8_MAX_BYTES:
        return f"IVF{nlist},SQ8"
    return f"IVF{nlist},PQ{_pq_m(dim)}x8"


def min_training_size(recipe: str) -> int:
    """How many vectors `recipe` must be trained on before anything is added (0: no training)."""
    need = 0
    ivf = _IVF.search(recipe)
    if ivf:
        need = max(need, int(ivf.group(1)))
    pq = _PQ.search(recipe)
    if pq:
        need = max(need, 2 ** int(pq.group(2) or 8))
    return need


def recommended_training_size(recipe: str) -> int:
    """The sample size FAISS asks for to train `recipe` well (39 points per centroid)."""
    return 39 * min_training_size(recipe)
