"""`pgt diagnose`, `pgt recommend`, `pgt plan` as a user runs them, and the diagnose() API behind them."""

from __future__ import annotations

import json

import pytest

from polyglot_transfer.cli.main import main
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.diagnostics.diagnose import diagnose
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.embedder import HashEmbedder
from tests.toy_task import write_toy_task

TIFINAGH = ["ⴰⵣⵓⵍ ⴼⵍⵍⴰⵡⵏ ⵎⴰⵏⵣⴰⴽⵉⵏ", "ⵜⴰⵎⴰⵣⵉⵖⵜ ⵜⴰⵏⴰⵡⴰⵢⵜ ⵜⵓⴳⵔ", "ⴰⵎⴷⵢⴰⵣ ⵏ ⵓⵎⵓⵔ ⵉⵖⵔⵎ"] * 4


@pytest.fixture(scope="module")
def xlmr(e5_path):
    from polyglot_transfer.diagnostics.tokenizer_fit import load_tokenizer

    return load_tokenizer(e5_path)


def _data() -> TextDataset:
    rows = []
    for i in range(12):
        label = ["crops", "animals"][i % 2]
        rows.append(Example(id=f"e{i}", text=f"my maize and beans number {i}" if label == "crops" else f"my cow and goat {i}",
                            label=label, lang="eng_Latn"))
        rows.append(Example(id=f"s{i}", text=f"mahindi yangu na maharagwe {i}" if label == "crops" else f"ng'ombe wangu {i}",
                            label=label if i < 10 else "crops", lang="swh_Latn"))
    return TextDataset(rows, name="toy")


def test_diagnose_reports_fit_gaps_and_flags_an_uncovered_script(xlmr) -> None:
    queries = TextDataset([Example(id=f"q{i}", text=t, label=None, lang="tzm_Tfng") for i, t in enumerate(TIFINAGH)]
                          + [Example(id=f"w{i}", text=f"ng'ombe wangu anaumwa {i}", label=None, lang="swh_Latn") for i in range(8)])
    docs = TextDataset([Example(id=f"d{i}", text=f"advice about maize and cattle {i}", label=None, lang="eng_Latn") for i in range(6)])
    report = diagnose("unused", _data(), "eng", queries=queries, documents=docs, embedder=HashEmbedder(32),
                      tokenizer=xlmr, n_permutations=50)
    langs = [d.lang for d in report.languages]
    assert langs == ["eng_Latn", "swh_Latn", "tzm_Tfng"], "source first, then the rest"
    tzm = report.languages[2]
    assert any(f.startswith("script poorly covered") for f in tzm.flags), tzm.flags
    assert "tzm_Tfng" in report.flagged
    # English fits the tokenizer and has no flag: its training texts and the documents differ (reported), but
    # documents are passages, not messages, so that difference is not a domain gap
    assert "eng_Latn" not in report.flagged
    eng_vs_docs = report.languages[0].gaps[0]
    assert eng_vs_docs.name == "train vs documents" and eng_vs_docs.embedding.differs
    swh = report.languages[1]
    assert [g.name for g in swh.gaps] == ["train vs data", "train vs documents", "train vs queries",
                                         "data vs documents", "data vs queries", "documents vs queries"]
    train_vs_data = swh.gaps[0]
    assert train_vs_data.embedding is not None and 0 <= train_vs_data.embedding.mmd_p_value <= 1
    assert train_vs_data.vocabulary.oov_rate > 0.5, "English and Swahili share few words"
    assert train_vs_data.labels is not None and train_vs_data.labels.tvd == pytest.approx(1 / 12), "one Swahili animals row relabelled crops"
    assert any("x the pieces per word of English" in n for n in swh.vs_source), swh.vs_source
    out = report.to_dict()
    json.dumps(out, default=str)  # JSON-ready
    assert out["languages"][2]["fit"]["script"] == "Tfng"


def test_diagnose_refuses_a_source_missing_from_the_data(xlmr) -> None:
    with pytest.raises(DataError, match="no texts in the source language fra_Latn; it has eng_Latn, swh_Latn"):
        diagnose("unused", _data(), "fra", embedder=HashEmbedder(16), tokenizer=xlmr)
    with pytest.raises(DataError, match="neither a file nor a built-in corpus.*Did you mean 'nusax'"):
        diagnose("unused", "nusaxx", "eng", embedder=HashEmbedder(16), tokenizer=xlmr)


def test_cli_diagnose_needs_data_or_udhr(capsys) -> None:
    assert main(["diagnose"]) == 2
    assert "needs --data FILE_OR_CORPUS" in capsys.readouterr().err
    assert main(["diagnose", "--data", "nusax"]) == 2
    assert "needs --source LANG" in capsys.readouterr().err


def test_cli_diagnose_udhr_reports_every_file(e5_path, tmp_path, capsys) -> None:
    folder = tmp_path / "udhr2"
    folder.mkdir()
    (folder / "eng.txt").write_text("All human beings are born free and equal in dignity and rights.\n", encoding="utf-8")
    (folder / "tzm_tfng.txt").write_text("\n".join(TIFINAGH) + "\n", encoding="utf-8")
    assert main(["diagnose", "--udhr", "--udhr-root", str(folder), "--model", str(e5_path), "--json"]) == 0
    fits = json.loads(capsys.readouterr().out)
    assert [f["label"] for f in fits] == ["tzm_tfng", "eng"], "worst fit first"
    assert fits[0]["char_coverage"] < 0.5 and any(f.startswith("script poorly covered") for f in fits[0]["flags"])
    assert fits[1]["fertility"] < 2 and fits[1]["flags"] == []


def test_cli_diagnose_table_on_files(e5_path, tmp_path, capsys, monkeypatch) -> None:
    import polyglot_transfer.retrieval.embedder as embedder_module

    monkeypatch.setattr(embedder_module, "Embedder", lambda model, **kw: HashEmbedder(16))
    paths = write_toy_task(tmp_path)
    code = main(["diagnose", "--model", str(e5_path), "--data", str(paths["test"]), "--source", "eng",
                 "--documents", str(paths["documents"]), "--permutations", "20"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Tokenizer fit" in out and "Swahili (swh_Latn)" in out and "Domain gap per language" in out


def test_cli_plan_writes_a_config_that_validates(tmp_path, capsys) -> None:
    out = tmp_path / "plan.yaml"
    code = main(["plan", "--labelled", "32", "--unlabelled", "5000", "--parallel", "0", "--documents", "200",
                 "--gpu", "no", "--target", "yor", "--source", "eng", "--corpus", "agri_advice", "--no-fertility",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "few_shot" in printed and "task data: the built-in corpus agri_advice (--corpus)" in printed
    assert main(["validate", str(out)]) == 0
    assert main(["plan", "--target", "klingonx"]) == 3  # LanguageError is a data error
    assert "Unknown language 'klingonx'" in capsys.readouterr().err


def test_cli_recommend_json(tiny_encoder, tmp_path, capsys) -> None:
    parallel = tmp_path / "parallel.jsonl"
    rows = []
    for i, (jav, sun, eng) in enumerate([("aku mangan sega", "abdi tuang sangu", "I eat rice"),
                                         ("omahku cedhak kali", "imah abdi caket walungan", "my house is near the river")]):
        rows += [{"id": f"j{i}", "text": jav, "lang": "jav"}, {"id": f"s{i}", "text": sun, "lang": "sun"},
                 {"id": f"e{i}", "text": eng, "lang": "eng"}]
    parallel.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code = main(["recommend", "--target", "jav", "--candidates", "sun,eng", "--model", str(tiny_encoder),
                 "--parallel", str(parallel), "--train-sizes", "sun=100,eng=1000", "--json"])
    recs = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["rank"] for r in recs] == [1, 2] and {r["source"] for r in recs} == {"sun_Latn", "eng_Latn"}
    assert all(r["features"]["model_similarity"] is not None for r in recs)
    assert recs[0]["explanation"].startswith(f"{recs[0]['source']}: rank 1")
    assert main(["recommend", "--target", "yor"]) == 2
    assert "--candidates is needed for yor_Latn" in capsys.readouterr().err
