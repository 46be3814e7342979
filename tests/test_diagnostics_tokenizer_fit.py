"""tokenizer_fit / compare_fit: exact counts on tiny in-memory tokenizers, then real XLM-R and MiniLM vocabularies."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from polyglot_transfer.diagnostics.tokenizer_fit import (  # noqa: E402
    HIGH_FERTILITY_PER_WORD,
    POOR_COVERAGE_CHAR_COVERAGE,
    TokenizerFit,
    compare_fit,
    split_words,
    tokenizer_fit,
)
from polyglot_transfer.errors import DataError, LanguageError, ModelError  # noqa: E402

MODELS = Path(os.environ.get("PGT_CACHE_DIR", Path.home() / ".cache" / "polyglot-transfer")).expanduser() / "models"
XLMR_DIR = MODELS / "intfloat--multilingual-e5-small"
MINILM_DIR = MODELS / "sentence-transformers--all-MiniLM-L6-v2"


def _udhr_dir() -> Path | None:
    from polyglot_transfer.data.corpora import find_shared_corpora

    shared = find_shared_corpora()
    folder = shared / "udhr" / "udhr2" if shared else None
    return folder if folder is not None and folder.is_dir() else None


UDHR = _udhr_dir()

# Sentences used when the UDHR copy is absent (article 1 of the UDHR).
ENGLISH = [
    "All human beings are born free and equal in dignity and rights.",
    "They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
]
AMHARIC = ["የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው።", "የተፈጥሮ ማስተዋልና ሕሊና ስላለው አንዱ ሌላውን በወንድማማችነት መንፈስ መመልከት ይገባዋል።"]


def udhr_lines(name: str, max_chars: int = 3000) -> list[str]:
    if UDHR is None:
        pytest.skip("shared UDHR corpus (../shared/corpora/udhr/udhr2) not available")
    text = (UDHR / f"{name}.txt").read_text(encoding="utf-8")[:max_chars]
    return [line.strip() for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- tiny tokenizers (exact numbers)


@pytest.fixture(scope="module")
def wordpiece():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "hello": 1, "wor": 2, "##ld": 3, ",": 4, "!": 5, "caf": 6, "##é": 7}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


@pytest.fixture(scope="module")
def byte_bpe():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "a": 3, "b": 4, "▁": 5}
    backend = Tokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_counts_are_exact_on_a_tiny_wordpiece(wordpiece) -> None:
    # words: "hello" (1 piece), "world," (wor ##ld , = 3), "ꕉꕜ!" ([UNK] ! = 2): 6 pieces, 3 words, 14 chars
    fit = tokenizer_fit(wordpiece, ["hello world, ꕉꕜ!"])
    assert (fit.n_words, fit.n_tokens, fit.n_chars) == (3, 6, 14)
    assert fit.unit == "word"
    assert fit.fertility == pytest.approx(2.0)
    assert fit.unk_rate == pytest.approx(1 / 6)
    assert fit.char_coverage == pytest.approx(12 / 14)  # the two Vai letters are lost, "!" survives
    assert fit.continuation_rate == pytest.approx(2 / 3)
    assert fit.byte_fallback_rate == 0.0
    assert any(flag.startswith("script poorly covered") for flag in fit.flags), fit.flags


def test_text_is_nfc_normalised_first(wordpiece) -> None:
    decomposed = unicodedata.normalize("NFD", "café")
    assert decomposed != "café"
    fit = tokenizer_fit(wordpiece, [decomposed])
    assert fit.n_chars == 4  # the combining accent was composed, not counted as a fifth character
    assert fit.n_tokens == 2  # caf ##é: the composed é is in the vocabulary
    assert fit.char_coverage == 1.0


def test_byte_fallback_pieces_are_counted_and_flagged(byte_bpe) -> None:
    fit = tokenizer_fit(byte_bpe, "ab aé")  # ▁ a b ▁ a <0xC3> <0xA9>
    assert fit.n_tokens == 7
    assert fit.byte_fallback_rate == pytest.approx(2 / 7)
    assert fit.unk_rate == 0.0
    assert fit.char_coverage == 1.0
    assert any(flag.startswith("many byte-fallback pieces") for flag in fit.flags), fit.flags


def test_slow_tokenizers_without_offsets_are_estimated() -> None:
    class Slow:
        is_fast = False
        unk_token = "<unk>"

        def tokenize(self, word: str) -> list[str]:
            return ["<unk>"] if word == "ꕉꕜ" else [word[:2], word[2:]] if len(word) > 2 else [word]

    fit = tokenizer_fit(Slow(), "abcd ꕉꕜ ef")
    assert (fit.n_tokens, fit.n_words) == (4, 3)
    assert fit.char_coverage == pytest.approx(6 / 8)
    assert fit.continuation_rate == pytest.approx(1 / 3)


def test_ethiopic_wordspace_separates_words() -> None:
    assert split_words("ሰብአዊ፡መብቶች  ሁሉ\n") == ["ሰብአዊ", "መብቶች", "ሁሉ"]


def test_scripts_without_spaces_are_measured_per_character(wordpiece) -> None:
    fit = tokenizer_fit(wordpiece, ["ภาษาไทยเขียนติดกัน"])
    assert fit.unit == "character"
    assert fit.script == "Thai"
    assert fit.fertility == pytest.approx(fit.n_tokens / fit.n_chars)
    assert fit.continuation_rate is None


def test_empty_input_and_bad_arguments_are_refused(wordpiece) -> None:
    with pytest.raises(DataError, match="no words"):
        tokenizer_fit(wordpiece, ["   ", ""])
    with pytest.raises(DataError, match="item 1 is int"):
        tokenizer_fit(wordpiece, ["hello", 3])
    with pytest.raises(ModelError, match="needs a Hugging Face tokenizer"):
        tokenizer_fit(object(), ["hello"])
    with pytest.raises(LanguageError, match="Unknown language 'yorb'"):
        tokenizer_fit(wordpiece, ["hello"], lang="yorb")


def test_lang_is_resolved_and_a_script_mismatch_is_flagged(wordpiece) -> None:
    fit = tokenizer_fit(wordpiece, ["hello world"], lang="am")  # Amharic is Ethi, the text is Latin
    assert fit.lang == "amh_Ethi"
    assert fit.display_name == "Amharic"
    assert any("script mismatch" in flag and "Ethi" in flag for flag in fit.flags), fit.flags


def _fit(**kw) -> TokenizerFit:
    base = dict(
        lang=None, n_words=100, n_chars=500, n_tokens=130, unit="word", fertility=1.3, unk_rate=0.0,
        byte_fallback_rate=0.0, char_coverage=1.0, script="Latn", continuation_rate=0.2,
    )
    base.update(kw)
    return TokenizerFit(**base)


def test_compare_fit_phrases_the_ratio_and_flags_high_relative_fertility() -> None:
    source = _fit(lang="eng_Latn", fertility=1.5, continuation_rate=0.2)
    target = _fit(lang="yor_Latn", fertility=3.15, continuation_rate=0.7)
    notes = compare_fit(target, source)
    assert notes[0] == "Yoruba needs 2.1x the pieces per word of English (3.15 vs 1.50)."
    assert any(n.startswith("high fertility: more than 2x") for n in notes), notes
    assert any("70% of Yoruba words are split" in n for n in notes), notes
    close = compare_fit(_fit(lang="fra_Latn", fertility=1.6), source)
    assert not any(n.startswith("high fertility") for n in close), close


def test_compare_fit_reports_coverage_script_and_unit_differences() -> None:
    source = _fit(lang="eng_Latn")
    target = _fit(lang="vai_Vaii", char_coverage=0.05, unk_rate=0.48, script="Vaii")
    notes = compare_fit(target, source)
    assert any(n.startswith("script poorly covered: 95% of Vai characters") for n in notes), notes
    assert any("written in Vaii and English in Latn" in n for n in notes), notes
    thai = _fit(lang="tha_Thai", unit="character", fertility=0.3, script="Thai", continuation_rate=None)
    assert "cannot be compared directly" in compare_fit(thai, source)[0]


# --------------------------------------------------------------------------- real vocabularies


@pytest.fixture(scope="module")
def xlmr():
    if not (XLMR_DIR / "tokenizer.json").is_file():
        pytest.skip(f"default model not provisioned at {XLMR_DIR}")
    from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

    return load_tokenizer(XLMR_DIR)


@pytest.fixture(scope="module")
def minilm():
    if not (MINILM_DIR / "tokenizer.json").is_file():
        pytest.skip(f"MiniLM model not provisioned at {MINILM_DIR}")
    from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

    return load_tokenizer(MINILM_DIR)


def test_xlmr_fits_english_well(xlmr) -> None:
    lines = udhr_lines("eng") if UDHR else ENGLISH
    fit = tokenizer_fit(xlmr, lines, "en")
    assert fit.fertility < 1.6, fit
    assert fit.unk_rate == 0.0 and fit.char_coverage == 1.0
    assert fit.flags == []


@pytest.mark.parametrize(("name", "lang", "script"), [("vai", "vai", "Vaii"), ("tzm_tfng", "tzm_Tfng", "Tfng")])
def test_xlmr_does_not_cover_vai_or_tifinagh(xlmr, name, lang, script) -> None:
    fit = tokenizer_fit(xlmr, udhr_lines(name), lang)
    assert fit.script == script
    assert fit.char_coverage < 0.2, fit
    assert fit.unk_rate > 0.3, fit
    assert any(flag.startswith("script poorly covered") for flag in fit.flags), fit.flags
    assert fit.poorly_covered


def test_xlmr_fertility_orders_languages_plausibly(xlmr) -> None:
    fits = {name: tokenizer_fit(xlmr, udhr_lines(name), name) for name in ("eng", "fra", "hau_NG", "amh", "yor")}
    f = {name: fit.fertility for name, fit in fits.items()}
    assert f["eng"] < f["fra"] < f["hau_NG"] < f["yor"], f
    assert f["eng"] < f["amh"] < f["yor"], f
    assert fits["yor"].fertility > HIGH_FERTILITY_PER_WORD  # Yoruba's tone marks cost XLM-R dearly
    assert all(fit.char_coverage >= POOR_COVERAGE_CHAR_COVERAGE for fit in fits.values())
    notes = compare_fit(fits["yor"], fits["eng"])
    assert notes[0].startswith("Yoruba needs 2."), notes


def test_minilm_wordpiece_maps_amharic_to_unk(minilm, xlmr) -> None:
    lines = udhr_lines("amh") if UDHR else AMHARIC
    english = tokenizer_fit(minilm, udhr_lines("eng") if UDHR else ENGLISH, "eng")
    amharic = tokenizer_fit(minilm, lines, "amh")
    assert english.flags == [] and english.char_coverage == 1.0
    assert amharic.unk_token == "[UNK]"
    assert amharic.unk_rate > 0.9 and amharic.char_coverage < 0.05, amharic
    assert any(flag.startswith("script poorly covered") for flag in amharic.flags), amharic.flags
    # the multilingual vocabulary reads the same text
    assert tokenizer_fit(xlmr, lines, "amh").char_coverage > 0.99
