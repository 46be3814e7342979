"""UDHR loading (file names -> languages and scripts) and the fertility table over every file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from polyglot_transfer.diagnostics.udhr import (  # noqa: E402
    list_udhr,
    load_udhr,
    udhr_fertility_table,
    udhr_root,
)
from polyglot_transfer.errors import DataError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
XLMR_DIR = (
    Path(os.environ.get("PGT_CACHE_DIR", Path.home() / ".cache" / "polyglot-transfer")).expanduser()
    / "models"
    / "intfloat--multilingual-e5-small"
)


@pytest.fixture(scope="module")
def shared_udhr() -> Path:
    from polyglot_transfer.data.corpora import find_shared_corpora

    shared = find_shared_corpora()
    if shared is None or not (shared / "udhr" / "udhr2").is_dir():
        pytest.skip("shared UDHR corpus (../shared/corpora/udhr/udhr2) not available")
    return shared / "udhr" / "udhr2"


@pytest.fixture(scope="module")
def xlmr():
    if not (XLMR_DIR / "tokenizer.json").is_file():
        pytest.skip(f"default model not provisioned at {XLMR_DIR}")
    from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

    return load_tokenizer(XLMR_DIR)


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- hermetic (tmp folder)


def test_file_names_map_to_languages_scripts_and_variants(tmp_path) -> None:
    folder = _write(
        tmp_path / "udhr" / "udhr2",
        {
            "yor.txt": "Gbogbo ènìyàn ni a bí ní òmìnira\n",
            "azj_cyrl.txt": "Бүтүн инсанлар ләјагәт вә һүгугларына ҝөрә\n",
            "hau_NE.txt": "Duk ɗan Adam an haife shi\n",
            "fri.txt": "Alle minsken wurde frij en gelyk\n",
            "007.txt": "Tudu nguê di mundu\n",
            "nku.txt": "",
        },
    )
    for root in (tmp_path, tmp_path / "udhr", folder):  # corpora folder, udhr folder or udhr2 itself
        assert udhr_root(root) == folder
    entries = {e.name: e for e in list_udhr(tmp_path)}
    assert sorted(entries) == ["007", "azj_cyrl", "fri", "hau_NE", "nku", "yor"]
    assert (entries["yor"].lang, entries["yor"].script, entries["yor"].variant) == ("yor_Latn", "Latn", None)
    assert (entries["azj_cyrl"].lang, entries["azj_cyrl"].variant) == ("azj_Cyrl", None)
    assert (entries["hau_NE"].lang, entries["hau_NE"].variant) == ("hau_Latn", "NE")
    assert entries["hau_NE"].display_name == "Hausa (NE)"
    assert entries["fri"].lang == "fry_Latn"  # retired code mapped to its successor
    assert entries["007"].lang is None and entries["007"].display_name == "UDHR 007"


def test_load_by_file_name_or_language(tmp_path) -> None:
    _write(tmp_path, {"yor.txt": "Àkọ́lé\n\nGbogbo ènìyàn\n", "por_BR.txt": "Todos\n", "por_PT.txt": "Todos os\n"})
    doc = load_udhr(tmp_path, "Yoruba")
    assert doc.name == "yor" and doc.lang == "yor_Latn"
    assert doc.lines == ["Àkọ́lé", "Gbogbo ènìyàn"]
    assert load_udhr(tmp_path, "por_BR.txt").name == "por_BR"
    with pytest.raises(DataError, match="UDHR has 2 texts for 'por' \\(Portuguese\\): por_BR, por_PT"):
        load_udhr(tmp_path, "por")
    with pytest.raises(DataError, match="No UDHR text named 'yorr'. Did you mean 'yor'"):
        load_udhr(tmp_path, "yorr")
    with pytest.raises(DataError, match="No UDHR text files found under"):
        udhr_root(tmp_path / "missing")


def test_max_chars_cuts_at_a_line_end(tmp_path) -> None:
    _write(tmp_path, {"eng.txt": "first line here\nsecond line here\nthird\n"})
    assert load_udhr(tmp_path, "eng", max_chars=25).text == "first line here"


# --------------------------------------------------------------------------- the shared corpus


def test_shared_corpus_entries(shared_udhr) -> None:
    entries = {e.name: e for e in list_udhr(shared_udhr)}
    assert len(entries) > 350
    assert entries["amh"].lang == "amh_Ethi"
    assert entries["cmn_hans"].lang == "cmn_Hans"
    assert entries["vai"].lang == "vai_Vaii"
    assert entries["tzm_tfng"].lang == "tzm_Tfng" and entries["tzm"].lang == "tzm_Latn"
    assert entries["acu_1"].variant == "1"
    unresolved = sorted(name for name, e in entries.items() if e.lang is None)
    assert unresolved == ["007", "008", "009", "010", "011"], unresolved


def test_fertility_for_every_udhr_file(shared_udhr, xlmr) -> None:
    entries = list_udhr(shared_udhr)
    fits = udhr_fertility_table(xlmr, shared_udhr, max_chars=400)
    non_empty = {e.name for e in entries if e.path.stat().st_size > 0}
    assert {f.label for f in fits} == non_empty
    for fit in fits:
        assert fit.n_words > 0 and fit.n_tokens > 0, fit
        assert 0.0 <= fit.unk_rate <= 1.0 and 0.0 <= fit.char_coverage <= 1.0, fit
    by_name = {f.label: f for f in fits}
    assert by_name["eng"].flags == []
    for uncovered in ("vai", "tzm_tfng", "chr", "ike"):  # Vai, Tifinagh, Cherokee, Canadian syllabics
        assert by_name[uncovered].poorly_covered, by_name[uncovered]
    assert by_name["tha"].unit == "character"


def test_fertility_table_for_chosen_languages(shared_udhr, xlmr) -> None:
    fits = udhr_fertility_table(xlmr, shared_udhr, ["eng", "Yoruba"], max_chars=600)
    assert [f.label for f in fits] == ["eng", "yor"]
    assert fits[0].fertility < fits[1].fertility
    with pytest.raises(DataError, match="max_chars must be a positive int. Got 0 instead."):
        udhr_fertility_table(xlmr, shared_udhr, ["eng"], max_chars=0)


def test_benchmark_script_writes_json(shared_udhr, xlmr, tmp_path, capsys, monkeypatch) -> None:
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("fertility_udhr", REPO / "benchmarks" / "fertility_udhr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "load_tokenizer", lambda name: xlmr)  # the fixture's copy: no second 3 s load
    out = tmp_path / "fertility.json"
    code = module.main(
        ["--model", str(XLMR_DIR), "--root", str(shared_udhr), "--languages", "eng", "vai", "yor",
         "--max-chars", "500", "--out", str(out)]
    )
    assert code == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[2].strip() for row in rows] == ["vai", "yor", "eng"]  # worst fit first
    saved = json.loads(out.read_text())
    assert [r["label"] for r in saved["rows"]] == ["vai", "yor", "eng"]
    assert saved["max_chars"] == 500
