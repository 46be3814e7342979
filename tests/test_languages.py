"""Language-code resolution (ISO 639-3 + script) and script detection."""

from __future__ import annotations

import dataclasses

import pytest

from polyglot_transfer.errors import DataError, LanguageError
from polyglot_transfer.languages import Language, resolve_language, resolve_languages, script_of_text

ALIASES = [
    # canonical, two-letter, three-letter, names, tags with region / script
    ("yor_Latn", "yor_Latn"),
    ("yor", "yor_Latn"),
    ("yo", "yor_Latn"),
    ("Yoruba", "yor_Latn"),
    ("yoruba", "yor_Latn"),
    ("yo-NG", "yor_Latn"),
    ("YOR", "yor_Latn"),
    ("yo_latn", "yor_Latn"),
    ("hin_Deva", "hin_Deva"),
    ("hi", "hin_Deva"),
    ("zh-Hant", "zho_Hant"),
    ("zh", "zho_Hans"),
    ("zh-TW", "zho_Hant"),
    ("pa-PK", "pan_Arab"),
    ("amh", "amh_Ethi"),
    ("ru", "rus_Cyrl"),
    ("fre", "fra_Latn"),  # ISO 639-2/B code
    ("ger", "deu_Latn"),
    ("iw", "heb_Hebr"),  # deprecated two-letter code
    ("tgl", "tgl_Latn"),  # explicit individual code is kept
    ("prs", "prs_Arab"),
    # macrolanguages -> the individual language benchmarks use
    ("swa", "swh_Latn"),
    ("sw", "swh_Latn"),
    ("Swahili", "swh_Latn"),
    ("swh", "swh_Latn"),
    ("msa", "zsm_Latn"),
    ("ms", "zsm_Latn"),
    ("may", "zsm_Latn"),
    ("ara", "arb_Arab"),
    ("ar", "arb_Arab"),
    ("fa", "pes_Arab"),
    ("fas", "pes_Arab"),
    # NusaX folder names, any case, underscores or spaces
    ("acehnese", "ace_Latn"),
    ("balinese", "ban_Latn"),
    ("toba_batak", "bbc_Latn"),
    ("Toba Batak", "bbc_Latn"),
    ("banjarese", "bjn_Latn"),
    ("buginese", "bug_Latn"),
    ("javanese", "jav_Latn"),
    ("madurese", "mad_Latn"),
    ("minangkabau", "min_Latn"),
    ("ngaju", "nij_Latn"),
    ("sundanese", "sun_Latn"),
    ("Indonesian", "ind_Latn"),
    ("ENGLISH", "eng_Latn"),
    ("jv", "jav_Latn"),
    ("jav", "jav_Latn"),
    # AfriQA folder codes
    ("twi", "twi_Latn"),
    ("kin", "kin_Latn"),
    ("ibo", "ibo_Latn"),
    ("fon", "fon_Latn"),
]


@pytest.mark.parametrize(("value", "expected"), ALIASES)
def test_aliases_resolve_to_canonical_code(value: str, expected: str) -> None:
    lang = resolve_language(value)
    assert lang.code == expected, f"{value!r} resolved to {lang.code}, expected {expected}"
    assert lang.iso639_3 == expected.split("_")[0]
    assert lang.script == expected.split("_")[1]


def test_language_fields_and_str() -> None:
    lang = resolve_language("yo")
    assert lang == Language(code="yor_Latn", iso639_3="yor", script="Latn", name="Yoruba")
    assert str(lang) == "yor_Latn"
    assert f"{lang}" == "yor_Latn"
    assert resolve_language("swa").name == "Swahili"  # "(individual language)" is dropped
    with pytest.raises(dataclasses.FrozenInstanceError):
        lang.code = "x"  # type: ignore[misc]


def test_resolve_accepts_a_language_and_caches() -> None:
    lang = resolve_language("yor_Latn")
    assert resolve_language(lang) is lang
    assert resolve_language("yor_Latn") is lang  # lru_cache returns the same object


def test_unknown_code_suggests_closest() -> None:
    with pytest.raises(
        LanguageError,
        match=r"^Unknown language 'yorb'\. Did you mean 'yor' \(Yoruba\)\? "
        r"Use an ISO 639-3 code with a script, e\.g\. 'yor_Latn'\.$",
    ):
        resolve_language("yorb")


def test_misspelled_name_suggests_canonical_code() -> None:
    with pytest.raises(LanguageError, match=r"Unknown language 'swahli'\. Did you mean 'swh' \(Swahili\)\?"):
        resolve_language("swahli")


def test_language_error_is_a_data_error() -> None:
    with pytest.raises(DataError, match="Unknown language 'xyz'"):
        resolve_language("xyz")


@pytest.mark.parametrize("value", ["und", "zxx", "mul", "qaa", "xyz_Latn", "no such language"])
def test_non_languages_are_rejected(value: str) -> None:
    with pytest.raises(LanguageError, match=f"Unknown language '{value}'"):
        resolve_language(value)


def test_unknown_script_is_named() -> None:
    with pytest.raises(LanguageError, match=r"Unknown script 'Xyzw' in language 'yor_Xyzw'"):
        resolve_language("yor_Xyzw")


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_language(value: str) -> None:
    with pytest.raises(LanguageError, match="Empty language code"):
        resolve_language(value)


def test_non_string_language() -> None:
    with pytest.raises(LanguageError, match="must be a string such as 'yor_Latn'; got int 5"):
        resolve_language(5)  # type: ignore[arg-type]


def test_resolve_languages_keeps_order_and_drops_duplicates() -> None:
    codes = [lang.code for lang in resolve_languages(["jav", "yo", "javanese", "yor_Latn", "sw"])]
    assert codes == ["jav_Latn", "yor_Latn", "swh_Latn"]
    assert [lang.code for lang in resolve_languages("yo")] == ["yor_Latn"]


def test_resolve_languages_fails_on_first_unknown() -> None:
    with pytest.raises(LanguageError, match="Unknown language 'yorb'"):
        resolve_languages(["jav", "yorb"])


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Hello world", "Latn"),
        ("Ọmọ ọdún mélòó ni?", "Latn"),  # Yoruba, with combining marks
        ("Nɔ̀n nă mɛ Palu ?", "Latn"),  # Fon
        ("Привет, мир", "Cyrl"),
        ("مرحبا بالعالم", "Arab"),
        ("नमस्ते दुनिया", "Deva"),
        ("ሰላም ዓለም", "Ethi"),
        ("你好世界", "Hani"),
        ("こんにちは世界", "Jpan"),
        ("안녕하세요", "Hang"),
        ("Γειά σου κόσμε", "Grek"),
        ("ＡＢＣ", "Latn"),  # fullwidth
        ("Привет hello мир", "Cyrl"),  # dominant script wins
    ],
)
def test_script_of_text(text: str, script: str) -> None:
    assert script_of_text(text) == script


@pytest.mark.parametrize("text", ["", "123 !?", "🙂🙂"])
def test_script_of_text_without_letters(text: str) -> None:
    assert script_of_text(text) is None
