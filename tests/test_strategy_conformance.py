"""The conformance check every registered strategy passes (scikit-learn's check_estimator, for strategies).

Each strategy in STRATEGIES is fitted once on a tiny separable toy task of its task type, with a tiny
random model of a family it supports, and checked for: the fit/predict contract (fit returns self,
`labels_`, probabilities that are rows summing to 1), learning (training-set score; strategies that
train nothing are exempt), a falling training loss (where `train_loss_` exists), save -> load giving
identical outputs with no pickle files written, the expected number of trainable parameters,
declared `tasks` / `model_families`, and UnsupportedError (not a crash in training) for a model
family it does not declare.

Hooks for strategy authors (extend these dicts; keep entries small and fast):
  FIT_PARAMS[name]           config params for the toy fit (few epochs, high learning rate)
  EXTRA_FIT_KWARGS[name]     keyword arguments for fit(), a dict or a callable(train) -> dict
  MODEL_FIXTURE[name]        the model fixture to use: tiny_encoder / tiny_mlm_encoder / tiny_decoder
  EXPECTED_TRAINABLE[name]   callable(strategy) -> (expected, actual) trainable-parameter counts
  NOT_TRAINED                strategies that learn nothing from the labels (no training-score check)
  TOY_TASKS[task]            a ToyTask for a task type other than classification
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from polyglot_transfer.adapt import STRATEGIES, Strategy, build_strategy, load_strategy
from polyglot_transfer.data.dataset import TextDataset, make_example
from polyglot_transfer.errors import ConfigError, UnsupportedError

# --------------------------------------------------------------------------- toy tasks

POSITIVE = ["good", "great", "happy", "lovely", "wonderful", "nice", "bright", "kind"]
NEGATIVE = ["bad", "awful", "sad", "horrible", "terrible", "ugly", "dark", "cruel"]


def classification_toy() -> TextDataset:
    """2 labels x 2 languages x 8 texts; each label has its own words, so the classes are separable."""
    examples = []
    for lang in ("eng", "ind"):
        for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
            for i in range(8):
                text = f"{words[i]} {words[(i + 3) % 8]} {words[(i + 5) % 8]}"
                examples.append(make_example(f"{lang}-{label}-{i}", text, label, lang))
    return TextDataset(examples, name="toy-classification")


def token_classification_toy() -> Any:
    from polyglot_transfer.data.conll import TokenDataset, TokenSentence

    places, others = ["Nairobi", "Lagos", "Accra", "Dakar"], ["the", "a", "in", "to", "we", "went"]
    sentences = []
    for i in range(16):
        tokens = [others[i % 6], others[(i + 1) % 6], places[i % 4], others[(i + 2) % 6]]
        tags = ["O", "O", "B-LOC", "O"]
        sentences.append(TokenSentence(id=f"s{i}", tokens=tokens, tags=tags, lang="eng_Latn"))
    return TokenDataset(sentences, name="toy-tokens")


def generation_toy() -> TextDataset:
    pairs = [("capital of kenya", "nairobi"), ("capital of ghana", "accra"), ("capital of senegal", "dakar"),
             ("capital of nigeria", "abuja")] * 2
    return TextDataset([make_example(i, q, a, "eng") for i, (q, a) in enumerate(pairs)], name="toy-generation")


def _class_outputs(strategy: Strategy, data: TextDataset) -> np.ndarray:
    return strategy.predict_proba(data.texts)


def _class_score(strategy: Strategy, data: TextDataset) -> float:
    return float(np.mean([p == y for p, y in zip(strategy.predict(data.texts), data.labels)]))


def _token_score(strategy: Strategy, data: Any) -> float:
    pred = strategy.predict(data)
    pairs = [(p, g) for ps, gs in zip(pred, data.tags) for p, g in zip(ps, gs)]
    return float(np.mean([p == g for p, g in pairs]))


@dataclass
class ToyTask:
    build: Callable[[], Any]
    outputs: Callable[[Strategy, Any], Any]  # comparable before/after save
    score: Callable[[Strategy, Any], float] | None  # training-set score in [0, 1]
    n_labels: Callable[[Any], int] | None = None


TOY_TASKS: dict[str, ToyTask] = {
    "classification": ToyTask(classification_toy, _class_outputs, _class_score, lambda d: len(d.label_set)),
    "token_classification": ToyTask(token_classification_toy, lambda s, d: s.predict_proba(d), _token_score),
    "generation": ToyTask(generation_toy, lambda s, d: s.generate(d.texts), None),
}

# --------------------------------------------------------------------------- hooks

FIT_PARAMS: dict[str, dict[str, Any]] = {
    "head": {"C": 100.0},  # random tiny features are weak: regularise lightly
    "zero_shot": {},
    "lora": {"epochs": 4, "learning_rate": 5e-3, "batch_size": 8, "init_head": "zeros"},
    "full": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 8},
    "peft": {"method": "lora", "epochs": 4, "learning_rate": 5e-3, "batch_size": 8, "init_head": "zeros"},
    "few_shot": {"k": 8, "n_pairs": 48, "epochs": 2, "learning_rate": 1e-3, "batch_size": 8},
    "multi_source": {"sources": {"eng": 1.0, "ind": 2.0}, "base": {"strategy": "head", "C": 100.0}},
    "continued_pretraining": {"epochs": 1},
    "vocab_extension": {},
    "language_adapter": {},
    "prompting": {},
    "generation": {},
    "token_classification": {"method": "lora", "epochs": 8, "learning_rate": 1e-2, "batch_size": 4,
                             "min_steps": 0},
}
EXTRA_FIT_KWARGS: dict[str, dict[str, Any] | Callable[[Any], dict[str, Any]]] = {}
MODEL_FIXTURE: dict[str, str] = {"continued_pretraining": "tiny_mlm_encoder"}
NOT_TRAINED = {"zero_shot", "prompting"}
MIN_TRAIN_SCORE = 0.75


def _head_counts(s: Strategy) -> tuple[int, int]:
    return (s.embedder.dim + 1) * len(s.labels_), int(s.coef_.size + s.intercept_.size)


def _adapter_counts(s: Strategy) -> tuple[int, int]:
    head = (s.model_.head.in_features + 1) * len(s.labels_)
    return int(s.model_.encoder.get_nb_trainable_parameters()[0]) + head, s.trainable_parameters()[0]


def _full_counts(s: Strategy) -> tuple[int, int]:
    return sum(p.numel() for p in s.model_.parameters()), s.trainable_parameters()[0]


def _few_shot_counts(s: Strategy) -> tuple[int, int]:
    body = sum(p.numel() for p in s.body_.parameters())  # train_embeddings=True (default): every weight
    return body + (s.body_.get_sentence_embedding_dimension() + 1) * len(s.labels_), s.trainable_parameters()[0]


EXPECTED_TRAINABLE: dict[str, Callable[[Strategy], tuple[int, int]]] = {
    "head": _head_counts,
    "zero_shot": lambda s: (0, s.trainable_parameters()[0]),
    "lora": _adapter_counts,
    "peft": _adapter_counts,
    "full": _full_counts,
    "few_shot": _few_shot_counts,
    # strategies-B: the task LoRA adapter + head (language adapters stay frozen), PEFT's own count, all weights
    "language_adapter": lambda s: (
        sum(p.numel() for n, p in s.classifier_.named_parameters() if ".task." in n)
        + (s.classifier_.head.in_features + 1) * len(s.labels_), s.trainable_parameters()[0]),
    "token_classification": lambda s: (int(s.model_.get_nb_trainable_parameters()[0]), s.trainable_parameters()[0]),
    "generation": lambda s: (sum(p.numel() for p in s.model_.parameters()), s.trainable_parameters()[0]),
}

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tiny_mlm_encoder(e5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-mlm-encoder"), e5_path, mlm_head=True)


@pytest.fixture(scope="session")
def tiny_decoder(e5_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from polyglot_transfer.models.tiny import build_tiny_decoder

    return build_tiny_decoder(tmp_path_factory.mktemp("tiny-decoder"), e5_path)


@pytest.fixture(scope="module")
def tiny_embedder(tiny_encoder: Path):
    from polyglot_transfer.retrieval.embedder import Embedder

    return Embedder(tiny_encoder)


def _task(cls: type) -> str:
    tasks = sorted(getattr(cls, "tasks", None) or {"classification"})
    return "classification" if "classification" in tasks else tasks[0]


def _families(cls: type) -> set[str]:
    return set(getattr(cls, "model_families", None) or {"encoder"})


def _model_fixture(name: str, cls: type) -> str:
    if name in MODEL_FIXTURE:
        return MODEL_FIXTURE[name]
    return "tiny_encoder" if "encoder" in _families(cls) else "tiny_decoder"


def _fit_kwargs(name: str, train: Any) -> dict[str, Any]:
    extra = EXTRA_FIT_KWARGS.get(name, {})
    return dict(extra(train) if callable(extra) else extra)


@pytest.fixture(scope="module")
def fitted(request: pytest.FixtureRequest, tiny_embedder) -> Callable[[str], tuple[Strategy, Any, Path]]:
    """name -> (fitted strategy, its toy training data, model path); each strategy is fitted once per module."""
    cache: dict[str, tuple[Strategy, Any, Path]] = {}

    def get(name: str) -> tuple[Strategy, Any, Path]:
        if name not in cache:
            cls = STRATEGIES.get(name)
            task = _task(cls)
            if task not in TOY_TASKS:
                pytest.fail(f"No conformance toy task for task {task!r} (strategy {name!r}): add one to TOY_TASKS.")
            model = request.getfixturevalue(_model_fixture(name, cls))
            train = TOY_TASKS[task].build()
            embedder = tiny_embedder if _model_fixture(name, cls) == "tiny_encoder" else None
            strategy = build_strategy(name, FIT_PARAMS.get(name, {}), model, seed=0, embedder=embedder)
            returned = strategy.fit(train, **_fit_kwargs(name, train))
            assert returned is strategy, f"{name}.fit() must return self, got {type(returned).__name__}"
            cache[name] = (strategy, train, model)
        return cache[name]

    return get


ALL = sorted(STRATEGIES)

# --------------------------------------------------------------------------- checks


@pytest.mark.parametrize("name", ALL)
def test_declares_tasks_and_model_families(name: str) -> None:
    cls = STRATEGIES.get(name)
    tasks, families = getattr(cls, "tasks", None), getattr(cls, "model_families", None)
    assert tasks and all(isinstance(t, str) for t in tasks), f"{name}.tasks must be a non-empty set, got {tasks!r}"
    assert families and set(families) <= {"encoder", "decoder", "encoder-decoder"}, \
        f"{name}.model_families must be a non-empty subset of encoder/decoder/encoder-decoder, got {families!r}"


@pytest.mark.parametrize("name", ALL)
def test_fit_predict_contract(name: str, fitted) -> None:
    strategy, train, _ = fitted(name)
    toy = TOY_TASKS[_task(type(strategy))]
    assert strategy.labels_, f"{name}: labels_ must be set by fit()"
    if toy.n_labels is not None:
        assert strategy.labels_ == sorted(train.label_set), f"{name}: labels_ {strategy.labels_} != sorted labels"
        probs = strategy.predict_proba(train.texts[:5])
        assert probs.shape == (5, toy.n_labels(train)), f"{name}: predict_proba shape {probs.shape}"
        assert np.all(np.isfinite(probs)) and np.all(probs >= 0), f"{name}: probabilities must be finite and >= 0"
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5, err_msg=f"{name}: rows must sum to 1")


@pytest.mark.parametrize("name", ALL)
def test_learns_the_toy_task(name: str, fitted) -> None:
    strategy, train, _ = fitted(name)
    toy = TOY_TASKS[_task(type(strategy))]
    if name in NOT_TRAINED or toy.score is None:
        pytest.skip(f"{name} learns nothing from labels, or its task has no score")
    score = toy.score(strategy, train)
    assert score >= MIN_TRAIN_SCORE, f"{name}: training-set score {score:.2f} < {MIN_TRAIN_SCORE} on a separable toy"


@pytest.mark.parametrize("name", ALL)
def test_training_loss_falls(name: str, fitted) -> None:
    strategy, _, _ = fitted(name)
    try:
        losses = list(strategy.train_loss_)
    except AttributeError:
        pytest.skip(f"{name} has no training loss")
    assert len(losses) >= 2, f"{name}: log at least 2 loss values to check training (got {losses})"
    assert all(math.isfinite(v) for v in losses), f"{name}: non-finite loss in {losses}"
    k = max(1, len(losses) // 3)
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    assert last < first, f"{name}: loss did not fall: first {first:.4f}, last {last:.4f} ({losses})"


def _assert_same(a: Any, b: Any, name: str) -> None:
    if isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, atol=1e-6, err_msg=f"{name}: outputs changed after save/load")
    elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        assert len(a) == len(b), f"{name}: {len(a)} outputs before save, {len(b)} after"
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=1e-6, err_msg=f"{name}: outputs changed after save/load")
    else:
        assert a == b, f"{name}: outputs changed after save/load: {a!r} != {b!r}"


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(name: str, fitted, tiny_embedder, tmp_path: Path) -> None:
    strategy, train, model = fitted(name)
    toy = TOY_TASKS[_task(type(strategy))]
    folder = strategy.save(tmp_path / name)
    pickled = [p.name for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".bin", ".pt", ".pth", ".joblib")]
    assert not pickled, f"{name}: save() wrote pickle-based files {pickled}; use safetensors / JSON"
    embedder = tiny_embedder if _model_fixture(name, type(strategy)) == "tiny_encoder" else None
    loaded = load_strategy(folder, embedder=embedder)
    assert type(loaded) is type(strategy) and loaded.labels_ == strategy.labels_
    _assert_same(toy.outputs(strategy, train), toy.outputs(loaded, train), name)


def _expected_trainable(strategy: Strategy) -> tuple[int, int]:
    if strategy.name in EXPECTED_TRAINABLE:
        return EXPECTED_TRAINABLE[strategy.name](strategy)
    inner = getattr(strategy, "base_", None) or getattr(strategy, "task_", None)
    if isinstance(inner, Strategy):  # a wrapper (multi_source, continued_pretraining...): its learner's count
        return _expected_trainable(inner)
    trainable, total = strategy.trainable_parameters()
    assert 0 <= trainable <= total, f"{strategy.name}: trainable {trainable} must be within [0, total={total}]"
    if strategy.name in NOT_TRAINED:
        return 0, trainable
    return trainable, trainable


@pytest.mark.parametrize("name", ALL)
def test_trainable_parameter_count(name: str, fitted) -> None:
    strategy, _, _ = fitted(name)
    expected, actual = _expected_trainable(strategy)
    assert actual == expected, f"{name}: {actual} trainable parameters, expected {expected}"
    if name not in NOT_TRAINED:
        assert actual > 0, f"{name}: a trained strategy must have trainable parameters"


@pytest.mark.parametrize("name", ALL)
def test_unsupported_model_family_is_refused(name: str, request: pytest.FixtureRequest) -> None:
    cls = STRATEGIES.get(name)
    if getattr(cls, "model_families", None) is None:
        pytest.skip(f"{name} declares no model_families")
    families = set(cls.model_families)
    other = "tiny_decoder" if "decoder" not in families else ("tiny_encoder" if "encoder" not in families else None)
    if other is None:
        pytest.skip(f"{name} supports both encoders and decoders")
    train = TOY_TASKS[_task(cls)].build()
    strategy = build_strategy(name, FIT_PARAMS.get(name, {}), request.getfixturevalue(other), seed=0)
    with pytest.raises(UnsupportedError, match=r"(?i)(encoder|decoder)"):
        strategy.fit(train, **_fit_kwargs(name, train))


@pytest.mark.parametrize("name", ALL)
def test_unknown_config_key_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'learning_rat3'"):
        build_strategy(name, {"learning_rat3": 1.0}, "unused-model")


def _torch_modules(obj: Any, found: dict[int, Any]) -> dict[int, Any]:
    """Every torch module a strategy predicts with: its own, its inner strategies', its embedder's."""
    from torch import nn

    from polyglot_transfer.retrieval.embedder import Embedder

    if isinstance(obj, nn.Module):
        found.setdefault(id(obj), obj)
    elif isinstance(obj, Strategy):
        for value in vars(obj).values():
            _torch_modules(value, found)
    elif isinstance(obj, Embedder):
        obj._cache.clear()  # the probe must reach the model
        if "model" in vars(obj):
            _torch_modules(obj.model, found)
    return found


@pytest.mark.parametrize("name", ALL)
def test_predict_runs_on_the_models_device(name: str, fitted) -> None:
    """With the model moved to the `meta` device, every module's inputs must arrive on `meta` too: the predict path
    takes its device from the model (a model on a GPU gets its inputs on that GPU), never from a default."""
    import copy

    strategy, train, _ = fitted(name)
    toy = TOY_TASKS[_task(type(strategy))]
    strategy = copy.deepcopy(strategy)  # the module-scoped fitted one stays usable
    toy.outputs(strategy, train)  # loads what loads lazily (prompting's decoder, an embedder's model)
    modules = _torch_modules(strategy, {})
    assert modules, f"{name}: no torch module found on the strategy; the check cannot run"
    calls, misplaced = [], []

    def check_inputs(module, args, kwargs):
        device = next(iter(module.parameters()), None)
        if device is None:
            return
        tensors = [v for v in (*args, *kwargs.values()) if hasattr(v, "device")]
        tensors += [v for a in args if isinstance(a, dict) for v in a.values() if hasattr(v, "device")]
        calls.append(type(module).__name__)
        misplaced.extend(f"{type(module).__name__} got a tensor on {t.device}" for t in tensors
                         if t.device != device.device)

    def checked_generate(module):  # generate() fails on `meta` before any forward: check what it receives
        original = module.generate

        def generate(*args, **kwargs):
            check_inputs(module, args, kwargs)
            return original(*args, **kwargs)

        return generate

    for module in modules.values():
        module.to("meta")
        for sub in module.modules():
            sub.register_forward_pre_hook(check_inputs, with_kwargs=True)
        if callable(getattr(module, "generate", None)):
            module.generate = checked_generate(module)
    try:
        toy.outputs(strategy, train)
    except (NotImplementedError, RuntimeError) as exc:  # a meta tensor has no data to copy out at the end
        assert not misplaced, f"{name}: inputs not moved to the model's device: {misplaced[:3]} ({exc})"
    assert calls, f"{name}: the predict path never called its model"
    assert not misplaced, f"{name}: inputs not moved to the model's device: {misplaced[:3]}"
