"""Worker for tests/test_distributed.py: fit the `lora` strategy on a toy task and write rank 0's results as JSON.

Run alone (one process) or under `torchrun --nproc_per_node N`; the Trainer inside the strategy picks up the
torch.distributed environment (gloo on CPU) by itself. Usage: _dist_worker.py MODEL_DIR OUT_JSON PER_DEVICE_BATCH
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from polyglot_transfer.adapt import build_strategy  # noqa: E402
from polyglot_transfer.data.dataset import TextDataset, make_example  # noqa: E402

POS = ["good", "great", "happy", "nice", "lovely", "bright", "kind", "warm"]
NEG = ["bad", "awful", "sad", "nasty", "ugly", "dark", "cruel", "cold"]


def toy() -> TextDataset:
    rows = []
    for i in range(8):
        rows.append(make_example(f"p{i}", f"{POS[i]} {POS[(i + 3) % 8]} day", "pos", "eng"))
        rows.append(make_example(f"n{i}", f"{NEG[i]} {NEG[(i + 3) % 8]} day", "neg", "eng"))
    return TextDataset(rows, name="toy")


def main(model_dir: str, out: str, per_device_batch: int) -> None:
    torch.set_num_threads(1)
    train = toy()
    strategy = build_strategy("lora", {
        "epochs": 3, "batch_size": per_device_batch, "learning_rate": 1e-2, "dropout": 0.0,
        "init_head": "zeros", "warmup_ratio": 0.0,
    }, model_dir, seed=0)
    strategy.fit(train)
    rank = int(os.environ.get("RANK", "0"))
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    if rank == 0:
        lora = {n: p.detach().tolist() for n, p in strategy.model_.named_parameters() if "lora_B" in n}
        with open(out, "w") as f:
            json.dump({
                "world_size": world,
                "probs": strategy.predict_proba(train.texts).tolist(),
                "head": strategy.model_.head.weight.detach().tolist(),
                "lora_B": lora,
                "loss": strategy.train_loss_,
            }, f)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
