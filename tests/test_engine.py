"""The fine-tuning engine: one validation path for strategy configs, declarations over one engine,
adapter-only checkpoints, and an engine strategy composed with another task (LoRA x token classification)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.adapt import STRATEGIES, build_strategy, load_strategy
from polyglot_transfer.adapt.base import config_from_dict, validate_params
from polyglot_transfer.adapt.engine import TunedStrategy, peft_config
from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import ConfigError

POS = ["good", "great", "happy", "nice", "lovely", "bright"]
NEG = ["bad", "awful", "sad", "nasty", "ugly", "dark"]


def toy() -> TextDataset:
    rows = [make_example(f"p{i}", f"{POS[i]} {POS[(i + 2) % 6]}", "pos", "eng") for i in range(6)]
    rows += [make_example(f"n{i}", f"{NEG[i]} {NEG[(i + 2) % 6]}", "neg", "eng") for i in range(6)]
    return TextDataset(rows, name="toy")


def test_every_problem_is_reported_at_once_with_its_dotted_path() -> None:
    cls = STRATEGIES.get("lora").config_class
    params = {"epochs": -1, "learning_rate": -1, "r": 0, "dropout": 1.5, "init_head": "random"}
    problems = validate_params(cls, params, "setups.lora.adapt")
    assert problems == [
        "setups.lora.adapt.r must be an int >= 1. Got 0 instead.",
        "setups.lora.adapt.dropout must be a number in [0, 1). Got 1.5 instead.",
        "setups.lora.adapt.epochs must be an int >= 1. Got -1 instead.",
        "setups.lora.adapt.learning_rate must be a number > 0. Got -1 instead.",
        "setups.lora.adapt.init_head must be one of 'probe', 'zeros'. Got 'random' instead.",
    ]
    with pytest.raises(ConfigError, match=r"5 problem\(s\) in setups.lora.adapt:\n- setups.lora.adapt.r must be"):
        config_from_dict(cls, params, "setups.lora.adapt")
    assert validate_params(cls, {"r": 4}, "x") == []
    # rules across fields and nested strategies are part of the same path
    assert validate_params(STRATEGIES.get("multi_source").config_class,
                           {"sources": {"eng": 1}, "base": {"strategy": "lora", "epochs": 0}}, "ms") == [
        "ms.base.epochs must be an int >= 1. Got 0 instead."]
    assert validate_params(STRATEGIES.get("continued_pretraining").config_class,
                           {"task_strategy": "lora", "task_params": {"r": 0}}, "cpt") == [
        "cpt.task_params.r must be an int >= 1. Got 0 instead."]
    assert validate_params(STRATEGIES.get("zero_shot").config_class, {"temperature": 0}, "z") == [
        "z.temperature must be a number > 0. Got 0 instead."]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ranges_are_declared_on_every_training_config(name: str) -> None:
    cls = STRATEGIES.get(name).config_class
    fields = set(cls.__dataclass_fields__)
    for key, bad in (("epochs", 0), ("learning_rate", 0), ("lr", 0), ("batch_size", 0), ("r", 0), ("dropout", 1.0)):
        if key in fields:
            assert any(p.startswith(f"{name}.{key} must be") for p in validate_params(cls, {key: bad}, name)), key


def test_strategies_are_declarations_not_subclasses_of_each_other() -> None:
    classes = {STRATEGIES.get(n) for n in STRATEGIES}
    for cls in classes:
        inherited = [base.__name__ for base in cls.__mro__[1:] if base in classes]
        assert not inherited, f"{cls.__name__} inherits the concrete strategy {inherited}"
    lora, peft = STRATEGIES.get("lora"), STRATEGIES.get("peft")
    assert issubclass(lora, TunedStrategy) and issubclass(peft, TunedStrategy)
    # one LoRA path: both names end in the same PEFT config
    a = peft_config("lora", None, config_from_dict(lora.config_class, {"r": 4}, "lora"))
    b = peft_config("lora", None, config_from_dict(peft.config_class, {"r": 4, "target_modules": ["query", "value"]},
                                                   "peft"))
    assert a.to_dict() == b.to_dict()


def test_lora_checkpoints_hold_adapter_weights_only(tiny_encoder: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    strategy = build_strategy("lora", {"epochs": 2, "batch_size": 4}, tiny_encoder, seed=0)
    strategy.checkpoint_dir = tmp_path / "ckpt"
    strategy.fit(toy())
    [checkpoint] = list((tmp_path / "ckpt").glob("checkpoint-*"))
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    trainable = {n for n, p in strategy.model_.named_parameters() if p.requires_grad}
    assert set(keys) == trainable and all("lora_" in k or k.startswith("head.") for k in keys)
    total = sum(p.numel() for p in strategy.model_.parameters())
    assert strategy.trainable_parameters() == (sum(p.numel() for n, p in strategy.model_.named_parameters()
                                                   if n in trainable), total)


def test_lora_composes_with_token_classification(tiny_encoder: Path, tmp_path: Path) -> None:
    from polyglot_transfer.data.conll import TokenDataset, TokenSentence

    places, others = ["Nairobi", "Lagos", "Accra", "Dakar"], ["the", "a", "in", "to", "we", "went"]
    data = TokenDataset([TokenSentence(id=f"s{i}", tokens=[others[i % 6], places[i % 4], others[(i + 1) % 6]],
                                       tags=["O", "B-LOC", "O"], lang="eng_Latn") for i in range(16)], name="toy")
    strategy = build_strategy("lora", {"epochs": 8, "learning_rate": 1e-2, "batch_size": 4, "init_head": "zeros"},
                              tiny_encoder, seed=0).fit(data)
    assert strategy.task == "token_classification" and strategy.labels_ == ["B-LOC", "O"]
    tags = strategy.predict(data)
    assert np.mean([p == g for ps, gs in zip(tags, data.tags) for p, g in zip(ps, gs)]) >= 0.75
    folder = strategy.save(tmp_path / "ner")
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    loaded = load_strategy(folder)
    assert loaded.task == "token_classification"
    for a, b in zip(loaded.predict_proba(data), strategy.predict_proba(data)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_training_logs_progress_with_an_eta(tiny_encoder: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A long fit shows signs of life in piped logs: step, epoch, loss and ETA about every tenth of the run."""
    import logging

    caplog.set_level(logging.INFO, logger="polyglot_transfer")
    strategy = build_strategy("lora", {"epochs": 3, "batch_size": 2}, tiny_encoder, seed=0)
    strategy.fit(toy())
    lines = [r.getMessage() for r in caplog.records if "lora training: step" in r.getMessage()]
    assert len(lines) >= 5, lines  # 18 steps: one line about every 10%, then the final one
    assert "ETA" in lines[0] and "epoch" in lines[0]
    assert lines[-1].startswith("lora training: step 18/18 (100%)") and "done in" in lines[-1], lines[-1]
    assert any("loss" in line for line in lines[1:]), lines
