"""`pgt index build` streams its input: rows are read, embedded and added block by block."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyglot_transfer.cli.main import main
from polyglot_transfer.data.loaders import iter_table, load_table
from polyglot_transfer.errors import DataError
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.index_ops import build_index, stream_documents

TEXTS = [f"Hati ya {i}: wakulima wa kijiji {i % 7} wanapanda mahindi na maharage mwaka {1990 + i % 30}."
         for i in range(1200)]


def _write(path, texts, extra=()):
    rows = [{"id": f"d{i}", "text": t, "lang": "swh"} for i, t in enumerate(texts)] + list(extra)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _matrix(index: VectorIndex) -> np.ndarray:
    return np.stack([index.vector(i) for i in index.ids])


def test_iter_table_reads_what_load_table_reads(tmp_path):
    path = _write(tmp_path / "docs.jsonl", TEXTS[:50])
    assert list(iter_table(path)) == list(load_table(path))


def test_a_streamed_build_equals_a_build_from_the_whole_dataset(tiny_encoder, tmp_path):
    path = _write(tmp_path / "docs.jsonl", TEXTS[:60])
    whole = build_index(tmp_path / "whole", load_table(path), model=str(tiny_encoder), block_size=10_000)
    n, rows = stream_documents(path)
    streamed = build_index(tmp_path / "streamed", rows(), model=str(tiny_encoder), n_documents=n, block_size=7)
    assert n == 60 and len(streamed) == len(whole) == 60
    assert [streamed.get(i)["metadata"]["source_id"] for i in streamed.ids] == [f"d{i}" for i in range(60)]
    assert np.allclose(_matrix(streamed), _matrix(whole), atol=1e-5)
    assert VectorIndex.load(tmp_path / "streamed").recipe == "Flat"


def test_a_streamed_ivf_build_trains_on_a_full_sample_and_tunes_once_at_the_end(tiny_encoder, tmp_path):
    path = _write(tmp_path / "docs.jsonl", TEXTS)
    n, rows = stream_documents(path)
    index = build_index(tmp_path / "ivf", rows(), model=str(tiny_encoder), recipe="IVF8,Flat", n_documents=n,
                        block_size=100)
    assert len(index) == 1200 and index.is_trained
    assert index.tuning is not None and index.tuning["n_vectors"] == 1200, "tuned once, on the whole corpus"
    assert index.tuning["recall"] >= 0.95 and index.nprobe == index.tuning["value"]
    saved = VectorIndex.load(tmp_path / "ivf")
    assert saved.tuning == index.tuning and len(saved) == 1200


def test_a_bad_row_at_the_end_is_refused_before_anything_is_embedded(tiny_encoder, tmp_path, capsys):
    path = _write(tmp_path / "docs.jsonl", TEXTS[:30], extra=[{"id": "d3", "text": "again", "lang": "swh"}])
    with pytest.raises(DataError, match=r"docs\.jsonl:31: duplicate id 'd3'"):
        stream_documents(path)
    assert main(["index", "build", str(tmp_path / "idx"), "--from", str(path), "--model", str(tiny_encoder)]) == 3
    err = capsys.readouterr().err
    assert "duplicate id 'd3'" in err and "embedding" not in err
    assert not (tmp_path / "idx").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="empty.jsonl has no data rows"):
        stream_documents(empty)


def test_the_cli_build_streams_in_blocks_with_progress(tiny_encoder, tmp_path, capsys):
    path = _write(tmp_path / "docs.jsonl", TEXTS[:45])
    assert main(["index", "build", str(tmp_path / "idx"), "--from", str(path), "--model", str(tiny_encoder),
                 "--block-size", "10"]) == 0
    captured = capsys.readouterr()
    assert "45 entries from 45 documents" in captured.out
    assert "embedding" in captured.err and "45/45" in captured.err  # the bar counts documents, with an ETA
    assert len(VectorIndex.load(tmp_path / "idx")) == 45
    assert main(["index", "build", str(tmp_path / "x"), "--from", str(path), "--block-size", "0"]) == 2
    assert "--block-size must be >= 1" in capsys.readouterr().err
