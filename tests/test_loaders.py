"""TextDataset, the generic table loader, and the NusaX / AfriQA / demo-corpus loaders."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from polyglot_transfer.data import (
    NUSAX_LANGUAGES,
    NUSAX_LOCAL_LANGUAGES,
    Example,
    TextDataset,
    find_shared_corpora,
    load_afriqa_passages,
    load_afriqa_queries,
    load_demo_corpus,
    load_nusax_parallel,
    load_nusax_sentiment,
    load_table,
    make_example,
)
from polyglot_transfer.data.afriqa import parse_answer_list
from polyglot_transfer.data.corpora import DEMO_CORPUS_FILES, REPO_ROOT, demo_corpus_path
from polyglot_transfer.errors import DataError, LanguageError

# --- helpers ---------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def toy_dataset() -> TextDataset:
    rows = [
        ("a1", "good", "pos", "yor"),
        ("a2", "bad", "neg", "yor"),
        ("a3", "fine", "pos", "jav"),
        ("a4", "awful", "neg", "jav"),
        ("a5", "great", "pos", "jav"),
        ("a6", "no label", None, "jav"),
    ]
    return TextDataset([make_example(i, t, lbl, lang) for i, t, lbl, lang in rows], name="toy")


# --- Example / TextDataset ---------------------------------------------------------------------------------


def test_example_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Ọmọ ọdún")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    ex = Example(id="x", text=decomposed, label=None, lang="yor_Latn")
    assert ex.text == unicodedata.normalize("NFC", "Ọmọ ọdún")
    assert ex.meta == {}


def test_make_example_coerces_and_resolves() -> None:
    ex = make_example(7, "hi", 1, "yo", {"k": "v"})
    assert (ex.id, ex.label, ex.lang, ex.meta) == ("7", "1", "yor_Latn", {"k": "v"})
    assert make_example("x", "hi", "  ", "yo").label is None


def test_example_rejects_bad_values() -> None:
    with pytest.raises(DataError, match="label must be a string or None; got int 1"):
        Example(id="x", text="t", label=1, lang="yor_Latn")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="id must be a non-empty string"):
        Example(id="", text="t", label=None, lang="yor_Latn")


def test_examples_are_hashable_despite_meta() -> None:
    ex = make_example("x", "t", None, "yo", {"a": [1]})
    assert len({ex, ex}) == 1


def test_dataset_columns_and_sets() -> None:
    ds = toy_dataset()
    assert len(ds) == 6
    assert ds.ids == ["a1", "a2", "a3", "a4", "a5", "a6"]
    assert ds.texts[0] == "good"
    assert ds.labels[-1] is None
    assert ds.langs[:3] == ["yor_Latn", "yor_Latn", "jav_Latn"]
    assert ds.label_set == ["neg", "pos"]
    assert ds.languages == ["jav_Latn", "yor_Latn"]
    assert ds[1].id == "a2"
    assert isinstance(ds[1:3], TextDataset) and ds[1:3].ids == ["a2", "a3"]
    assert [e.id for e in ds] == ds.ids


def test_dataset_rejects_duplicate_ids() -> None:
    ex = make_example("dup", "t", None, "yo")
    with pytest.raises(DataError, match=r"duplicate id 'dup' at positions 0 and 1"):
        TextDataset([ex, ex], name="d")


def test_dataset_string_index_error_points_to_columns() -> None:
    with pytest.raises(DataError, match=r"indexed by position, not by 'train'"):
        toy_dataset()["train"]  # type: ignore[index]


def test_filter_and_by_language() -> None:
    ds = toy_dataset()
    assert ds.filter(lang="javanese").ids == ["a3", "a4", "a5", "a6"]
    assert ds.filter(lang="jav", label="pos").ids == ["a3", "a5"]
    assert ds.filter(label=["neg", "pos"], lang=["yo", "jv"]).ids == ["a1", "a2", "a3", "a4", "a5"]
    with pytest.raises(LanguageError, match="Unknown language 'yorb'"):
        ds.filter(lang="yorb")
    groups = ds.by_language()
    assert list(groups) == ["jav_Latn", "yor_Latn"]
    assert groups["yor_Latn"].ids == ["a1", "a2"]


def test_sample_per_label_is_deterministic_nested_and_balanced() -> None:
    examples = [make_example(f"e{i}", f"t{i}", "pos" if i % 3 else "neg", "yo") for i in range(60)]
    ds = TextDataset(examples, name="big")
    s4 = ds.sample_per_label(4, seed=1)
    assert s4.ids == ds.sample_per_label(4, seed=1).ids
    assert s4.ids != ds.sample_per_label(4, seed=2).ids
    assert sorted(s4.labels) == ["neg"] * 4 + ["pos"] * 4
    assert set(s4.ids) <= set(ds.sample_per_label(8, seed=1).ids)
    assert s4.ids == sorted(s4.ids, key=ds.ids.index)  # original order kept
    # one label's sample does not depend on the other labels present
    assert ds.sample_per_label(4, seed=1).filter(label="neg").ids == ds.filter(label="neg").sample_per_label(4, 1).ids


def test_sample_per_label_small_label_and_bad_k(caplog: pytest.LogCaptureFixture) -> None:
    ds = toy_dataset()
    sample = ds.sample_per_label(5, seed=0)
    assert sorted(sample.ids) == ["a1", "a2", "a3", "a4", "a5"]  # unlabelled a6 dropped
    assert "has only 2 examples" in caplog.text
    with pytest.raises(DataError, match=r"k must be an int >= 1\. Got 0 instead"):
        ds.sample_per_label(0)


def test_fingerprint_is_stable_and_content_sensitive() -> None:
    ds = toy_dataset()
    assert ds.fingerprint() == toy_dataset().fingerprint()
    assert len(ds.fingerprint()) == 64
    changed = TextDataset([*ds.examples[:-1], make_example("a6", "no label", "pos", "jav")])
    assert changed.fingerprint() != ds.fingerprint()
    reordered = TextDataset(list(reversed(ds.examples)))
    assert reordered.fingerprint() != ds.fingerprint()
    # meta and name do not count
    with_meta = TextDataset([Example(e.id, e.text, e.label, e.lang, {"x": 1}) for e in ds], name="other")
    assert with_meta.fingerprint() == ds.fingerprint()
    # NFC: composed and decomposed input give the same fingerprint
    nfd = TextDataset([make_example("y", unicodedata.normalize("NFD", "ọdún"), None, "yo")])
    nfc = TextDataset([make_example("y", "ọdún", None, "yo")])
    assert nfd.fingerprint() == nfc.fingerprint()


def test_records_round_trip() -> None:
    ds = toy_dataset()
    records = ds.to_records()
    assert records[0] == {"id": "a1", "text": "good", "label": "pos", "lang": "yor_Latn", "meta": {}}
    assert TextDataset.from_records(records, name="toy") == ds
    with pytest.raises(DataError, match=r"record 0 has no lang"):
        TextDataset.from_records([{"id": "x", "text": "t"}])


def test_concat() -> None:
    ds = toy_dataset()
    both = TextDataset.concat([ds[:2], ds[2:]], name="both")
    assert both == ds and both.name == "both"
    with pytest.raises(DataError, match="duplicate id 'a1'"):
        TextDataset.concat([ds, ds])


# --- load_table: formats -----------------------------------------------------------------------------------


def test_csv_with_quoted_newline_and_generated_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv", 'text,label\n"line one\nline two, with comma",pos\nplain,neg\n')
    ds = load_table(path, lang="jv")
    assert ds.texts == ["line one\nline two, with comma", "plain"]
    assert ds.labels == ["pos", "neg"]
    assert ds.ids == ["reviews-1", "reviews-2"]
    assert ds.languages == ["jav_Latn"]
    assert ds.name == "reviews"


def test_tsv_and_per_row_language(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.tsv", "id\ttext\tlabel\tlang\nx1\tẹ káàrọ̀\tgreet\tyo\nx2\tsugeng enjing\tgreet\tjavanese\n")
    ds = load_table(path)
    assert ds.langs == ["yor_Latn", "jav_Latn"]
    assert ds.ids == ["x1", "x2"]
    assert ds.texts[0] == unicodedata.normalize("NFC", "ẹ káàrọ̀")


def test_jsonl_with_mapping_extra_columns_in_meta(tmp_path: Path) -> None:
    lines = [
        {"uid": 1, "sentence": "good", "sentiment": 1, "source": "web"},
        {"uid": 2, "sentence": "bad", "sentiment": 0, "source": "sms"},
    ]
    path = write(tmp_path / "data.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n\n")
    ds = load_table(path, columns={"text": "sentence", "label": "sentiment", "id": "uid"}, lang="yor_Latn", name="n")
    assert ds.ids == ["1", "2"]
    assert ds.labels == ["1", "0"]
    assert ds[0].meta == {"source": "web"}
    assert ds.name == "n"


def test_to_records_jsonl_round_trip(tmp_path: Path) -> None:
    ds = TextDataset([make_example("a", "ọdún", "x", "yo", {"item": "i1"}), make_example("b", "t", None, "jv")], name="rt")
    path = write(tmp_path / "rt.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ds.to_records()))
    back = load_table(path)
    assert back == ds
    assert back.fingerprint() == ds.fingerprint()


def test_explicit_format_overrides_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", "text\nhello\n")
    with pytest.raises(DataError, match=r"Cannot tell the format of .*data\.txt from its suffix '\.txt'"):
        load_table(path, lang="eng")
    assert load_table(path, format="csv", lang="eng").texts == ["hello"]
    with pytest.raises(DataError, match=r"Unknown table format 'cvs'.*Did you mean 'csv'"):
        load_table(path, format="cvs", lang="eng")


def test_json_array_file(tmp_path: Path) -> None:
    path = write(tmp_path / "arr.json", json.dumps([{"text": "a", "lang": "yo"}, {"text": "b", "lang": "yo"}]))
    assert load_table(path).texts == ["a", "b"]


def test_json_lines_in_a_dot_json_file(tmp_path: Path) -> None:
    path = write(tmp_path / "lines.json", '{"text": "a"}\n{"text": "b"}\n')
    assert load_table(path, lang="yo").ids == ["lines-1", "lines-2"]


def test_row_language_overrides_default_and_fills_gaps(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "text,lang\na,jav\nb,\n")
    assert load_table(path, lang="yo").langs == ["jav_Latn", "yor_Latn"]


# --- load_table: errors ------------------------------------------------------------------------------------


def test_missing_mapped_column(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,text,label\n1,hi,pos\n")
    with pytest.raises(
        DataError,
        match=r"x\.csv has no column 'sentence' \(columns: id, text, label\)\. Map it with columns=\{'text': \.\.\.\}",
    ):
        load_table(path, columns={"text": "sentence"}, lang="yo")


def test_missing_text_column_suggests(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,txt\n1,hi\n")
    with pytest.raises(DataError, match=r"has no column 'text' \(columns: id, txt\)\. Did you mean 'txt'\?"):
        load_table(path, lang="yo")


def test_missing_column_in_jsonl_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", '{"text": "a"}\n{"sentence": "b"}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2 has no column 'text' \(columns: sentence\)"):
        load_table(path, lang="yo")


def test_bad_json_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"text": "a"}\n\n{"text": "b",}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: invalid JSON .*fix or remove that line"):
        load_table(path, lang="yo")


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "list.jsonl", '["a", "b"]\n')
    with pytest.raises(DataError, match=r"list\.jsonl:1: expected a JSON object per line, got a list"):
        load_table(path, lang="yo")


def test_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "text,label\nok,pos\n  ,neg\n")
    with pytest.raises(DataError, match=r"e\.csv row 2 \(line 3\): empty text in column 'text'\. Fill it in or remove the row"):
        load_table(path, lang="yo")


def test_row_and_line_numbers_after_multiline_field(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", 'text,label\n"a\nb\nc",pos\n"",neg\n')
    with pytest.raises(DataError, match=r"m\.csv row 2 \(line 5\): empty text"):
        load_table(path, lang="yo")


def test_missing_label_when_required(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "text,label\na,pos\nb,\n")
    assert load_table(path, lang="yo").labels == ["pos", None]
    with pytest.raises(DataError, match=r"l\.csv row 2 \(line 3\): no label .* labels are required"):
        load_table(path, lang="yo", label_required=True)


def test_label_column_absent_when_required(tmp_path: Path) -> None:
    path = write(tmp_path / "nolabel.csv", "text\na\n")
    with pytest.raises(DataError, match=r"nolabel\.csv has no column 'label' \(columns: text\)"):
        load_table(path, lang="yo", label_required=True)


def test_no_language_given(tmp_path: Path) -> None:
    path = write(tmp_path / "nolang.csv", "text\na\n")
    with pytest.raises(DataError, match=r"nolang\.csv: no language given: it has no 'lang' column .*Pass lang='yor_Latn'"):
        load_table(path)
    jpath = write(tmp_path / "nolang.jsonl", '{"text": "a"}\n')
    with pytest.raises(DataError, match=r"nolang\.jsonl:1: no language given\. Pass lang='yor_Latn'"):
        load_table(jpath)


def test_unknown_language_argument_and_cell(tmp_path: Path) -> None:
    path = write(tmp_path / "ul.csv", "text,lang\na,yo\nb,yorb\n")
    with pytest.raises(LanguageError, match=r"ul\.csv row 2 \(line 3\): Unknown language 'yorb'\. Did you mean 'yor'"):
        load_table(path)
    with pytest.raises(LanguageError, match=r"Unknown language 'klingonx'"):
        load_table(path, lang="klingonx")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        load_table(tmp_path / "nope.csv", lang="yo")
    with pytest.raises(DataError, match=r"is a folder; expected a \.jsonl, \.json, \.csv or \.tsv file"):
        load_table(tmp_path, lang="yo")


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty\.csv is empty: expected a header row"):
        load_table(write(tmp_path / "empty.csv", ""), lang="yo")
    with pytest.raises(DataError, match=r"header\.csv has no data rows"):
        load_table(write(tmp_path / "header.csv", "text,label\n"), lang="yo")


def test_wrong_field_count(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "text,label\na,b,c\n")
    with pytest.raises(DataError, match=r"w\.csv row 1 \(line 2\): has 3 fields but the header has 2 .*Quote fields"):
        load_table(path, lang="yo")


def test_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'text,label\nok,pos\n"abc,pos\nmore,neg\n')
    with pytest.raises(DataError, match=r"q\.csv row 2 \(line 3\): has 1 fields .* A quote opened on line 3 may not be closed"):
        load_table(path, lang="yo")


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,text\n1,a\n1,b\n")
    with pytest.raises(DataError, match=r"d\.csv row 2 \(line 3\): duplicate id '1' \(first seen at .*row 1"):
        load_table(path, lang="yo")


def test_unknown_columns_key(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "text\na\n")
    with pytest.raises(DataError, match=r"columns has an unknown key 'txt'\. Did you mean 'text'\?"):
        load_table(path, columns={"txt": "text"}, lang="yo")


def test_non_string_text(tmp_path: Path) -> None:
    path = write(tmp_path / "n.jsonl", '{"text": 5}\n')
    with pytest.raises(DataError, match=r"n\.jsonl:1: text in column 'text' must be a string; got int 5"):
        load_table(path, lang="yo")


def test_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text\ncafé\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv is not valid UTF-8"):
        load_table(path, lang="fr")


# --- real corpora (../shared/corpora) ----------------------------------------------------------------------

SHARED = find_shared_corpora()
needs_nusax = pytest.mark.skipif(
    SHARED is None or not (SHARED / "nusax" / "datasets").is_dir(),
    reason="NusaX not found: set PGT_CORPORA_DIR or provide ../shared/corpora/nusax",
)
needs_afriqa = pytest.mark.skipif(
    SHARED is None or not (SHARED / "afriqa" / "data").is_dir(),
    reason="AfriQA not found: set PGT_CORPORA_DIR or provide ../shared/corpora/afriqa",
)


def test_nusax_language_constants() -> None:
    assert len(NUSAX_LANGUAGES) == 12 and len(NUSAX_LOCAL_LANGUAGES) == 10
    assert set(NUSAX_LANGUAGES) - set(NUSAX_LOCAL_LANGUAGES) == {"ind_Latn", "eng_Latn"}


@needs_nusax
@pytest.mark.parametrize(("split", "count"), [("train", 500), ("valid", 100), ("dev", 100), ("test", 400)])
def test_nusax_counts(split: str, count: int) -> None:
    ds = load_nusax_sentiment(SHARED, "jav", split)
    assert len(ds) == count
    assert ds.label_set == ["negative", "neutral", "positive"]
    assert ds.languages == ["jav_Latn"]


@needs_nusax
def test_nusax_every_language_loads_and_items_line_up() -> None:
    reference = load_nusax_sentiment(SHARED / "nusax", "indonesian", "valid")
    for code in NUSAX_LANGUAGES:
        ds = load_nusax_sentiment(SHARED / "nusax", code, "valid")
        assert len(ds) == 100, code
        assert ds.languages == [code]
        assert [e.meta["item"] for e in ds] == [e.meta["item"] for e in reference], code
        assert ds.labels == reference.labels, code
        assert ds[0].id == f"nusax-{code}-valid-{ds[0].meta['item'].split('-', 1)[1]}"


@needs_nusax
def test_nusax_aliases_give_same_data() -> None:
    a = load_nusax_sentiment(SHARED, "jav", "test")
    assert load_nusax_sentiment(SHARED, "jav_Latn", "test") == a
    assert load_nusax_sentiment(SHARED, "javanese", "test") == a


@needs_nusax
def test_nusax_errors() -> None:
    with pytest.raises(DataError, match=r"NusaX has no language 'yo' \(resolved to yor_Latn\)"):
        load_nusax_sentiment(SHARED, "yo", "train")
    with pytest.raises(DataError, match=r"Unknown NusaX split 'tets'\. Did you mean 'test'\?"):
        load_nusax_sentiment(SHARED, "jav", "tets")


def test_nusax_root_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not look like a NusaX checkout"):
        load_nusax_sentiment(tmp_path, "jav", "train")


@needs_nusax
def test_nusax_parallel_aligns_with_sentiment() -> None:
    parallel = load_nusax_parallel(SHARED, "valid")
    assert set(parallel) == set(NUSAX_LANGUAGES)
    assert {len(v) for v in parallel.values()} == {100}
    assert parallel["bbc_Latn"] == load_nusax_sentiment(SHARED, "toba_batak", "valid").texts


@needs_afriqa
def test_afriqa_queries() -> None:
    ds = load_afriqa_queries(SHARED, "yor", "test")
    assert len(ds) == 332
    assert ds.languages == ["yor_Latn"]
    assert ds.label_set == []
    first = ds[0]
    assert first.id == "afriqa-yor-test-0"
    assert first.meta["translated_question"] == "What is the work force size of the Nigerian Airforce?"
    assert first.meta["answers"] == ["15,000"]
    assert first.meta["pivot_lang"] == "eng_Latn"
    assert all(isinstance(e.meta["answers"], list) for e in ds)


@needs_afriqa
def test_afriqa_swahili_alias_and_unescaped_apostrophes() -> None:
    ds = load_afriqa_queries(SHARED / "afriqa", "Swahili", "valid")
    assert ds.languages == ["swh_Latn"]
    assert ds[0].id.startswith("afriqa-swa-dev-")
    answers = [a for e in ds for a in e.meta["answers"]]
    assert "Léon M'ba" in answers  # stored as "['Léon M'ba']", which is not valid Python


@needs_afriqa
def test_afriqa_empty_question_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    ds = load_afriqa_queries(SHARED, "twi", "dev")
    assert len(ds) == 451 and "afriqa-twi-dev-108" not in ds.ids
    assert "empty question (id 108) skipped" in caplog.text


@needs_afriqa
def test_afriqa_passages() -> None:
    fon = load_afriqa_passages(SHARED, "fon", "test")
    assert fon.languages == ["fra_Latn"]
    eng = load_afriqa_passages(SHARED, "hau", "test")
    assert eng.languages == ["eng_Latn"]
    queries = set(load_afriqa_queries(SHARED, "hau", "test").ids)
    assert sum(bool(p.meta["title"]) for p in eng) > 0.9 * len(eng)  # a few source rows have no title
    for passage in eng:
        assert passage.meta["question_ids"]
        assert set(passage.meta["query_ids"]) <= queries
        for span in passage.meta["answer_spans"]:
            if span["answer_start"] >= 0:
                start = span["answer_start"]
                assert passage.text[start : start + len(span["text"])] == span["text"]
    assert len(eng.texts) == len(set(eng.texts))  # de-duplicated


@needs_afriqa
def test_afriqa_missing_split_and_language() -> None:
    with pytest.raises(DataError, match=r"no gold span passages file for yor dev .*available splits: test, train"):
        load_afriqa_passages(SHARED, "yor", "dev")
    with pytest.raises(DataError, match=r"AfriQA has no language 'jav' \(resolved to jav_Latn\)"):
        load_afriqa_queries(SHARED, "jav", "test")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("['15,000']", ["15,000"]),
        ("[]", []),
        ("['People's Party']", ["People's Party"]),
        ('[\'Ender\'s Game, "Eye in the Sky"\']', ['Ender\'s Game, "Eye in the Sky"']),
        (["a", "b"], ["a", "b"]),
        ("__import__('os')", ["__import__('os')"]),  # never evaluated
        (None, []),
    ],
)
def test_parse_answer_list(value: object, expected: list[str]) -> None:
    assert parse_answer_list(value) == expected


# --- shared corpora and demo corpus ------------------------------------------------------------------------


def test_find_shared_corpora_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGT_CORPORA_DIR", str(tmp_path))
    assert find_shared_corpora() == tmp_path.resolve()
    monkeypatch.setenv("PGT_CORPORA_DIR", str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"PGT_CORPORA_DIR=.*missing' is not a folder"):
        find_shared_corpora()


def test_demo_corpus_path_default_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGT_DEMO_CORPUS", raising=False)
    assert demo_corpus_path() == REPO_ROOT / "corpora" / "agri_advice"
    monkeypatch.setenv("PGT_DEMO_CORPUS", str(tmp_path))
    assert demo_corpus_path() == tmp_path


def test_demo_corpus_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Demo corpus folder .*nowhere does not exist.*PGT_DEMO_CORPUS"):
        load_demo_corpus(tmp_path / "nowhere")


def _write_demo(folder: Path, test_label: str = "pests") -> Path:
    folder.mkdir()
    write(folder / "train.jsonl", '{"id": "t1", "text": "aphids", "label": "pests", "lang": "swh"}\n'
          '{"id": "t2", "text": "rain", "label": "weather", "lang": "yor_Latn"}\n')
    write(folder / "test.jsonl", f'{{"id": "s1", "text": "worms", "label": "{test_label}", "lang": "sw", "item": "i1"}}\n')
    write(folder / "documents.jsonl", '{"id": "d1", "text": "Spray neem.", "label": "pests", "lang": "eng", "title": "Neem"}\n')
    write(folder / "labels.json", json.dumps({"pests": "insects and diseases", "weather": "rain and drought"}))
    write(folder / "card.yaml", "name: agri_advice\nlicense: CC-BY-4.0\n")
    return folder


def test_demo_corpus_loader_on_a_tiny_copy(tmp_path: Path) -> None:
    corpus = load_demo_corpus(_write_demo(tmp_path / "demo"))
    assert len(corpus.train) == 2 and len(corpus.test) == 1 and len(corpus.documents) == 1
    assert corpus.test[0].meta == {"item": "i1"}
    assert corpus.documents[0].meta == {"title": "Neem"}
    assert corpus.labels["pests"] == "insects and diseases"
    assert corpus.card["name"] == "agri_advice"
    assert corpus.languages == ["swh_Latn", "yor_Latn"]


def test_demo_corpus_undescribed_label(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"agri_advice-test uses label\(s\) \['soil'\] that labels\.json does not describe"):
        load_demo_corpus(_write_demo(tmp_path / "demo", test_label="soil"))


def test_demo_corpus_missing_file(tmp_path: Path) -> None:
    folder = _write_demo(tmp_path / "demo")
    (folder / "card.yaml").unlink()
    with pytest.raises(DataError, match=r"is missing card\.yaml"):
        load_demo_corpus(folder)


@pytest.mark.skipif(
    not all((REPO_ROOT / "corpora" / "agri_advice" / name).is_file() for name in DEMO_CORPUS_FILES),
    reason="corpora/agri_advice is not (completely) written yet",
)
def test_shipped_demo_corpus_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGT_DEMO_CORPUS", raising=False)
    corpus = load_demo_corpus()
    assert len(corpus.train) > 0 and len(corpus.test) > 0 and len(corpus.documents) > 0
    assert set(corpus.train.label_set) <= set(corpus.labels)
    assert set(corpus.test.label_set) <= set(corpus.labels)
    assert not set(corpus.train.ids) & set(corpus.test.ids)
    assert all("item" in e.meta for e in corpus.test)
    assert all("title" in e.meta for e in corpus.documents)
