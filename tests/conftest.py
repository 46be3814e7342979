"""Shared fixtures: offline and hermetic, tiny models built from config, the real model where provisioned."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"
DEFAULT_MODEL = "intfloat/multilingual-e5-small"


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def e5_path() -> Path:
    """The real default model, provisioned by `make test` (pgt models pull); skipped when absent."""
    from polyglot_transfer.models.provision import is_provisioned, model_path

    if not is_provisioned(DEFAULT_MODEL):
        pytest.skip(f"{DEFAULT_MODEL} is not provisioned: run `make test` or `pgt models pull {DEFAULT_MODEL}`.")
    return model_path(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def tiny_encoder(e5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim random BERT with the real XLM-R tokenizer (and e5 prompts)."""
    from polyglot_transfer.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"), e5_path)


@pytest.fixture(scope="session")
def nusax_root() -> Path:
    root = SHARED_CORPORA / "nusax"
    if not root.is_dir():
        pytest.skip(f"NusaX is not available at {root} (the shared corpora folder is absent).")
    return root
