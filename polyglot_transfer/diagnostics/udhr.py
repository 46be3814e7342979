"""The Universal Declaration of Human Rights in ~380 languages: one parallel text to measure tokenizers on.

The shared copy is NLTK's ``udhr2`` (Unicode UDHR project): ``udhr/udhr2/<code>.txt``, plain UTF-8,
one paragraph per line. Its ``udhr2.xml`` only describes the package (no per-file metadata), so the
language of each file is read from its name:

- ``ace`` -> ISO 639-3 ``ace``; a suffix that is an ISO 15924 script (``azj_cyrl``, ``cmn_hans``,
  ``tzm_tfng``) gives the script; any other suffix is a variant (``hau_NE``, ``deu_1901``, ``acu_1``,
  ``aka_fante``);
- codes retired from ISO 639-3 that the corpus still uses are mapped to their successors
  (:data:`RETIRED_CODES`, each checked against the file's text);
- ``007`` ... ``011`` are the Unicode project's numbers for varieties without a code: they keep
  ``lang=None`` and are named by their file.

Without a script suffix the script is detected from the text (:func:`script_of_text`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyglot_transfer.diagnostics.tokenizer_fit import TokenizerFit, tokenizer_fit
from polyglot_transfer.errors import DataError, LanguageError, did_you_mean
from polyglot_transfer.languages import resolve_language, script_of_text

logger = logging.getLogger(__name__)

__all__ = [
    "UdhrText",
    "UdhrEntry",
    "list_udhr",
    "load_udhr",
    "udhr_root",
    "udhr_fertility_table",
    "RETIRED_CODES",
    "DEFAULT_MAX_CHARS",
]

#: Codes the corpus uses that ISO 639-3 retired or never had -> the code used now (checked on the texts).
RETIRED_CODES: dict[str, str] = {
    "fri": "fry",  # Western Frisian
    "mly": "zsm",  # Malay (the project maps the macrolanguage to Standard Malay)
    "prv": "oci",  # Provençal -> Occitan
    "auv": "oci",  # Auvergnat -> Occitan
    "lnc": "oci",  # Languedocien -> Occitan
    "flm": "cfm",  # Falam Chin
    "blu": "hnj",  # Hmong Njua
    "tzc": "tzo",  # Chamula Tzotzil -> Tzotzil
    "hsf": "hus",  # Southeastern Huastec -> Huastec
    "hva": "hus",  # San Luis Potosí Huastec -> Huastec
    "ccx": "zha",  # Northern Zhuang -> Zhuang
    "eml": "egl",  # Emiliano-Romagnolo -> Emilian
}

_STEM_RE = re.compile(r"^(?P<base>[a-z]{3}|\d{3})(?:_(?P<suffix>[A-Za-z0-9]+))?$")
_SCRIPT_DETECT_CHARS = 2000
DEFAULT_MAX_CHARS = 3000


@dataclass(frozen=True)
class UdhrEntry:
    """One UDHR file: `name` is its stem ('hau_NE'); `lang` a canonical code ('hau_Latn') or None."""

    name: str
    path: Path
    lang: str | None
    iso639_3: str | None
    script: str | None
    variant: str | None
    language_name: str | None

    @property
    def display_name(self) -> str:
        if self.language_name is None:
            return f"UDHR {self.name}"
        return self.language_name + (f" ({self.variant})" if self.variant else "")


@dataclass(frozen=True)
class UdhrText:
    """A loaded UDHR file: its entry plus the NFC text and its non-empty lines."""

    entry: UdhrEntry
    text: str

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def lang(self) -> str | None:
        return self.entry.lang

    @property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.splitlines() if line.strip()]


def udhr_root(root: str | Path | None = None) -> Path:
    """The folder holding the ``*.txt`` files.

    `root` may be that folder, the ``udhr`` folder above it, or the shared corpora folder; None looks
    up the shared corpora folder (``$PGT_CORPORA_DIR`` or ``../shared/corpora``).
    """
    if root is None:
        from polyglot_transfer.data.corpora import find_shared_corpora

        shared = find_shared_corpora()
        if shared is None:
            raise DataError(
                "No UDHR corpus given and no shared corpora folder found. Pass root=<folder with udhr2/*.txt> "
                "or set PGT_CORPORA_DIR."
            )
        root = shared
    base = Path(root).expanduser()
    for candidate in (base, base / "udhr2", base / "udhr" / "udhr2"):
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    raise DataError(
        f"No UDHR text files found under {base}: expected <root>/*.txt, <root>/udhr2/*.txt or "
        "<root>/udhr/udhr2/*.txt (NLTK's udhr2 corpus)."
    )


def _read(path: Path, max_chars: int | None = None) -> str:
    import unicodedata

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read() if max_chars is None else f.read(max_chars)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid UTF-8 ({exc}); expected the Unicode UDHR (udhr2) files.") from None
    return unicodedata.normalize("NFC", text.lstrip("\ufeff"))


def _entry(path: Path) -> UdhrEntry:
    name = path.stem
    match = _STEM_RE.match(name)
    base = match["base"] if match else name
    suffix = match["suffix"] if match else None
    script: str | None = None
    variant: str | None = suffix
    if suffix and len(suffix) == 4 and suffix.isalpha():
        import langcodes

        candidate = suffix.title()
        if langcodes.Language.get(f"und-{candidate}").is_valid():
            script, variant = candidate, None
    if script is None:
        script = script_of_text(_read(path, _SCRIPT_DETECT_CHARS))
    lang = iso = language_name = None
    if not base.isdigit():
        code = RETIRED_CODES.get(base, base)
        try:
            resolved = resolve_language(code)
        except LanguageError:
            logger.debug("UDHR file %s: language code %r is not known; keeping lang=None", path.name, base)
        else:
            iso, language_name = resolved.iso639_3, resolved.name
            script = script or resolved.script
            lang = f"{iso}_{script}"
    return UdhrEntry(
        name=name, path=path, lang=lang, iso639_3=iso, script=script, variant=variant, language_name=language_name
    )


@functools.lru_cache(maxsize=8)
def _entries(folder: Path, mtime_ns: int) -> tuple[UdhrEntry, ...]:
    return tuple(_entry(p) for p in sorted(folder.glob("*.txt")))


def list_udhr(root: str | Path | None = None) -> list[UdhrEntry]:
    """Every UDHR file under `root`, sorted by name, with its language and script."""
    folder = udhr_root(root)
    return list(_entries(folder.resolve(), folder.stat().st_mtime_ns))


def _find(entries: list[UdhrEntry], name: str) -> UdhrEntry:
    """A file stem ('hau_NE', 'ace.txt') or a language ('yo', 'Yoruba', 'tzm_Tfng') -> one entry."""
    stem = name[:-4] if name.endswith(".txt") else name
    by_stem = {e.name: e for e in entries}
    if stem in by_stem:
        return by_stem[stem]
    lowered = {e.name.lower(): e for e in entries}
    if stem.lower() in lowered:
        return lowered[stem.lower()]
    try:
        language = resolve_language(stem)
    except LanguageError:
        language = None
    if language is not None:
        same_language = [e for e in entries if e.iso639_3 == language.iso639_3]
        explicit_script = "_" in stem and stem.split("_")[-1].title() == language.script
        matches = [e for e in same_language if e.script == language.script] if explicit_script else same_language
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise DataError(
                f"UDHR has {len(matches)} texts for {name!r} ({language.name}): "
                f"{', '.join(e.name for e in matches)}. Pass one of these file names."
            )
    raise DataError(
        f"No UDHR text named {name!r}.{did_you_mean(stem, by_stem)} Expected a file name such as 'yor' or "
        "'hau_NE', or a language code; list them with list_udhr()."
    )


def load_udhr(root: str | Path | None, name: str, *, max_chars: int | None = None) -> UdhrText:
    """Load one UDHR text by file name ('hau_NE') or language ('yor', 'Yoruba'), NFC-normalised.

    `max_chars` keeps only the first characters (cut back to a line end when one is in reach).
    """
    entry = _find(list_udhr(root), name)
    text = _read(entry.path, None if max_chars is None else max_chars + 1)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars]
        cut = text.rfind("\n")
        if cut > max_chars // 2:
            text = text[:cut]
    return UdhrText(entry=entry, text=text)


def udhr_fertility_table(
    tokenizer: Any,
    root: str | Path | None = None,
    languages: Iterable[str] | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[TokenizerFit]:
    """:func:`tokenizer_fit` on the first `max_chars` characters of every UDHR file (or of `languages`).

    Each fit is labelled with its file name; files without any text are skipped with a warning.
    Results follow file-name order; sort them as needed.
    """
    if isinstance(tokenizer, str | Path):
        from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    if max_chars < 1:
        raise DataError(f"max_chars must be a positive int. Got {max_chars} instead.")
    entries = list_udhr(root)
    if languages is not None:
        if isinstance(languages, str):
            languages = [languages]
        entries = [_find(entries, name) for name in languages]
    fits: list[TokenizerFit] = []
    for entry in entries:
        doc = load_udhr(entry.path.parent, entry.name, max_chars=max_chars)
        if not doc.lines:
            logger.warning("UDHR file %s is empty; skipped", entry.path.name)
            continue
        fit = tokenizer_fit(tokenizer, doc.lines, lang=entry.lang, label=entry.name)
        fits.append(fit)
    return fits
