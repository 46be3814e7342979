"""`pgt index build|add|delete|search|info` on a tiny model, as a user runs them."""

from __future__ import annotations

import json

from polyglot_transfer.cli.main import main
from tests.conftest import REPO

DOCS = REPO / "corpora" / "agri_advice" / "documents.jsonl"


def test_index_lifecycle(tiny_encoder, tmp_path, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 0
    assert "48 entries from 48 documents" in capsys.readouterr().out
    assert main(["index", "build", str(folder), "--from", str(DOCS), "--model", str(tiny_encoder)]) == 2
    assert "already exists" in capsys.readouterr().err

    extra = tmp_path / "extra.csv"
    extra.write_text("id,body\nx1,Mvua itanyesha kesho asubuhi\nx2,Bei ya mahindi imepanda sokoni\n", encoding="utf-8")
    assert main(["index", "add", str(folder), "--from", str(extra), "--columns", "text=body", "--lang", "swh"]) == 0
    info_out = capsys.readouterr().out
    assert "added 2 entries" in info_out

    assert main(["index", "search", str(folder), "Bei ya mahindi imepanda sokoni", "-k", "3", "--json",
                 "--where", "lang=swh_Latn"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["lang"] == "swh_Latn" for h in hits)
    assert hits[0]["source_id"] == "x2"  # the exact text is its own nearest neighbour

    assert main(["index", "delete", str(folder), "--ids", str(hits[0]["doc_id"])]) == 0
    capsys.readouterr()
    assert main(["index", "info", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 49


def test_index_errors(tmp_path, capsys):
    assert main(["index", "info", str(tmp_path)]) == 3
    assert "not an index folder" in capsys.readouterr().err
    assert main(["index", "search", str(tmp_path), "q", "--where", "lang"]) == 2
    assert "--where expects KEY=VALUE" in capsys.readouterr().err
