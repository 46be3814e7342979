"""Indexes readers can trust: concurrent readers and writers, a manifest checked from outside, bad inputs refused.

Every data-at-risk case checks the sha256 of every file in the folder before and after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import ConfigError, DataError, IntegrityError
from polyglot_transfer.retrieval.embedder import HashEmbedder
from polyglot_transfer.retrieval.faiss_index import VectorIndex, add_to_saved_index
from polyglot_transfer.retrieval.hybrid import HybridRetriever

EMB = HashEmbedder(16)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _saved(folder: Path, n: int = 12) -> Path:
    texts = [f"document {i} about maize" for i in range(n)]
    langs = ["eng_Latn", "swh_Latn", "yor_Latn"]
    index = VectorIndex(EMB.dim, embedder_identity=EMB.identity)
    index.add(EMB.encode_passages(texts), texts, [{"lang": langs[i % 3], "topic": "farm"} for i in range(n)])
    index.save(folder)
    return folder


def _live(folder: Path) -> Path:
    return folder / (folder / "CURRENT").read_text().split()[0]


def _rewrite_manifest(folder: Path, edit, *, fix_current: bool) -> None:
    live = _live(folder)
    manifest = json.loads((live / "manifest.json").read_text())
    edit(manifest)
    text = json.dumps(manifest)
    (live / "manifest.json").write_text(text)
    if fix_current:  # a careful tamperer also updates the hash CURRENT names
        (folder / "CURRENT").write_text(f"{live.name} {hashlib.sha256(text.encode()).hexdigest()}\n")


# ------------------------------------------------------------------ readers during writers


def _writer_loop(folder: str, stop: str) -> None:
    emb = HashEmbedder(16)
    i = 0
    while not os.path.exists(stop):
        text = f"doc {i}"
        add_to_saved_index(folder, emb.encode_passages([text]), [text], [{"n": i}], expected_embedder=emb.identity)
        i += 1


def _reader_during_writer(tmp_path: Path, loads: int) -> None:
    folder = tmp_path / "idx"
    first = "doc start"
    VectorIndex(16, embedder_identity=EMB.identity).save(folder)
    add_to_saved_index(folder, EMB.encode_passages([first]), [first], [{"n": -1}], expected_embedder=EMB.identity)
    stop = tmp_path / "stop"
    proc = multiprocessing.get_context("spawn").Process(target=_writer_loop, args=(str(folder), str(stop)))
    proc.start()
    errors: list[str] = []
    sizes: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(VectorIndex.load(folder)) < 3:  # the writer process has started writing
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        while len(sizes) < loads:
            try:
                index = VectorIndex.load(folder, expected_embedder=EMB.identity)
            except Exception as exc:  # noqa: BLE001 - any error at all is a failure, counted
                errors.append(f"{type(exc).__name__}: {exc}")
                sizes.append(-1)
                continue
            n = len(index)
            # a whole version: ids 0..n-1, each document the text its writer gave it
            assert index.ids == list(range(n))
            assert index.get(0)["text"] == first
            assert all(index.get(i)["text"] == f"doc {i - 1}" for i in range(1, n))
            sizes.append(n)
    finally:
        stop.touch()
        proc.join(timeout=60)
    assert proc.exitcode == 0
    assert errors == [], f"{len(errors)} of {loads} loads failed, e.g. {errors[:3]}"
    assert sizes == sorted(sizes), "a reader went back to an older version"
    assert len(set(sizes)) > 20, f"the writer only published {len(set(sizes))} versions during the loads"
    print(f"{loads} loads, 0 errors, {len(set(sizes))} versions seen (sizes {sizes[0]}..{sizes[-1]})")


def test_10000_loads_during_a_writer_see_whole_versions_and_no_error(tmp_path):
    _reader_during_writer(tmp_path, 10_000)


@pytest.mark.slow
def test_50000_loads_during_a_writer(tmp_path):
    _reader_during_writer(tmp_path, 50_000)


def test_concurrent_searches_during_adds_are_all_correct(tmp_path):
    """8 search threads and one writer thread on one in-memory index; every hit is checked."""
    rng = np.random.default_rng(0)
    total, batch = 2_000, 50
    vectors = rng.standard_normal((total, 32)).astype(np.float32)
    index = VectorIndex(32)
    index.add(vectors[:batch], [f"doc {i}" for i in range(batch)], [{"i": i} for i in range(batch)])
    published = [batch]  # documents 0..published-1 are in the index
    failures: list[str] = []
    counts = [0] * 8
    done = threading.Event()

    def writer() -> None:
        for start in range(batch, total, batch):
            ids = index.add(vectors[start:start + batch], [f"doc {i}" for i in range(start, start + batch)],
                            [{"i": i} for i in range(start, start + batch)])
            assert ids == list(range(start, start + batch))
            published[0] = start + batch
            time.sleep(0.001)
        done.set()

    def searcher(t: int) -> None:
        local = np.random.default_rng(t)
        while not done.is_set() or counts[t] < 200:
            ids = local.integers(0, published[0], size=16)
            for j, hits in zip(ids, index.search(vectors[ids], 3)):
                if not hits or hits[0].id != j or hits[0].text != f"doc {j}" or hits[0].metadata != {"i": int(j)}:
                    failures.append(f"query {j}: {hits[:1]}")
            where = {"i": [int(x) for x in ids[:4]]}
            for hits in index.search(vectors[ids[:4]], 2, where=where):
                if any(h.metadata["i"] not in where["i"] for h in hits):
                    failures.append(f"filter leaked: {hits}")
            counts[t] += 16

    threads = [threading.Thread(target=searcher, args=(t,)) for t in range(8)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    writer()
    for th in threads:
        th.join(timeout=120)
    elapsed = time.perf_counter() - t0
    assert failures == [], failures[:5]
    assert len(index) == total and sum(counts) >= 8 * 200
    print(f"{sum(counts)} searches from 8 threads during {total - batch} adds: {sum(counts) / elapsed:.0f} queries/s, "
          "every top hit correct")


# ------------------------------------------------------------------ the manifest, checked from outside


def test_a_manifest_edited_without_current_is_refused(tmp_path):
    folder = _saved(tmp_path / "idx")
    _rewrite_manifest(folder, lambda m: m.update(count=999), fix_current=False)
    with pytest.raises(IntegrityError, match=r"manifest.json does not match the sha256 that .*CURRENT names"):
        VectorIndex.load(folder)


def test_empty_files_do_not_certify_a_tampered_docstore(tmp_path):
    folder = _saved(tmp_path / "idx")
    docstore = _live(folder) / "docstore.jsonl"
    docstore.write_text(docstore.read_text().replace("document 3", "document X"))
    _rewrite_manifest(folder, lambda m: m.update(files={}), fix_current=True)
    with pytest.raises(IntegrityError, match=r"lists files \[\]; an index manifest must list the sha256 of"):
        VectorIndex.load(folder)
    with pytest.raises(IntegrityError, match="must list the sha256"):
        from polyglot_transfer.retrieval.index_ops import index_info

        index_info(folder)


@pytest.mark.parametrize("key", ["next_id", "dim", "embedder", "files"])
def test_a_missing_manifest_key_names_the_key(tmp_path, key):
    folder = _saved(tmp_path / "idx")
    _rewrite_manifest(folder, lambda m: m.pop(key), fix_current=True)
    with pytest.raises(IntegrityError, match=rf"manifest.json lacks the key\(s\) \['{key}'\]"):
        VectorIndex.load(folder)


def test_a_current_without_the_manifest_hash_is_refused_for_format_3(tmp_path):
    folder = _saved(tmp_path / "idx")
    (folder / "CURRENT").write_text(_live(folder).name + "\n")
    with pytest.raises(IntegrityError, match="does not name the sha256 of"):
        VectorIndex.load(folder)


@pytest.mark.parametrize("name", ["../elsewhere", "/etc", "v-1/../../x", "v-1 abc", "", "v-1 " + "0" * 64 + " extra"])
def test_current_must_name_a_version_inside_the_folder(tmp_path, name):
    folder = _saved(tmp_path / "idx")
    (folder / "CURRENT").write_text(name + "\n")
    with pytest.raises(IntegrityError, match="CURRENT"):
        VectorIndex.load(folder)


def test_current_naming_a_symlink_out_of_the_folder_is_refused(tmp_path, capsys):
    outside = _saved(tmp_path / "outside")
    folder = _saved(tmp_path / "idx")
    live = _live(outside)
    (folder / "v-9").symlink_to(live, target_is_directory=True)
    digest = hashlib.sha256((live / "manifest.json").read_bytes()).hexdigest()
    (folder / "CURRENT").write_text(f"v-9 {digest}\n")
    with pytest.raises(IntegrityError, match="names version 'v-9', which is not a folder inside"):
        VectorIndex.load(folder)
    assert main(["index", "info", str(folder)]) != 0
    err = capsys.readouterr().err
    assert "names version 'v-9', which is not a folder inside" in err and "Traceback" not in err


# ------------------------------------------------------------------ writes that would lose data


def test_adding_to_a_folder_with_versions_but_no_current_refuses_and_changes_nothing(tmp_path, capsys):
    folder = _saved(tmp_path / "idx")
    (folder / "CURRENT").unlink()
    before = _hashes(folder)
    vec = EMB.encode_passages(["new"])
    with pytest.raises(IntegrityError, match=r"Refusing to add to .*idx: it holds an index layout \(\['v-"):
        add_to_saved_index(folder, vec, ["new"], expected_embedder=EMB.identity)
    with pytest.raises(IntegrityError, match="Refusing to save into"):
        VectorIndex(16).save(folder)
    with pytest.raises(IntegrityError, match="Refusing to read"):
        VectorIndex.load(folder)
    assert main(["index", "add", str(folder), "--from", str(tmp_path / "unused.jsonl")]) != 0
    assert main(["index", "info", str(folder)]) != 0
    err = capsys.readouterr().err
    assert "no CURRENT file" in err and "Traceback" not in err
    assert _hashes(folder) == before


def test_vectors_of_another_embedder_are_refused_through_the_api(tmp_path):
    folder = _saved(tmp_path / "idx")
    before = _hashes(folder)
    other = HashEmbedder(16, ngram=4)  # same dimension, different model
    vec = other.encode_passages(["x"])
    with pytest.raises(IntegrityError, match="built with embedder 'hash-ngram-3'.*you are using it with 'hash-ngram-4'"):
        add_to_saved_index(folder, vec, ["x"], expected_embedder=other.identity)
    with pytest.raises(ConfigError, match="pass expected_embedder="):
        add_to_saved_index(folder, vec, ["x"])
    wide = HashEmbedder(24)
    with pytest.raises(IntegrityError, match="built with embedder"):
        add_to_saved_index(folder, wide.encode_passages(["x"]), ["x"], expected_embedder=wide.identity)
    with pytest.raises(DataError, match=r"Expected vectors of shape \(n, 16\) from embedder 'hash-ngram-3'. Got \(1, 24\)"):
        add_to_saved_index(folder, wide.encode_passages(["x"]), ["x"], expected_embedder=EMB.identity)
    index = VectorIndex.load(folder)
    with pytest.raises(IntegrityError, match="Vectors from different embedders are not comparable"):
        index.add(vec, ["x"], embedder=other.identity)
    assert _hashes(folder) == before
    add_to_saved_index(folder, EMB.encode_passages(["fine"]), ["fine"], expected_embedder=EMB.identity)
    assert len(VectorIndex.load(folder)) == 13


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    path = tmp_path / "idx"
    path.write_text("not a folder")
    with pytest.raises(DataError, match="is a file, not an index folder"):
        add_to_saved_index(path, EMB.encode_passages(["x"]), ["x"], expected_embedder=EMB.identity)
    assert path.read_text() == "not a folder"


# ------------------------------------------------------------------ filters and queries


def test_filters_resolve_language_aliases_and_refuse_unknown_keys(tmp_path, caplog):
    index = VectorIndex.load(_saved(tmp_path / "idx"))
    q = EMB.encode_queries(["maize"])
    for alias in ("eng", "en", "English", "eng_Latn"):
        hits = index.search(q, 20, where={"lang": alias})[0]
        assert len(hits) == 4 and {h.metadata["lang"] for h in hits} == {"eng_Latn"}, alias
    hits = index.search(q, 20, where={"lang": ["swa", "yo"]})[0]
    assert {h.metadata["lang"] for h in hits} == {"swh_Latn", "yor_Latn"} and len(hits) == 8
    with pytest.raises(ConfigError, match=r"Unknown metadata key\(s\) \['lnag'\].*Did you mean 'lang'.*\['lang', 'topic'\]"):
        index.search(q, 3, where={"lnag": "eng"})
    with caplog.at_level(logging.WARNING):
        assert index.search(q, 3, where={"lang": "fra"})[0] == []
    assert "No document has lang='fra'" in caplog.text and "eng_Latn" in caplog.text
    retriever = HybridRetriever(index=index, embedder=EMB, mode="bm25", k=5)
    docs = retriever.retrieve_batch(["maize document"], where={"lang": "sw"})[0]
    assert docs and {d.metadata["lang"] for d in docs} == {"swh_Latn"}
    with pytest.raises(ConfigError, match=r"Unknown metadata key\(s\) \['langg'\]"):
        retriever.retrieve_batch(["maize"], where={"langg": "sw"})


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_a_blank_query_is_refused(tmp_path, query):
    index = VectorIndex.load(_saved(tmp_path / "idx"))
    for mode in ("dense", "bm25", "hybrid_rrf"):
        with pytest.raises(ConfigError, match=r"Query 0 is blank"):
            HybridRetriever(index=index, embedder=EMB, mode=mode, k=3).retrieve_batch([query])


@pytest.mark.parametrize("recipe", ["Flat", "HNSW32", "IVF8,Flat"])
def test_search_arrays_returns_what_search_returns(recipe):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    index = VectorIndex(16, recipe=recipe)
    index.add(vectors, [f"d{i}" for i in range(400)])
    index.delete([5, 9])
    index.add(vectors[:3], ["again"] * 3)
    queries = vectors[[1, 5, 77]]
    scores, ids = index.search_arrays(queries, 5)
    rows = index.search(queries, 5)
    assert ids.tolist() == [[h.id for h in row] for row in rows]
    assert np.allclose(scores, [[h.score for h in row] for row in rows], atol=1e-5)
    fresh = VectorIndex(16, recipe=recipe)
    fresh.add(vectors, [""] * 400)
    s2, i2 = fresh.search_arrays(queries, 5)
    assert i2.tolist() == [[h.id for h in row] for row in fresh.search(queries, 5)]
    small = VectorIndex(16)
    small.add(vectors[:3], [""] * 3)
    _, padded = small.search_arrays(queries[:1], 5)
    assert padded.shape == (1, 5) and padded[0, 3:].tolist() == [-1, -1]
