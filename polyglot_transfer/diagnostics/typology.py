"""How far apart two languages are: URIEL+ typological, genealogical and geographic distances, plus lexical.

URIEL+ (Khan et al., COLING 2025) through the ``urielplus`` package. Its data ships inside the wheel
(``urielplus/database/original_uriel/*.npz`` and ``urielplus_csvs/``): nothing is downloaded, so it
works offline. We query the base URIEL vectors it loads at construction (genetic = Glottolog family
tree membership, featural = WALS/SSWL/Ethnologue syntax, phonology and inventory features,
geographic = distance to 299 anchor points), with the package's own ``new_distance`` (angular
distance in [0, 1] over the features both languages have). ``integrate_databases()`` (Grambank,
APICS, ...) is not called: it takes minutes and switches some languages to Glottocodes.

Lexical distance is computed here from the PanLex Swadesh lists in the shared corpora
(``panlex_swadesh/panlex_swadesh.zip``, CC0): for each core concept (Swadesh 207, else 110) both
languages express, the smallest normalised Levenshtein distance between any of their expressions;
averaged over shared concepts (LDN, as in ASJP). It needs no package and is the documented offline
fallback when ``urielplus`` is absent; it is also a useful signal on its own (cognate vocabulary
transfers through shared subwords).

Every distance is in [0, 1] (0 = identical) or None when a source has no data for a language.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import DataError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = [
    "URIEL_DISTANCES",
    "LanguageDistances",
    "language_distances",
    "uriel_distance",
    "swadesh_distance",
    "swadesh_lists",
    "typology_backend",
    "urielplus_version",
    "levenshtein_normalised",
]

#: The URIEL+ distance types queried (see the module docstring).
URIEL_DISTANCES: tuple[str, ...] = ("genetic", "featural", "geographic")
#: Fewest shared Swadesh concepts for a lexical distance to be reported.
MIN_SHARED_CONCEPTS = 30


@dataclass
class LanguageDistances:
    """Distances from one language to another, each in [0, 1] or None (no data); `sources` says where from."""

    a: str
    b: str
    genetic: float | None = None
    featural: float | None = None
    geographic: float | None = None
    lexical: float | None = None
    shared_concepts: int = 0
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- URIEL+


def urielplus_version() -> str | None:
    """The installed urielplus version, or None when the package is absent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("urielplus")
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _uriel() -> Any:
    """One URIELPlus instance per process (about 2 s to load). None when unavailable."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        from urielplus import urielplus  # its import calls logging.basicConfig(INFO): undone below
    except ImportError:
        logger.info("urielplus is not installed; typological distances fall back to Swadesh lexical distances")
        return None
    finally:
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
    try:
        instance = urielplus.URIELPlus()
    except (OSError, ValueError) as exc:  # data files missing or unreadable
        logger.warning("URIEL+ data could not be loaded (%s); using Swadesh lexical distances only", exc)
        return None
    instance.set_cache(False)  # never write into site-packages
    return instance


def _iso(lang: str) -> str:
    return resolve_language(lang).iso639_3


@functools.lru_cache(maxsize=4096)
def _uriel_vector(kind: str, iso: str) -> tuple[Any, Any] | None:
    """(values, has_data) of one language's URIEL+ `kind` vector, aggregated over sources like the package."""
    import numpy as np

    uriel = _uriel()
    idx = uriel.map_new_distance_to_loaded_features(kind)
    rows = np.flatnonzero(uriel.langs[idx] == iso)
    if rows.size == 0:
        return None
    cube = np.asarray(uriel.data[idx][rows[0]], dtype=np.float64)  # (features, sources)
    known = cube != -1.0
    has = known.any(axis=1)
    if cube.shape[1] == 1:
        values = cube[:, 0]
    elif kind == "geographic":
        values = np.where(has, np.where(known, cube, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1), -1.0)
    elif uriel.aggregation == "A":
        values = np.where(has, np.where(known, cube, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1), -1.0)
    else:  # "U": union (max) of the sources that know the feature
        values = np.where(has, np.where(known, cube, -np.inf).max(axis=1), -1.0)
    return values, has


@functools.lru_cache(maxsize=4096)
def _uriel_pair(kind: str, a: str, b: str) -> float | None:
    """URIEL+'s ``new_distance(kind, [a, b])`` (angular distance over shared known features), vectorised.

    Same data, feature selection, source aggregation and rounding as the package (checked against it in
    tests/test_recommend.py), about 100x faster for the 3718 genetic features.
    """
    import numpy as np

    uriel = _uriel()
    if uriel is None:
        return None
    if a == b:
        return 0.0
    va, vb = _uriel_vector(kind, a), _uriel_vector(kind, b)
    if va is None or vb is None:
        return None
    shared = va[1] & vb[1]
    if not shared.any():
        return None
    u, v = va[0][shared], vb[0][shared]
    if np.linalg.norm(u) == 0:
        u = np.full(u.shape, 1e-10)
    if np.linalg.norm(v) == 0:
        v = np.full(v.shape, 1e-10)
    cos = float(np.clip(np.dot(u / np.linalg.norm(u), v / np.linalg.norm(v)), -1.0, 1.0))
    if uriel.distance_metric == "cosine":
        return round(1.0 - cos, 4)
    return round(2.0 * float(np.arccos(cos)) / np.pi, 4)


def uriel_distance(a: str, b: str, kind: str = "genetic") -> float | None:
    """URIEL+ `kind` distance (one of URIEL_DISTANCES) between two languages; None without data."""
    if kind not in URIEL_DISTANCES:
        from polyglot_transfer.errors import ConfigError, did_you_mean

        raise ConfigError(f"Unknown URIEL+ distance {kind!r}.{did_you_mean(kind, URIEL_DISTANCES)} "
                          f"Expected one of {', '.join(URIEL_DISTANCES)}.")
    return _uriel_pair(kind, _iso(a), _iso(b))


# --------------------------------------------------------------------------- Swadesh (PanLex)


def _swadesh_zip(root: str | Path | None) -> Path | None:
    if root is None:
        from polyglot_transfer.data.corpora import find_shared_corpora

        shared = find_shared_corpora()
        if shared is None:
            return None
        root = shared
    base = Path(root).expanduser()
    for candidate in (base, base / "panlex_swadesh.zip", base / "panlex_swadesh" / "panlex_swadesh.zip"):
        if candidate.is_file() and candidate.suffix == ".zip":
            return candidate
    return None


def _norm(expression: str) -> str:
    text = unicodedata.normalize("NFKD", expression.casefold())
    return "".join(c for c in text if c.isalnum())  # drop diacritics, spaces and punctuation


@functools.lru_cache(maxsize=4)
def _swadesh_files(path: Path) -> dict[tuple[str, str], str]:
    """(list size '207' / '110', ISO 639-3) -> member name of the first variety (-000) of that language."""
    files: dict[tuple[str, str], str] = {}
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[2].endswith(".txt") and parts[1] in ("swadesh207", "swadesh110"):
                files.setdefault((parts[1].removeprefix("swadesh"), parts[2][:3]), name)
    return files


@functools.lru_cache(maxsize=512)
def _swadesh_list(path: Path, size: str, iso: str) -> list[list[str]] | None:
    name = _swadesh_files(path).get((size, iso))
    if name is None:
        return None
    with zipfile.ZipFile(path) as archive:
        lines = archive.read(name).decode("utf-8").split("\n")
    return [[n for n in (_norm(e) for e in line.split("\t")) if n] for line in lines]


def swadesh_lists(lang: str, root: str | Path | None = None) -> list[list[str]] | None:
    """The Swadesh-207 (else -110) expressions of `lang`, normalised, one list per concept; None if absent."""
    path = _swadesh_zip(root)
    if path is None:
        return None
    iso = _iso(lang)
    for size in ("207", "110"):
        found = _swadesh_list(path, size, iso)
        if found is not None:
            return found
    return None


def levenshtein_normalised(a: str, b: str) -> float:
    """Levenshtein distance divided by the longer length (0 identical, 1 nothing in common)."""
    if a == b:
        return 0.0
    if not a or not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(len(a), len(b))


@functools.lru_cache(maxsize=4096)
def _swadesh_pair(a: str, b: str, path: Path) -> tuple[float | None, int]:
    for size in ("207", "110"):
        la, lb = _swadesh_list(path, size, a), _swadesh_list(path, size, b)
        if la is None or lb is None:
            continue
        distances = [
            min(levenshtein_normalised(x, y) for x in ca for y in cb)
            for ca, cb in zip(la, lb)
            if ca and cb
        ]
        if len(distances) >= MIN_SHARED_CONCEPTS:
            return sum(distances) / len(distances), len(distances)
    return None, 0


def swadesh_distance(a: str, b: str, root: str | Path | None = None) -> tuple[float | None, int]:
    """Mean normalised Levenshtein distance over shared Swadesh concepts, and how many were shared."""
    path = _swadesh_zip(root)
    if path is None:
        return None, 0
    ia, ib = _iso(a), _iso(b)
    if ia == ib:
        return 0.0, 0
    return _swadesh_pair(*sorted((ia, ib)), path)


# --------------------------------------------------------------------------- both


def typology_backend() -> str:
    """Which sources typology uses here, for reports: 'URIEL+ (urielplus 1.3.2) + PanLex Swadesh' etc."""
    version = urielplus_version()
    parts = []
    if version is not None and _uriel() is not None:
        parts.append(f"URIEL+ (urielplus {version}, offline data shipped in the wheel)")
    else:
        parts.append("URIEL+ unavailable (urielplus not installed)")
    parts.append("PanLex Swadesh lexical distance" if _swadesh_zip(None) else "no Swadesh lists found")
    return "; ".join(parts)


def language_distances(
    a: str, b: str, *, swadesh_root: str | Path | None = None, use_uriel: bool = True
) -> LanguageDistances:
    """Every distance between languages `a` and `b` that the available data supports."""
    ca, cb = resolve_language(a).code, resolve_language(b).code
    out = LanguageDistances(a=ca, b=cb)
    if use_uriel and _uriel() is not None:
        for kind in URIEL_DISTANCES:
            value = uriel_distance(ca, cb, kind)
            setattr(out, kind, value)
            if value is not None:
                out.sources[kind] = f"URIEL+ {kind} (urielplus {urielplus_version()})"
    try:
        lexical, shared = swadesh_distance(ca, cb, swadesh_root)
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise DataError(f"Could not read the PanLex Swadesh lists ({exc}); expected panlex_swadesh.zip "
                        "from NLTK's panlex_swadesh package.") from None
    out.lexical, out.shared_concepts = lexical, shared
    if lexical is not None:
        out.sources["lexical"] = f"PanLex Swadesh lists ({shared} shared concepts)"
    return out
