"""Behaviour of zero_shot, full, peft, few_shot, multi_source and the forgetting tools (beyond conformance)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyglot_transfer.adapt import build_strategy, load_strategy
from polyglot_transfer.adapt.few_shot import make_pairs
from polyglot_transfer.adapt.forgetting import (
    EWCPenalty,
    ForgettingResult,
    L2SPPenalty,
    fisher_diagonal,
    linear_probe_score,
    measure_forgetting,
    mix_replay,
    strategy_features,
)
from polyglot_transfer.adapt.multi_source import sample_mixture
from polyglot_transfer.adapt.peft_methods import qlora_available
from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError
from polyglot_transfer.retrieval.embedder import HashEmbedder

ANIMALS = ["cow", "goat", "sheep", "donkey", "chicken", "camel"]
CROPS = ["maize", "beans", "cassava", "rice", "sorghum", "millet"]


def toy(lang: str = "eng", n: int = 6, prefix: str = "") -> TextDataset:
    rows = []
    for label, words in (("animals", ANIMALS), ("crops", CROPS)):
        for i in range(n):
            text = f"{words[i % 6]} {words[(i + 2) % 6]}"
            rows.append(make_example(f"{prefix}{lang}-{label}-{i}", text, label, lang))
    return TextDataset(rows, name=f"toy-{lang}")


@pytest.fixture(scope="module")
def tiny_embedder(tiny_encoder: Path):
    from polyglot_transfer.retrieval.embedder import Embedder

    return Embedder(tiny_encoder)


# --------------------------------------------------------------------------- zero_shot


def test_zero_shot_only_records_labels_and_scores_by_similarity() -> None:
    emb = HashEmbedder(dim=256)
    config = {"label_descriptions": {"animals": "cow goat sheep donkey", "crops": "maize beans rice millet"},
              "template": "{label}"}
    strategy = build_strategy("zero_shot", config, "hash", embedder=emb)
    assert strategy.fit(toy()) is strategy
    assert strategy.labels_ == ["animals", "crops"]
    assert strategy.label_sentences() == ["cow goat sheep donkey", "maize beans rice millet"]
    assert strategy.predict(["goat and sheep", "rice with beans"]) == ["animals", "crops"]
    assert strategy.trainable_parameters() == (0, 0)
    # nothing is learned: fitting on other data with the same labels changes no prediction
    other = build_strategy("zero_shot", config, "hash", embedder=emb).fit(toy("ind", n=2))
    np.testing.assert_array_equal(other.predict_proba(["goat", "rice"]), strategy.predict_proba(["goat", "rice"]))


def test_zero_shot_label_set_from_config_or_data() -> None:
    emb = HashEmbedder()
    from_data = build_strategy("zero_shot", {}, "hash", embedder=emb).fit(toy())
    assert from_data.label_sentences() == ["This message is about animals.", "This message is about crops."]
    unlabelled = TextDataset([make_example(1, "goat", None, "eng")])
    described = build_strategy("zero_shot", {"label_descriptions": {"a": "x", "b": "y"}}, "hash", embedder=emb)
    assert described.fit(unlabelled).labels_ == ["a", "b"]
    with pytest.raises(DataError, match=r"label\(s\) \['crops'\] without a description"):
        build_strategy("zero_shot", {"label_descriptions": {"animals": "x", "fish": "y"}}, "hash",
                       embedder=emb).fit(toy())
    with pytest.raises(DataError, match="at least 2 labels"):
        build_strategy("zero_shot", {}, "hash", embedder=emb).fit(unlabelled)
    with pytest.raises(ConfigError, match=r"template must contain '\{label\}'"):
        build_strategy("zero_shot", {"template": "about {name}"}, "hash", embedder=emb).fit(toy())


# --------------------------------------------------------------------------- full + mitigations


def _encoder_distance(strategy, reference) -> float:
    start = dict(reference.named_parameters())
    moved = strategy.model_.encoder.named_parameters()
    return float(sum(((p.detach() - start[n].detach()) ** 2).sum() for n, p in moved))


def test_l2sp_keeps_weights_closer_to_pretrained(tiny_encoder: Path, tiny_embedder) -> None:
    from transformers import AutoModel

    reference = AutoModel.from_pretrained(str(tiny_encoder), add_pooling_layer=False)
    # SGD: the penalty contracts the distance by (1 - lr * lambda) = 0.5 per step; without it steps accumulate
    common = {"epochs": 3, "learning_rate": 0.05, "batch_size": 4, "warmup_ratio": 0.0, "optim": "sgd",
              "weight_decay": 0.0}
    free = build_strategy("full", common, tiny_encoder, embedder=tiny_embedder).fit(toy())
    pulled = build_strategy("full", {**common, "regularizer": "l2sp", "reg_lambda": 10.0}, tiny_encoder,
                            embedder=tiny_embedder).fit(toy())
    d_free, d_pulled = _encoder_distance(free, reference), _encoder_distance(pulled, reference)
    assert d_pulled < 0.5 * d_free, f"L2-SP moved the weights {d_pulled:.3e} vs {d_free:.3e} without it"
    assert pulled.penalty_log_[0] == 0.0 and max(pulled.penalty_log_) > 0
    assert free.penalty_log_ == []


def test_ewc_penalty_zero_at_start_positive_after_a_step(tiny_encoder: Path, tiny_embedder) -> None:
    import torch

    from polyglot_transfer.adapt.engine import fisher_examples, init_head_from_probe, tokenize

    strategy = build_strategy("full", {}, tiny_encoder, embedder=tiny_embedder)
    strategy.labels_ = ["animals", "crops"]
    strategy.model_ = model = strategy._build()
    init_head_from_probe(strategy, tokenize(strategy, toy().texts), [0] * 6 + [1] * 6)  # a zero head gives F = 0
    fisher = fisher_diagonal(model, fisher_examples(strategy, toy(), strategy.labels_)())
    assert all(torch.all(f >= 0) for f in fisher.values())
    assert sum(float(f.sum()) for f in fisher.values()) > 0, "the Fisher information must not be all zeros"
    assert not any(n.startswith("head.") for n in fisher), "the head is not anchored"
    penalty = EWCPenalty(model, 100.0, fisher)
    assert penalty(model).item() == 0.0
    enc = strategy.tokenizer_([strategy.prompt_ + t for t in toy().texts], padding=True, return_tensors="pt")
    out = model(enc["input_ids"], enc["attention_mask"], labels=torch.tensor([0] * 6 + [1] * 6))
    out["loss"].backward()
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    assert penalty(model).item() > 0
    l2sp = L2SPPenalty(model, 1.0)
    assert l2sp(model).item() == 0.0


def test_ewc_through_the_trainer(tiny_encoder: Path, tiny_embedder) -> None:
    source = toy("ind", prefix="src-")
    strategy = build_strategy("full", {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "regularizer": "ewc",
                                       "reg_lambda": 1e3, "ewc_samples": 4}, tiny_encoder, embedder=tiny_embedder)
    strategy.fit(toy(), source=source)
    assert len(strategy.penalty_log_) == 3  # one per step
    assert strategy.penalty_log_[0] == 0.0 and strategy.penalty_log_[-1] > 0


def test_replay_mixes_source_examples(tiny_encoder: Path, tiny_embedder) -> None:
    train, source = toy(n=5), toy("ind", n=10)
    mixed = mix_replay(train, source, 0.5, seed=1)
    assert len(mixed) == 20 and sum(e.lang == "ind_Latn" for e in mixed) == 10
    assert mixed.ids == mix_replay(train, source, 0.5, seed=1).ids
    assert mix_replay(train, source, 0.0) is train
    with pytest.raises(ConfigError, match=r"replay must be a number in \[0, 1\)"):
        mix_replay(train, source, 1.0)
    with pytest.raises(DataError, match=r"labels \['other'\] that the training set"):
        mix_replay(train, TextDataset([make_example("o", "x", "other", "ind")]), 0.3)
    strategy = build_strategy("full", {"epochs": 1, "replay": 0.5}, tiny_encoder, embedder=tiny_embedder)
    with pytest.raises(ConfigError, match=r"replay=0.5 needs source-language examples"):
        strategy.fit(train)
    strategy.fit(train, source=source)
    assert strategy.n_train_ == 20


def test_full_config_errors(tiny_encoder: Path) -> None:
    # refused when the strategy is built, before any model loads
    with pytest.raises(ConfigError, match=r"full.regularizer must be one of 'none', 'ewc', 'l2sp'\. Got 'ewx'"):
        build_strategy("full", {"regularizer": "ewx"}, tiny_encoder)
    with pytest.raises(ConfigError, match="full.init_head must be one of 'probe', 'zeros'"):
        build_strategy("full", {"init_head": "random"}, tiny_encoder)
    with pytest.raises(ConfigError, match="regularizer='ewc' needs init_head='probe'"):
        build_strategy("full", {"init_head": "zeros", "regularizer": "ewc"}, tiny_encoder)


def test_unsupported_family_raises_before_training(e5_path: Path, tmp_path: Path) -> None:
    from polyglot_transfer.models.tiny import build_tiny_decoder

    decoder = build_tiny_decoder(tmp_path / "dec", e5_path)
    for name in ("full", "peft", "few_shot"):
        with pytest.raises(UnsupportedError, match=r"'classification'.*\] with \['encoder'\] models.* decoder model"):
            build_strategy(name, {}, decoder).fit(toy())


# --------------------------------------------------------------------------- peft


@pytest.mark.parametrize(("method", "peft_type"), [("dora", "LORA"), ("ia3", "IA3"), ("prefix", "PREFIX_TUNING")])
def test_peft_methods_fit_save_reload(method: str, peft_type: str, tiny_encoder: Path, tiny_embedder,
                                      tmp_path: Path) -> None:
    strategy = build_strategy("peft", {"method": method, "epochs": 1, "batch_size": 8, "num_virtual_tokens": 4},
                              tiny_encoder, embedder=tiny_embedder).fit(toy())
    trainable, total = strategy.trainable_parameters()
    assert trainable == strategy.peft_trainable_parameters() + (32 + 1) * 2
    assert 0 < trainable < total / 100
    folder = strategy.save(tmp_path / method)
    config = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == peft_type
    assert config.get("use_dora", False) == (method == "dora")
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() and (folder / "head.safetensors").is_file()
    texts = ["goat rice", "camel", "millet beans"]
    np.testing.assert_allclose(load_strategy(folder).predict_proba(texts), strategy.predict_proba(texts), atol=1e-6)


@pytest.mark.skipif(qlora_available()[0], reason="bitsandbytes and CUDA are available here")
def test_qlora_refused_without_bitsandbytes_and_cuda(tiny_encoder: Path) -> None:
    with pytest.raises(UnsupportedError, match="QLoRA needs bitsandbytes and a CUDA device; .* Use method='lora'"):
        build_strategy("peft", {"method": "qlora"}, tiny_encoder).fit(toy())


def test_peft_config_errors(tiny_encoder: Path) -> None:
    with pytest.raises(ConfigError, match=r"peft.method must be one of 'lora', 'dora', 'ia3', 'prefix', 'qlora'\. Got 'dorra'"):
        build_strategy("peft", {"method": "dorra"}, tiny_encoder)
    with pytest.raises(ConfigError, match="feedforward_modules only applies to method 'ia3'"):
        build_strategy("peft", {"feedforward_modules": ["output.dense"]}, tiny_encoder)
    with pytest.raises(UnsupportedError, match="PEFT could not apply method 'lora'"):
        build_strategy("peft", {"target_modules": ["no_such_layer"], "epochs": 1}, tiny_encoder).fit(toy())


# --------------------------------------------------------------------------- few_shot


def test_make_pairs_balanced_seeded_and_labelled() -> None:
    data = toy()
    pairs = make_pairs(data.texts, data.labels, 40, seed=3)
    assert pairs == make_pairs(data.texts, data.labels, 40, seed=3)
    assert pairs != make_pairs(data.texts, data.labels, 40, seed=4)
    label_of = dict(zip(data.texts, data.labels))
    assert sum(s == 1.0 for _, _, s in pairs) == 20
    for a, b, s in pairs:
        assert (label_of[a] == label_of[b]) == (s == 1.0), (a, b, s)
    assert all(s == 1.0 for _, _, s in make_pairs(data.texts, data.labels, 10, negatives=False))
    with pytest.raises(DataError, match="no same-label pair"):
        make_pairs(["a", "b"], ["x", "y"], 4)


def test_few_shot_tunes_its_own_copy_and_saves_safetensors(tiny_encoder: Path, tiny_embedder, tmp_path: Path) -> None:
    probe = ["goat rice", "camel millet"]
    before = tiny_embedder.encode_queries(probe).copy()
    tiny_embedder._cache.clear()
    strategy = build_strategy("few_shot", {"k": 4, "n_pairs": 16, "batch_size": 8, "learning_rate": 1e-3,
                                           "loss": "mnrl"}, tiny_encoder, embedder=tiny_embedder).fit(toy())
    tiny_embedder._cache.clear()
    np.testing.assert_allclose(tiny_embedder.encode_queries(probe), before, atol=1e-6)  # shared embedder untouched
    assert not np.allclose(strategy.features(probe), before, atol=1e-4)  # the strategy's copy was tuned
    folder = strategy.save(tmp_path / "fs")
    assert (folder / "embedder" / "model.safetensors").is_file() and (folder / "head.safetensors").is_file()
    frozen = build_strategy("few_shot", {"k": 4, "n_pairs": 8, "batch_size": 8, "train_embeddings": False},
                            tiny_encoder, embedder=tiny_embedder).fit(toy())
    trainable, total = frozen.trainable_parameters()
    vocab = frozen.body_[0].auto_model.get_input_embeddings().weight
    assert trainable == total - vocab.numel() and not vocab.requires_grad
    with pytest.raises(ConfigError, match=r"few_shot.loss must be one of 'cosine', 'mnrl'\. Got 'mnlr'"):
        build_strategy("few_shot", {"loss": "mnlr"}, tiny_encoder)


# --------------------------------------------------------------------------- multi_source


def test_sample_mixture_follows_weights() -> None:
    data = TextDataset.concat([toy("eng", n=6), toy("ind", n=6), toy("jav", n=6)])
    mixed, counts = sample_mixture(data, {"english": 1, "ind": 3}, size=40, seed=0)
    assert counts == {"eng_Latn": 10, "ind_Latn": 30}
    assert sum(e.lang == "ind_Latn" for e in mixed) == 30 and not any(e.lang == "jav_Latn" for e in mixed)
    assert len(set(mixed.ids)) == 40  # draws with replacement get distinct ids
    assert mixed.ids == sample_mixture(data, {"eng": 1, "ind": 3}, size=40, seed=0)[0].ids
    assert mixed.ids != sample_mixture(data, {"eng": 1, "ind": 3}, size=40, seed=1)[0].ids
    _, default = sample_mixture(data, {"eng": 1, "ind": 1})
    assert default == {"eng_Latn": 12, "ind_Latn": 12}
    with pytest.raises(DataError, match=r"no examples in swh_Latn\. It has: eng_Latn, ind_Latn, jav_Latn"):
        sample_mixture(data, {"swh": 1})
    with pytest.raises(ConfigError, match=r"sources\['eng'\] must be a number > 0\. Got 0"):
        sample_mixture(data, {"eng": 0})


def test_multi_source_delegates_to_its_base(tmp_path: Path) -> None:
    emb = HashEmbedder(dim=64)
    data = TextDataset.concat([toy("eng"), toy("ind")])
    config = {"sources": {"eng": 1, "ind": 1}, "base": {"strategy": "head", "C": 10.0}}
    strategy = build_strategy("multi_source", config, "hash", embedder=emb).fit(data)
    assert strategy.base_.name == "head" and strategy.base_.config.C == 10.0
    texts = ["goat", "rice beans"]
    np.testing.assert_array_equal(strategy.predict_proba(texts), strategy.base_.predict_proba(texts))
    loaded = load_strategy(strategy.save(tmp_path / "ms"), embedder=emb)
    np.testing.assert_array_equal(loaded.predict_proba(texts), strategy.predict_proba(texts))
    assert loaded.mixture_ == {"eng_Latn": 12, "ind_Latn": 12}
    with pytest.raises(ConfigError, match="cannot be 'multi_source' itself"):
        build_strategy("multi_source", {"sources": {"eng": 1}, "base": "multi_source"}, "hash")
    with pytest.raises(ConfigError, match=r"Unknown strategy 'haed'\. Did you mean 'head'"):
        build_strategy("multi_source", {"sources": {"eng": 1}, "base": "haed"}, "hash")


# --------------------------------------------------------------------------- forgetting


def test_forgetting_is_zero_for_a_frozen_encoder() -> None:
    emb = HashEmbedder(dim=64)
    head = build_strategy("head", {}, "hash", embedder=emb).fit(toy("ind"))
    source_train, source_dev = toy("eng"), toy("eng", n=3, prefix="dev-")
    result = measure_forgetting(head, source_train, source_dev)
    expected = linear_probe_score(emb.encode_queries(source_train.texts), source_train.labels,
                                  emb.encode_queries(source_dev.texts), source_dev.labels)
    assert result == ForgettingResult("eng_Latn", expected, expected, 0.0, "macro_f1", "probe")
    task = measure_forgetting(head, source_train, source_dev, before=0.9, mode="task")
    assert task.before == 0.9 and task.drop == pytest.approx(0.9 - task.after)
    assert set(result.to_dict()) == {"language", "before", "after", "drop", "metric", "mode"}


def test_forgetting_after_full_fine_tuning(tiny_encoder: Path, tiny_embedder) -> None:
    strategy = build_strategy("full", {"epochs": 2, "learning_rate": 5e-3, "batch_size": 4}, tiny_encoder,
                              embedder=tiny_embedder).fit(toy("ind"))
    feats = strategy_features(strategy, ["goat"])
    assert feats.shape == (1, 32)
    result = measure_forgetting(strategy, toy("eng"), toy("eng", n=3, prefix="dev-"))
    assert 0 <= result.before <= 1 and 0 <= result.after <= 1
    assert result.drop == pytest.approx(result.before - result.after)
    assert result.after != result.before or not np.allclose(feats, tiny_embedder.encode_queries(["goat"]))


def test_forgetting_input_errors() -> None:
    emb = HashEmbedder(dim=16)
    head = build_strategy("head", {}, "hash", embedder=emb).fit(toy())
    unlabelled = TextDataset([make_example(1, "goat", None, "eng")])
    with pytest.raises(DataError, match="probe_eval .* must be non-empty and fully labelled"):
        measure_forgetting(head, toy(), unlabelled)
    with pytest.raises(ConfigError, match="mode must be 'probe' or 'task'"):
        measure_forgetting(head, toy(), toy(), mode="both")
    with pytest.raises(UnsupportedError, match="Cannot read sentence features from a object"):
        strategy_features(object(), ["x"])
