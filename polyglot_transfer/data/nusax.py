"""NusaX (IndoNLP/nusax, CC BY-SA 4.0): 3-way sentiment in Indonesian, English and 10 local languages.

Layout read here (the repository's ``datasets/`` folder)::

    <root>/datasets/sentiment/<folder>/{train,valid,test}.csv   columns id,text,label
    <root>/datasets/mt/{train,valid,test}.csv                    unnamed index + one column per folder

What the files hold (checked on the copy in ../shared/corpora/nusax): the sentiment files of all 12
languages are translations of the same sentences. In every split the ``id`` column is identical across
languages, in the same row order, and the labels agree row by row (500 train / 100 valid / 400 test
per language). Ids are unique across splits too (they are the row numbers of the original SmSA
subset, 0-999). Row *i* of ``mt/<split>.csv`` is the same sentence as row *i* of
``sentiment/<folder>/<split>.csv``. So ``meta["item"] = "<split>-<id>"`` pairs translations across
languages, and :func:`load_nusax_parallel` lines up with the sentiment rows by position.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from polyglot_transfer.data.dataset import Example, TextDataset, nfc
from polyglot_transfer.data.loaders import load_table
from polyglot_transfer.errors import DataError, did_you_mean
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = [
    "NUSAX_FOLDERS",
    "NUSAX_LANGUAGES",
    "NUSAX_LOCAL_LANGUAGES",
    "NUSAX_LABELS",
    "NUSAX_SPLITS",
    "nusax_root",
    "load_nusax_sentiment",
    "load_nusax_parallel",
]

# canonical code -> folder name in datasets/sentiment/ (and column name in datasets/mt/)
NUSAX_FOLDERS: dict[str, str] = {
    "ind_Latn": "indonesian",
    "eng_Latn": "english",
    "ace_Latn": "acehnese",
    "ban_Latn": "balinese",
    "bbc_Latn": "toba_batak",
    "bjn_Latn": "banjarese",
    "bug_Latn": "buginese",
    "jav_Latn": "javanese",
    "mad_Latn": "madurese",
    "min_Latn": "minangkabau",
    "nij_Latn": "ngaju",
    "sun_Latn": "sundanese",
}
NUSAX_LANGUAGES: tuple[str, ...] = tuple(NUSAX_FOLDERS)
NUSAX_LOCAL_LANGUAGES: tuple[str, ...] = tuple(c for c in NUSAX_FOLDERS if c not in ("ind_Latn", "eng_Latn"))
NUSAX_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
NUSAX_SPLITS: tuple[str, ...] = ("train", "valid", "test")
_SPLIT_ALIASES = {"dev": "valid", "validation": "valid", "val": "valid"}


def _split(split: str) -> str:
    value = _SPLIT_ALIASES.get(split.lower(), split.lower()) if isinstance(split, str) else split
    if value not in NUSAX_SPLITS:
        raise DataError(
            f"Unknown NusaX split {split!r}.{did_you_mean(str(split), NUSAX_SPLITS)} "
            f"Expected one of: {', '.join(NUSAX_SPLITS)} ('dev' means 'valid')."
        )
    return value


def _language(language: str) -> str:
    code = resolve_language(language).code
    if code not in NUSAX_FOLDERS:
        raise DataError(
            f"NusaX has no language {language!r} (resolved to {code}). It has: {', '.join(NUSAX_LANGUAGES)}."
        )
    return code


def nusax_root(root: str | Path) -> Path:
    """The folder holding ``datasets/``: `root` itself, or `root`/nusax (a shared corpora folder)."""
    root = Path(root)
    for candidate in (root, root / "nusax"):
        if (candidate / "datasets" / "sentiment").is_dir():
            return candidate
    raise DataError(
        f"{root} does not look like a NusaX checkout: expected {root / 'datasets' / 'sentiment'}. "
        "Point root at the folder that holds datasets/ (a clone of github.com/IndoNLP/nusax)."
    )


def load_nusax_sentiment(root: str | Path, language: str, split: str) -> TextDataset:
    """NusaX-Senti for one language and split.

    Ids are ``nusax-<code>-<split>-<id>``; ``meta["item"] = "<split>-<id>"`` is shared by the
    translations of one sentence, so predictions can be paired across languages.
    """
    code = _language(language)
    split = _split(split)
    path = nusax_root(root) / "datasets" / "sentiment" / NUSAX_FOLDERS[code] / f"{split}.csv"
    table = load_table(path, lang=code, label_required=True)
    unknown = sorted(set(table.label_set) - set(NUSAX_LABELS))
    if unknown:
        raise DataError(f"{path}: unexpected label(s) {unknown}; NusaX labels are {', '.join(NUSAX_LABELS)}.")
    examples = [
        Example(
            id=f"nusax-{code}-{split}-{e.id}",
            text=e.text,
            label=e.label,
            lang=code,
            meta={"item": f"{split}-{e.id}", "split": split, **e.meta},
        )
        for e in table
    ]
    return TextDataset(examples, name=f"nusax-senti-{code}-{split}")


def load_nusax_parallel(root: str | Path, split: str) -> dict[str, list[str]]:
    """NusaX-MT: code -> sentences of one split, aligned by position across the 12 languages (NFC)."""
    split = _split(split)
    path = nusax_root(root) / "datasets" / "mt" / f"{split}.csv"
    if not path.exists():
        raise DataError(f"{path} does not exist: expected the NusaX-MT file datasets/mt/{split}.csv.")
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [folder for folder in NUSAX_FOLDERS.values() if folder not in header]
        if missing:
            raise DataError(f"{path} has no column(s) {', '.join(missing)} (columns: {', '.join(header)}).")
        out: dict[str, list[str]] = {code: [] for code in NUSAX_FOLDERS}
        for row_number, row in enumerate(reader, start=1):
            for code, folder in NUSAX_FOLDERS.items():
                text = row.get(folder)
                if text is None or not text.strip():
                    raise DataError(f"{path} row {row_number}: empty {folder!r} sentence.")
                out[code].append(nfc(text))
    return out
