"""Language codes: ISO 639-3 + ISO 15924 script, e.g. ``yor_Latn`` (the convention of FLORES, NusaX, MTEB).

Every public boundary that takes a language (configs, loaders, the CLI) passes it through
:func:`resolve_language`, which accepts the spellings people actually type ("yo", "yor", "Yoruba",
"yo-NG", "yor_Latn", NusaX folder names such as "toba_batak") and returns one canonical
:class:`Language`. Lookups use the ``langcodes`` package (CLDR likely subtags for default scripts) and
are cached.

Macrolanguages are mapped to the individual language that multilingual benchmarks use:
``swa``/``sw``/"Swahili" -> ``swh_Latn``, ``msa``/``ms`` -> ``zsm_Latn``, ``ara``/``ar`` -> ``arb_Arab``,
``fas``/``fa`` -> ``pes_Arab``. An explicit individual code (``prs``, ``swh``, ``ary``) is kept as given.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import logging
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import langcodes
from langcodes.data_dicts import LANGUAGE_REPLACEMENTS
from langcodes.tag_parser import LanguageTagError

from polyglot_transfer.errors import LanguageError

logger = logging.getLogger(__name__)

__all__ = [
    "Language",
    "resolve_language",
    "resolve_languages",
    "language_name",
    "script_of_text",
    "MACROLANGUAGE_DEFAULTS",
]

# Macrolanguage (ISO 639-3) -> the individual language used by FLORES-200 / NusaX / MTEB.
MACROLANGUAGE_DEFAULTS: dict[str, str] = {
    "swa": "swh",  # Swahili -> Swahili (individual language)
    "msa": "zsm",  # Malay -> Standard Malay
    "ara": "arb",  # Arabic -> Standard Arabic
    "fas": "pes",  # Persian -> Iranian Persian
}

# Names that langcodes does not know (or knows differently), lower-cased with spaces.
_EXTRA_ALIASES: dict[str, str] = {
    # NusaX folder names (datasets/sentiment/<folder>/)
    "acehnese": "ace_Latn",
    "balinese": "ban_Latn",
    "toba batak": "bbc_Latn",
    "batak toba": "bbc_Latn",
    "banjarese": "bjn_Latn",
    "buginese": "bug_Latn",
    "javanese": "jav_Latn",
    "madurese": "mad_Latn",
    "minangkabau": "min_Latn",
    "ngaju": "nij_Latn",
    "sundanese": "sun_Latn",
    "indonesian": "ind_Latn",
    "english": "eng_Latn",
}

_CANONICAL_RE = re.compile(r"^([a-z]{3})_([A-Z][a-z]{3})$")
_TAG_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_NOT_LANGUAGES = {"und", "mul", "zxx", "mis"}


@dataclass(frozen=True)
class Language:
    """A resolved language: ``code`` is ``<iso639_3>_<script>``, e.g. ``yor_Latn``."""

    code: str
    iso639_3: str
    script: str
    name: str

    def __str__(self) -> str:
        return self.code


def _hint() -> str:
    return "Use an ISO 639-3 code with a script, e.g. 'yor_Latn'."


def _clean_name(name: str) -> str:
    return name.replace(" (individual language)", "").replace(" (macrolanguage)", "")


@functools.lru_cache(maxsize=1)
def _alpha2_table() -> dict[str, str]:
    """ISO 639-3 -> current ISO 639-1 code ('yor' -> 'yo'), deprecated two-letter codes left out."""
    table: dict[str, str] = {}
    for first, second in itertools.product(string.ascii_lowercase, repeat=2):
        code = first + second
        replacement = LANGUAGE_REPLACEMENTS.get(code)
        if replacement is not None and len(replacement) == 2:
            continue  # deprecated alias such as iw -> he
        try:
            table[langcodes.Language.get(code, normalize=False).to_alpha3()] = code
        except LookupError:
            continue
    return table


def _iso639_3(primary: str) -> str | None:
    """The ISO 639-3 code of a primary language subtag, following pure aliases only.

    'yo' -> 'yor', 'ger' -> 'deu', 'iw' -> 'heb', 'per' -> 'fas'; real replacements in langcodes' table
    ('tgl' -> 'fil', 'prs' -> 'fa-AF') are not followed, so an explicit individual code is kept.
    """
    code = primary.lower()
    replacement = LANGUAGE_REPLACEMENTS.get(code)
    if replacement is not None and len(replacement) == 2:
        code = replacement  # 3-letter (T or B) -> 2-letter, or deprecated 2-letter -> current one
        again = LANGUAGE_REPLACEMENTS.get(code)
        if again is not None and len(again) == 2:
            code = again
    if len(code) == 3:
        return code
    try:
        return langcodes.Language.get(code, normalize=False).to_alpha3()
    except LookupError:
        return None


@functools.lru_cache(maxsize=4096)
def language_name(iso639_3: str) -> str:
    """English name of an ISO 639-3 code, e.g. 'yor' -> 'Yoruba'."""
    key = _alpha2_table().get(iso639_3, iso639_3)
    name = langcodes.Language.get(key, normalize=False).language_name("en")
    if name.startswith("Unknown language"):
        name = langcodes.Language.get(key).language_name("en")
    return _clean_name(name)


def _is_known(lang: langcodes.Language) -> bool:
    if not lang.language or lang.language in _NOT_LANGUAGES:
        return False
    if not lang.is_valid():
        return False
    if "qaa" <= lang.language <= "qtz":
        return False  # private use
    return not lang.language_name("en").startswith("Unknown language")


def _from_tag(value: str) -> Language | None:
    """Resolve a BCP-47-ish tag ('yo', 'yor', 'yo-NG', 'yor_Latn'); None when it is not a known language."""
    tag = value.replace("_", "-")
    try:
        raw = langcodes.Language.get(tag, normalize=False)
        norm = langcodes.Language.get(tag)
    except (LanguageTagError, ValueError):
        return None
    if raw.script and not langcodes.Language.get(f"und-{raw.script}").is_valid():
        raise LanguageError(
            f"Unknown script {raw.script.title()!r} in language {value!r}: expected an ISO 15924 code "
            f"such as Latn, Cyrl, Arab, Deva, Ethi, Hans. {_hint()}"
        )
    if not _is_known(norm) or not raw.language:
        return None
    iso = _iso639_3(raw.language)
    if iso is None:
        return None
    iso = MACROLANGUAGE_DEFAULTS.get(iso, iso)

    script = raw.script or norm.script or norm.maximize().script
    if script is None:
        raise LanguageError(
            f"No default script is known for language {value!r} ({language_name(iso)}). "
            f"Give the script explicitly, e.g. '{iso}_Latn'."
        )
    script = script.title()
    return Language(code=f"{iso}_{script}", iso639_3=iso, script=script, name=language_name(iso))


def _from_name(value: str) -> Language | None:
    """Resolve a language name ('Yoruba', 'toba_batak', 'Français'); None when unknown."""
    key = " ".join(value.replace("_", " ").replace("-", " ").split()).lower()
    if key in _EXTRA_ALIASES:
        return _from_tag(_EXTRA_ALIASES[key])
    tag = _find_name(key)
    return None if tag is None else _from_tag(tag)


def _find_name(name: str) -> str | None:
    """langcodes' name lookup (names in any language), without its loose prefix matching.

    langcodes accepts any name that *starts with* a known name ("klingonx" -> Klingon); here the
    extra text must be whole words ("Hakka Chinese", "Yoruba language"), so typos reach did-you-mean.
    """
    try:
        from language_data.names import TRIES, get_trie_value, load_trie, normalize_name
        from language_data.util import data_filename

        trie_name = "und/name_to_language"
        if trie_name not in TRIES:
            TRIES[trie_name] = load_trie(data_filename(f"trie/{trie_name}.marisa"))
        trie = TRIES[trie_name]
        lookup = normalize_name(name)
        if lookup in trie:
            return get_trie_value(trie, lookup)
        prefixes = trie.prefixes(lookup)
        if prefixes and len(prefixes[-1]) >= 4 and lookup[len(prefixes[-1]) :][:1] == " ":
            return get_trie_value(trie, prefixes[-1])
        return None
    except (ImportError, AttributeError, OSError):  # language_data internals changed: use the public API
        try:
            return langcodes.find(name).to_tag()
        except LookupError:
            return None


@functools.lru_cache(maxsize=1)
def _suggestion_pool() -> dict[str, tuple[str, str, int]]:
    """Spellings -> (language tag, English name, speaker population) for did-you-mean suggestions."""
    from language_data.population_data import LANGUAGE_SPEAKING_POPULATION

    pool: dict[str, tuple[str, str, int]] = {}
    for tag, population in LANGUAGE_SPEAKING_POPULATION.items():
        if "-" in tag:
            continue
        lang = langcodes.Language.get(tag)
        try:
            alpha3 = lang.to_alpha3()
        except LookupError:
            continue
        name = _clean_name(lang.language_name("en"))
        for spelling in {tag, alpha3, MACROLANGUAGE_DEFAULTS.get(alpha3, alpha3), name}:
            key = spelling.lower()
            if key not in pool or pool[key][2] < population:
                pool[key] = (tag, name, population)
    for alias, code in _EXTRA_ALIASES.items():
        pool.setdefault(alias, (code, alias.title(), 0))
    return pool


def _suggest(value: str, n: int = 3) -> str:
    """' Did you mean 'yor' (Yoruba)?' built from codes and names; '' when nothing is close."""
    pool = _suggestion_pool()
    probe = value.strip().lower()
    if _TAG_RE.match(probe):
        probe = re.split(r"[-_]", probe)[0]  # 'yorb_Latn' -> 'yorb'
    else:
        probe = " ".join(probe.replace("_", " ").split())
    scored: dict[str, tuple[float, int, Language]] = {}
    for key in difflib.get_close_matches(probe, list(pool), n=25, cutoff=0.75):
        tag, _, population = pool[key]
        try:
            lang = _from_tag(tag)
        except LanguageError:
            lang = None
        if lang is None:
            continue
        ratio = difflib.SequenceMatcher(None, probe, key).ratio()
        prev = scored.get(lang.iso639_3)
        if prev is None or ratio > prev[0]:
            scored[lang.iso639_3] = (ratio, population, lang)
    if not scored:
        return ""
    best = max(r for r, _, _ in scored.values())
    ranked = sorted((v for v in scored.values() if v[0] >= best - 0.05), key=lambda v: (-v[0], -v[1]))[:n]
    return " Did you mean " + " or ".join(f"'{lang.iso639_3}' ({lang.name})" for _, _, lang in ranked) + "?"


@functools.lru_cache(maxsize=4096)
def resolve_language(value: str) -> Language:
    """Resolve a code, tag or name to a canonical :class:`Language`.

    >>> resolve_language("yo").code
    'yor_Latn'
    >>> resolve_language("Swahili").code
    'swh_Latn'

    Raises LanguageError with a did-you-mean suggestion for anything unknown.
    """
    if isinstance(value, Language):
        return value
    if not isinstance(value, str):
        raise LanguageError(f"A language must be a string such as 'yor_Latn'; got {type(value).__name__} {value!r}.")
    text = value.strip()
    if not text:
        raise LanguageError(f"Empty language code. {_hint()}")
    lang: Language | None = None
    alias = " ".join(text.replace("_", " ").split()).lower()
    if alias in _EXTRA_ALIASES:
        lang = _from_tag(_EXTRA_ALIASES[alias])
    elif _TAG_RE.match(text):
        lang = _from_tag(text)
    if lang is None and not _CANONICAL_RE.match(text):
        lang = _from_name(text)
    if lang is None:
        raise LanguageError(f"Unknown language {value!r}.{_suggest(text)} {_hint()}")
    return lang


def resolve_languages(values: Iterable[str] | str) -> list[Language]:
    """Resolve several languages (a single string is also accepted); order kept, duplicates dropped."""
    if isinstance(values, str | Language):
        values = [values]
    out: list[Language] = []
    for value in values:
        lang = resolve_language(value)
        if lang not in out:
            out.append(lang)
    return out


# --- script detection -------------------------------------------------------------------------------

# Unicode character-name prefixes -> ISO 15924 codes (longest prefix wins).
_SCRIPT_PREFIXES: dict[str, str] = {
    "LATIN": "Latn",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "ARMENIAN": "Armn",
    "GEORGIAN": "Geor",
    "HEBREW": "Hebr",
    "ARABIC": "Arab",
    "SYRIAC": "Syrc",
    "THAANA": "Thaa",
    "NKO": "Nkoo",
    "DEVANAGARI": "Deva",
    "BENGALI": "Beng",
    "GURMUKHI": "Guru",
    "GUJARATI": "Gujr",
    "ORIYA": "Orya",
    "TAMIL": "Taml",
    "TELUGU": "Telu",
    "KANNADA": "Knda",
    "MALAYALAM": "Mlym",
    "SINHALA": "Sinh",
    "THAI": "Thai",
    "LAO": "Laoo",
    "TIBETAN": "Tibt",
    "MYANMAR": "Mymr",
    "KHMER": "Khmr",
    "MONGOLIAN": "Mong",
    "ETHIOPIC": "Ethi",
    "CHEROKEE": "Cher",
    "CANADIAN SYLLABICS": "Cans",
    "OGHAM": "Ogam",
    "RUNIC": "Runr",
    "TIFINAGH": "Tfng",
    "VAI": "Vaii",
    "ADLAM": "Adlm",
    "BAMUM": "Bamu",
    "OL CHIKI": "Olck",
    "JAVANESE": "Java",
    "BALINESE": "Bali",
    "SUNDANESE": "Sund",
    "BUGINESE": "Bugi",
    "HANGUL": "Hang",
    "HIRAGANA": "Hira",
    "KATAKANA": "Kana",
    "BOPOMOFO": "Bopo",
    "CJK UNIFIED IDEOGRAPH": "Hani",
    "CJK COMPATIBILITY IDEOGRAPH": "Hani",
    "YI": "Yiii",
}
_PREFIXES_LONGEST_FIRST = sorted(_SCRIPT_PREFIXES, key=len, reverse=True)


@functools.lru_cache(maxsize=65536)
def _char_script(char: str) -> str | None:
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    for strip in ("FULLWIDTH ", "HALFWIDTH "):
        if name.startswith(strip):
            name = name[len(strip) :]
    for prefix in _PREFIXES_LONGEST_FIRST:
        if name.startswith(prefix) and (len(name) == len(prefix) or name[len(prefix)] in " -"):
            return _SCRIPT_PREFIXES[prefix]
    return None


def script_of_text(text: str) -> str | None:
    """The dominant ISO 15924 script of `text` (counting letters only), or None when it has no letters.

    Han characters give 'Hani' (simplified and traditional cannot be told apart per character);
    Han mixed with kana gives 'Jpan', Han mixed with Hangul gives 'Kore'.
    """
    counts: Counter[str] = Counter()
    for char in unicodedata.normalize("NFC", text):
        script = _char_script(char)
        if script is not None:
            counts[script] += 1
    if not counts:
        return None
    top = counts.most_common(1)[0][0]
    if top in {"Hani", "Hira", "Kana"} and (counts["Hira"] or counts["Kana"]):
        return "Jpan"
    if top in {"Hani", "Hang"} and counts["Hang"] and counts["Hani"]:
        return "Kore"
    return top


_WORD_SEPARATOR = re.compile(r"[\s\u1361]+")  # whitespace and the Ethiopic wordspace


def split_words(text: str) -> list[str]:
    """Whitespace words (the Ethiopic wordspace ``፡`` also separates words)."""
    return [w for w in _WORD_SEPARATOR.split(text) if w]
