"""Integration: the real default model (multilingual-e5-small) learns entities on real MasakhaNER sentences
with the token_classification defaults of `full` and `lora` (the methods that used to predict only 'O').

Kept small: 48 short Nigerian Pidgin training sentences, 32 test sentences, 1 torch thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from polyglot_transfer.adapt import build_strategy
from polyglot_transfer.data.conll import TokenDataset, load_conll
from polyglot_transfer.measure.ner import entity_scores
from tests.conftest import SHARED_CORPORA

pytestmark = pytest.mark.integration


def _short(path: Path, n: int) -> TokenDataset:
    ds = load_conll(path, "pcm")
    keep = [s for s in ds if 6 <= len(s.tokens) <= 20 and any(t != "O" for t in s.tags)][:n]
    return TokenDataset(keep, name=f"{path.stem}-short{n}")


@pytest.mark.parametrize("method", ["full", "lora"])
def test_real_model_learns_entities_with_the_defaults(e5_path, method):
    root = Path(os.environ.get("PGT_CORPORA_DIR") or SHARED_CORPORA) / "masakhaner" / "data" / "pcm"
    if not root.is_dir():
        pytest.skip(f"MasakhaNER is not available at {root} (the shared corpora folder is absent).")
    torch.set_num_threads(1)
    train, test = _short(root / "train.txt", 48), _short(root / "test.txt", 32)
    # the method's own learning rate and schedule; only the step budget is cut for the test's time
    strategy = build_strategy("token_classification", {"method": method, "min_steps": 36, "batch_size": 8},
                              "intfloat/multilingual-e5-small").fit(train)
    pred = strategy.predict(test.tokens)
    assert any(t != "O" for p in pred for t in p), "predicted only 'O'"
    scores = entity_scores(test.tags, pred)
    assert scores["f1"] > 0.05, scores
