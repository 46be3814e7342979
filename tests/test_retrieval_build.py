"""`pgt index build` embeds in blocks with a disk cache (an interrupted build resumes) and on a process pool."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyglot_transfer.cli.main import main
from polyglot_transfer.retrieval.embedder import Embedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex
from polyglot_transfer.retrieval.index_ops import build_index, load_documents

TEXTS = [f"Hati ya {i}: wakulima wa kijiji {i % 7} wanapanda mahindi na maharage." for i in range(40)]


def _cached_keys(cache_dir) -> list[str]:
    (folder,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    index = json.loads((folder / "index.json").read_text())
    return [k for shard in index["shards"].values() for k in shard["keys"]]


def test_a_build_run_again_after_an_interruption_embeds_only_what_is_missing(tiny_encoder, tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    half = tmp_path / "half.jsonl"
    rows = [{"id": f"d{i}", "text": t, "lang": "swh"} for i, t in enumerate(TEXTS)]
    docs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    half.write_text("\n".join(json.dumps(r) for r in rows[:25]) + "\n")  # what a killed build had embedded
    cache = tmp_path / "emb-cache"
    assert main(["index", "build", str(tmp_path / "a"), "--from", str(half), "--model", str(tiny_encoder),
                 "--cache-dir", str(cache)]) == 0
    assert len(_cached_keys(cache)) == 25
    assert main(["index", "build", str(tmp_path / "b"), "--from", str(docs), "--model", str(tiny_encoder),
                 "--cache-dir", str(cache)]) == 0
    err = capsys.readouterr().err
    assert "embedding" in err and "passage" in err  # the progress bar
    keys = _cached_keys(cache)
    assert len(keys) == 40 == len(set(keys)), "the 25 cached passages were embedded again"
    cached = VectorIndex.load(tmp_path / "b")
    plain = Embedder(tiny_encoder).encode_passages(TEXTS)
    got = np.stack([cached.vector(i) for i in cached.ids])
    assert np.allclose(got, plain, atol=1e-5)
    assert main(["index", "build", str(tmp_path / "c"), "--from", str(docs), "--processes", "0"]) == 2
    assert "--processes must be >= 1" in capsys.readouterr().err


@pytest.mark.slow  # two spawned processes each load torch: about a minute on two shared cores
def test_a_process_pool_embeds_the_same_vectors(tiny_encoder, tmp_path):
    data = load_documents(_write(tmp_path, TEXTS), lang="swh")
    pooled = build_index(tmp_path / "pool", data, model=str(tiny_encoder), processes=2, batch_size=4)
    single = build_index(tmp_path / "one", data, model=str(tiny_encoder), batch_size=4)
    a = np.stack([pooled.vector(i) for i in pooled.ids])
    b = np.stack([single.vector(i) for i in single.ids])
    assert a.shape == (40, single.dim) and np.allclose(a, b, atol=1e-4)


def _write(tmp_path, texts):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(texts)) + "\n")
    return path
