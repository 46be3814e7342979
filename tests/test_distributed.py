"""Data-parallel training on CPU: `torchrun --nproc_per_node 2` (gloo) gives the same LoRA model as one process.

Both runs see the same global batch (8 = 2 processes x 4, or 1 x 8), the same seeded sample order and a
dropout-free tiny encoder, so DDP's averaged gradients equal the single-process ones up to float
summation order. The worker (tests/_dist_worker.py) goes through the `lora` strategy's Trainer path
unchanged: nothing in the strategy knows it is distributed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_dist_worker.py")


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.provision import is_provisioned, model_path
    from polyglot_transfer.models.tiny import build_tiny_encoder

    name = "sentence-transformers/all-MiniLM-L6-v2"
    if not is_provisioned(name):
        pytest.skip(f"{name} is not provisioned (its tokenizer is reused): run `pgt models pull {name}`.")
    out = build_tiny_encoder(tmp_path_factory.mktemp("dist-encoder"), model_path(name))
    config = json.loads((out / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (out / "config.json").write_text(json.dumps(config))
    return out


def _run(args: list[str], timeout: float) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"


def test_two_process_ddp_matches_one_process(dropout_free_encoder: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _run([sys.executable, str(WORKER), str(dropout_free_encoder), str(one), "8"], timeout=120)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          str(WORKER), str(dropout_free_encoder), str(two), "4"], timeout=120)
    single, ddp = json.loads(one.read_text()), json.loads(two.read_text())
    assert (single["world_size"], ddp["world_size"]) == (1, 2)
    assert len(single["loss"]) == 3 and single["loss"][-1] < single["loss"][0]
    np.testing.assert_allclose(ddp["loss"], single["loss"], rtol=1e-4)
    np.testing.assert_allclose(ddp["head"], single["head"], atol=1e-5)
    assert ddp["lora_B"].keys() == single["lora_B"].keys() and single["lora_B"]
    for name in single["lora_B"]:
        np.testing.assert_allclose(ddp["lora_B"][name], single["lora_B"][name], atol=1e-5, err_msg=name)
    assert np.abs(np.array(single["lora_B"][next(iter(single["lora_B"]))])).max() > 0, "LoRA B never trained"
    np.testing.assert_allclose(ddp["probs"], single["probs"], atol=1e-5)
