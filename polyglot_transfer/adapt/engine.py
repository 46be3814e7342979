"""The fine-tuning engine: a model builder per task and model family x a PEFT method x the transformers Trainer.

A strategy built on the engine is a declaration (:class:`TunedStrategy` subclass): its `task`
(``classification``, ``token_classification``, ``generation``), the `model_families` it supports, its
PEFT `method` (fixed, or read from its config), and a typed config with its defaults. The engine does
the rest, the same way for every such strategy:

- **model**: :data:`TASKS` maps a task to the pieces that differ (the model class per family, the
  examples and collator, the prediction); the encoder of a classifier is wrapped in an
  :class:`EncoderClassifier` (mean pooling + linear head);
- **method**: :func:`peft_config` turns ``lora`` / ``dora`` / ``ia3`` / ``prefix`` / ``qlora`` into a PEFT
  config (``none``: every weight trains); QLoRA loads the base in 4-bit (needs bitsandbytes and CUDA);
- **training**: the plain transformers ``Trainer``; forgetting penalties (EWC / L2-SP) are loss terms of the
  classifier, replay a share of source examples mixed into the data; checkpoints (when the runner sets
  ``checkpoint_dir``) hold the trainable weights only, and an interrupted run resumes from them;
- **inference**: on whatever device the model sits on, batched under ``torch.inference_mode()``, with
  autocast to bf16 / fp16 on CUDA when the config asks (``autocast``); results leave the device as numpy.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from polyglot_transfer.adapt.base import (
    Strategy, TrainingProgress, check_support, epoch_losses, read_model_config, softmax_weights, training_arguments,
)
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.models.provision import resolve_model

logger = logging.getLogger(__name__)

PEFT_METHODS = ("none", "lora", "dora", "ia3", "prefix", "qlora")


# --------------------------------------------------------------------------- device-correct inference


def model_device(model: Any) -> Any:
    """The device the model's weights sit on (CPU for a model without parameters)."""
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@contextlib.contextmanager
def inference(model: Any, autocast: str = "none") -> Iterator[Any]:
    """Eval mode + ``torch.inference_mode()`` (+ autocast on CUDA when asked); yields the model's device."""
    import torch

    device = model_device(model)
    model.eval()
    cast = contextlib.nullcontext()
    if autocast != "none" and device.type == "cuda":
        cast = torch.autocast("cuda", dtype=torch.bfloat16 if autocast == "bf16" else torch.float16)
    with torch.inference_mode(), cast:
        yield device


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor leaves its device only here: detached, float32, on the CPU, as numpy."""
    return tensor.detach().float().cpu().numpy()


def softmax_batches(model: Any, batches: Iterator[tuple[Any, dict[str, Any]]], n: int, n_labels: int,
                    autocast: str = "none", call: Callable[[Any, dict[str, Any]], Any] | None = None) -> np.ndarray:
    """(n, n_labels) class probabilities; `batches` yields (row indices, CPU tensors) moved to the model's device."""
    import torch

    probs = np.zeros((n, n_labels), dtype=np.float32)
    with inference(model, autocast) as device:
        for idx, inputs in batches:
            inputs = {k: v.to(device) for k, v in inputs.items()}
            out = call(model, inputs) if call is not None else model(**inputs)
            logits = out["logits"] if isinstance(out, dict) else out.logits
            probs[idx] = to_numpy(torch.softmax(logits.float(), dim=-1))
    return probs


# --------------------------------------------------------------------------- PEFT methods


def qlora_available() -> tuple[bool, str]:
    """(available, why not): QLoRA needs the bitsandbytes package and a CUDA device."""
    import torch

    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes is not installed")
    if not torch.cuda.is_available():
        missing.append("no CUDA device is visible")
    return not missing, "; ".join(missing)


def peft_config(method: str, task_type: str | None, config: Any) -> Any:
    """The PEFT config of `method` from a strategy config's r / alpha / dropout / target_modules / ... fields."""
    from peft import IA3Config, LoraConfig, PrefixTuningConfig

    targets = getattr(config, "target_modules", None)
    targets = list(targets) if targets is not None else None
    if method in ("lora", "dora", "qlora"):
        return LoraConfig(task_type=task_type, r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                          target_modules=targets, bias="none", use_dora=method == "dora")
    if method == "ia3":
        ff = getattr(config, "feedforward_modules", None)
        ff = list(ff) if ff is not None else ([] if targets is not None else None)
        return IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=ff)
    if method == "prefix":
        # a bare encoder needs FEATURE_EXTRACTION: plain PeftModel's forward does not inject the prefix
        return PrefixTuningConfig(num_virtual_tokens=config.num_virtual_tokens,
                                  task_type=task_type or "FEATURE_EXTRACTION")
    raise ConfigError(f"Unknown PEFT method {method!r}; expected one of {', '.join(PEFT_METHODS)}.")


def apply_peft(model: Any, method: str, task_type: str | None, config: Any) -> Any:
    """`model` wrapped in `method`'s adapters (unchanged for ``none``); a clear error when PEFT cannot."""
    if method == "none":
        return model
    from peft import get_peft_model

    model_type = getattr(model.config, "model_type", "?")
    try:
        wrapped = get_peft_model(model, peft_config(method, task_type, config))
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsupportedError(
            f"PEFT could not apply method {method!r} to a {model_type} model: {exc}. Set target_modules to module "
            "names of this architecture, or pick another method."
        ) from None
    if method == "prefix":
        _check_prefix(wrapped, model_type)
    return wrapped


def _check_prefix(model: Any, model_type: str) -> None:
    import torch

    ids = torch.tensor([[0, 1, 2]], device=model_device(model))
    try:
        with torch.no_grad():
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
    except Exception as exc:  # noqa: BLE001  (any failure here means the architecture cannot take prefixes)
        raise UnsupportedError(
            f"Prefix tuning does not work with this {model_type} model: its attention did not accept the learned "
            f"key/value prefixes ({type(exc).__name__}: {exc}). Use method 'lora', 'dora' or 'ia3'."
        ) from None


def load_pretrained(auto_class: Any, path: Path, method: str, **kwargs: Any) -> Any:
    """`auto_class.from_pretrained(path)`; 4-bit NF4 on the GPU (ready for k-bit training) for ``qlora``."""
    if read_model_config(path).get("model_type") == "bert" and auto_class.__name__ == "AutoModel":
        kwargs["add_pooling_layer"] = False  # mean pooling: no unused pooler
    if method != "qlora":
        return auto_class.from_pretrained(str(path), **kwargs)
    ok, why = qlora_available()
    if not ok:
        raise UnsupportedError(
            f"QLoRA needs bitsandbytes and a CUDA device; {why} here. Use method='lora' (the same adapters on the "
            "unquantised model), or run on a CUDA machine with `pip install bitsandbytes`."
        )
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    base = auto_class.from_pretrained(str(path), quantization_config=quant, device_map={"": 0}, **kwargs)
    return prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)


def pretrained_model(s: TunedStrategy, auto_class: Any, path: Path, folder: Path | None, **kwargs: Any) -> Any:
    """A PreTrainedModel task's model: fresh from `path` with the strategy's PEFT method, or as saved in `folder`."""
    if folder is not None and s.peft_method == "none":
        return auto_class.from_pretrained(str(folder / "model"), **kwargs)
    base = load_pretrained(auto_class, path, s.peft_method, **kwargs)
    if folder is None:
        return s._wrap(base)
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(folder / "adapter"))


def save_pretrained_model(s: TunedStrategy, folder: Path) -> None:
    """A PreTrainedModel's weights: `adapter/` (PEFT's own layout) or `model/` (full save_pretrained)."""
    s.model_.save_pretrained(str(folder / ("model" if s.peft_method == "none" else "adapter")), safe_serialization=True)


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Task:
    """What differs between task types: the PEFT task type per family, the model, the examples, the weights."""

    peft_task_type: dict[str, str | None]  # model family -> PEFT TaskType (None: a bare encoder)
    build: Callable[[Any, Path, Path | None], Any]  # (strategy, model path, saved folder or None) -> model
    prepare: Callable[[Any, Any, Any], tuple[Any, Any]]  # (strategy, train, source) -> (datasets.Dataset, collator)
    save: Callable[[Any, Path], None] = save_pretrained_model


TASKS: dict[str, Task] = {}


class TunedStrategy(Strategy):
    """A strategy that trains weights through the engine; subclasses declare, they do not re-implement.

    Declarations: `name`, `config_class`, `tasks` (keys of :data:`TASKS`; the first is the default,
    a TokenDataset selects ``token_classification``), `model_families`, `method` (a PEFT method, or
    None to read the config's ``method``), `trainer_settings` (config field -> TrainingArguments name,
    beyond epochs / learning rate / batch size).
    """

    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    method: ClassVar[str | None] = None
    trainer_settings: ClassVar[dict[str, str]] = {"weight_decay": "weight_decay", "warmup_ratio": "warmup_steps"}

    @property
    def peft_method(self) -> str:
        method = self.method or self.config.method
        return "none" if method == "full" else method

    @property
    def task(self) -> str:
        return getattr(self, "task_", None) or self.tasks[0]

    def _build(self, folder: Path | None = None) -> Any:
        """Tokenizer + model for the task and the model's family, PEFT applied (seeded), or loaded from `folder`."""
        import torch
        from transformers import AutoTokenizer

        path = resolve_model(self.model)
        self.family_ = check_support(self, path, self.task)
        torch.manual_seed(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        return TASKS[self.task].build(self, path, folder)

    def _wrap(self, model: Any) -> Any:
        return apply_peft(model, self.peft_method, TASKS[self.task].peft_task_type[self.family_], self.config)

    def fit(self, train: Any, *, source: Any = None) -> TunedStrategy:
        """Train on `train` (a TextDataset, or a TokenDataset for tagging); `source`: labelled source-language
        data for replay and the EWC Fisher (classification)."""
        from polyglot_transfer.data.conll import TokenDataset

        self.task_ = "token_classification" if isinstance(train, TokenDataset) else self.tasks[0]
        if self.task_ not in self.tasks:
            raise UnsupportedError(
                f"Strategy {self.name!r} trains {', '.join(self.tasks)}; it got a {type(train).__name__} "
                f"({self.task_}). Use a strategy that lists {self.task_!r} (`pgt ls strategies`)."
            )
        dataset, collator = TASKS[self.task_].prepare(self, train, source)
        self._train(self.model_, dataset, collator)
        return self

    def _train(self, model: Any, dataset: Any, collator: Any) -> None:
        """Train `model` with the transformers Trainer; resumes from `checkpoint_dir` (set by the runner)."""
        from transformers import PrinterCallback, Trainer

        c = self.config
        params = list(model.parameters())
        self.trainable_ = (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
        settings = {arg: getattr(c, key) for key, arg in self.trainer_settings.items()}
        checkpoints = getattr(self, "checkpoint_dir", None)
        with contextlib.ExitStack() as stack:
            out = str(checkpoints) if checkpoints else stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"pgt-{self.name}-"))
            args = training_arguments(
                out, epochs=c.epochs, lr=c.learning_rate, batch_size=c.batch_size, seed=self.seed,
                checkpoint=bool(checkpoints), trainer_args=c.trainer_args, where=f"{self.name}.trainer_args",
                lr_scheduler_type="linear", **settings,  # a warmup_steps float < 1 is a ratio of the total steps
            )
            trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
            trainer.remove_callback(PrinterCallback)  # losses go to our logger, not stdout
            trainer.add_callback(TrainingProgress(self.name))
            resume = bool(checkpoints) and any(Path(checkpoints).glob("checkpoint-*"))
            if resume:
                logger.info("%s: resuming interrupted training from %s", self.name, checkpoints)
            result = trainer.train(resume_from_checkpoint=True if resume else None)
        self.train_loss_ = epoch_losses(trainer)
        logger.info("%s: trained %d steps on %d examples; loss per epoch %s", self.name, result.global_step,
                    len(dataset), ", ".join(f"{x:.3f}" for x in self.train_loss_))
        if hasattr(model, "loss_terms"):
            model.loss_terms = []
        model.eval()

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameters while training."""
        if getattr(self, "trainable_", None) is None:
            params = list(self.model_.parameters())
            self.trainable_ = (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
        return self.trainable_

    def predict_proba(self, inputs: Any, batch_size: int = 64) -> Any:
        self._require_fitted()
        return TASK_PREDICT[self.task](self, inputs, batch_size)

    def predict(self, inputs: Any) -> Any:
        if self.task == "token_classification":  # one tag per token of each sentence
            return [[self.labels_[i] for i in p.argmax(axis=1)] for p in self.predict_proba(inputs)]
        return super().predict(inputs)

    def save(self, folder: str | Path) -> Path:
        folder = super().save(folder)
        if self.task != self.tasks[0]:
            atomic_write_json(folder / TASK_FILE, {"task": self.task})
        return folder

    def _save_weights(self, folder: Path) -> None:
        TASKS[self.task].save(self, folder)

    def _load_weights(self, folder: Path) -> None:
        if (folder / TASK_FILE).is_file():
            self.task_ = json.loads((folder / TASK_FILE).read_text())["task"]
        self.model_ = self._build(folder)
        self.model_.eval()

    def features(self, texts: list[str]) -> np.ndarray:
        """The pooled (normalised) sentence vectors a classifier's head sees."""
        self._require_fitted()
        if self.task != "classification":
            raise UnsupportedError(f"{self.name}: sentence features exist for classification only (task {self.task}).")
        return pooled(self, tokenize(self, list(texts)))


TASK_FILE = "task.json"
TASK_PREDICT: dict[str, Callable[[Any, Any, int], Any]] = {}


# --------------------------------------------------------------------------- sentence classification


def read_prompts(model_path: Path) -> dict[str, str]:
    """The sentence-transformers prompts stored with a model folder (e.g. e5's "query: "), if any."""
    p = Path(model_path) / "config_sentence_transformers.json"
    return dict(json.loads(p.read_text()).get("prompts") or {}) if p.is_file() else {}


def tokenize(s: Any, texts: list[str]) -> Any:
    return s.tokenizer_([s.prompt_ + t for t in texts], truncation=True, max_length=s.config.max_length)


def pooled(s: Any, enc: Any, batch_size: int = 64) -> np.ndarray:
    """Pooled sentence vectors of tokenised texts, batched on the model's device."""
    feats = []
    with inference(s.model_, s.config.autocast) as device:
        for start in range(0, len(enc["input_ids"]), batch_size):
            batch = s.tokenizer_.pad({k: v[start : start + batch_size] for k, v in enc.items()}, return_tensors="pt")
            feats.append(to_numpy(s.model_.pool(batch["input_ids"].to(device), batch["attention_mask"].to(device))))
    return np.concatenate(feats)


def init_head_from_probe(s: Any, enc: Any, y: list[int]) -> None:
    """Linear probe, then fine-tune (LP-FT, Kumar et al. 2022): the head starts where `head` ends."""
    import torch
    from sklearn.linear_model import LogisticRegression

    coef, intercept = softmax_weights(LogisticRegression(max_iter=2000, random_state=s.seed).fit(pooled(s, enc), y))
    with torch.no_grad():
        s.model_.head.weight.copy_(torch.as_tensor(coef))
        s.model_.head.bias.copy_(torch.as_tensor(intercept))


def fisher_examples(s: Any, data: Any, labels: list[str]) -> Callable[[], Iterator[dict[str, Any]]]:
    """Per-example model inputs (on the model's device) for the EWC Fisher estimate (at most `ewc_samples`)."""
    import torch

    unknown = sorted({e.label for e in data} - set(labels))
    if unknown:
        raise DataError(f"EWC data {data.name!r} has labels {unknown} the classifier does not know ({labels}).")
    n = min(len(data), s.config.ewc_samples)
    texts, ys = data.texts[:n], [labels.index(lbl) for lbl in data.labels[:n]]

    def examples() -> Iterator[dict[str, Any]]:
        device = model_device(s.model_)
        for text, y in zip(texts, ys):
            enc = s.tokenizer_([s.prompt_ + text], truncation=True, max_length=s.config.max_length,
                               return_tensors="pt")
            yield {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device),
                   "labels": torch.tensor([y], device=device)}

    return examples


def _classifier_build(s: Any, path: Path, folder: Path | None) -> Any:
    from transformers import AutoModel

    from polyglot_transfer.adapt.encoder_classifier import EncoderClassifier

    s.prompt_ = read_prompts(path).get("query", "")
    base = load_pretrained(AutoModel, path, s.peft_method)
    model = EncoderClassifier(s._wrap(base), base.config.hidden_size, len(s.labels_))
    device = str(model_device(base))
    model.head.to(device)  # a quantised base is placed on its GPU when loaded
    if folder is not None and s.peft_method == "none":
        from safetensors.torch import load_model

        load_model(model, str(folder / "model.safetensors"), device=device)
    elif folder is not None:
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights
        from safetensors.torch import load_file

        set_peft_model_state_dict(model.encoder, load_peft_weights(str(folder / "adapter"), device=device))
        model.head.load_state_dict(load_file(str(folder / "head.safetensors"), device=device))
    return model


def _classifier_prepare(s: Any, train: Any, source: Any) -> tuple[Any, Any]:
    from datasets import Dataset
    from transformers import DataCollatorWithPadding

    from polyglot_transfer.adapt.forgetting import load_replay_source, make_penalty, mix_replay

    c = s.config
    s._check_train(train)
    if source is None and getattr(c, "replay_data", None):
        source = load_replay_source(c.replay_data)
    mixed = train
    if getattr(c, "replay", 0.0) > 0:
        if source is None:
            raise ConfigError(f"{s.name}.replay={c.replay} needs source-language examples: pass fit(train, "
                              f"source=...) or set {s.name}.replay_data to a labelled table.")
        mixed = mix_replay(train, source, c.replay, seed=s.seed)
    s.labels_ = labels = s._check_train(mixed)
    s.model_ = s._build()
    enc = tokenize(s, mixed.texts)
    y = [labels.index(lbl) for lbl in mixed.labels]
    if c.init_head == "probe":
        init_head_from_probe(s, enc, y)
    regularizer = getattr(c, "regularizer", "none")
    if regularizer == "ewc":
        logger.info("%s: EWC Fisher information from %s (%d examples max)", s.name,
                    (source or train).name, c.ewc_samples)
    penalty = None if regularizer == "none" else make_penalty(
        regularizer, s.model_, c.reg_lambda, fisher_examples=fisher_examples(s, source or train, labels))
    s.model_.loss_terms = [penalty] if penalty is not None else []
    s.penalty_log_ = penalty.log if penalty is not None else []  # the penalty at each training step
    s.n_train_ = len(mixed)
    return Dataset.from_dict({**enc, "labels": y}), DataCollatorWithPadding(s.tokenizer_)


def _classifier_save(s: Any, folder: Path) -> None:
    from safetensors.torch import save_file, save_model

    if s.peft_method == "none":
        save_model(s.model_, str(folder / "model.safetensors"))
        return
    s.model_.encoder.save_pretrained(str(folder / "adapter"), safe_serialization=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in s.model_.head.state_dict().items()},
              str(folder / "head.safetensors"))


def _classifier_predict(s: Any, texts: list[str], batch_size: int) -> np.ndarray:
    return classify(s, s.model_, texts, batch_size)


def classify(s: Any, model: Any, texts: list[str], batch_size: int) -> np.ndarray:
    """Class probabilities of `texts` (with the strategy's prompt) by `model`, in length-sorted batches."""
    texts = list(texts)
    order = np.argsort([len(t) for t in texts])  # length-sorted batches pad less

    def batches() -> Iterator[tuple[Any, dict[str, Any]]]:
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = s.tokenizer_([s.prompt_ + texts[i] for i in idx], truncation=True, max_length=s.config.max_length,
                               padding=True, return_tensors="pt")
            yield idx, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    return softmax_batches(model, batches(), len(texts), len(s.labels_), s.config.autocast)


TASKS["classification"] = Task({"encoder": None}, _classifier_build, _classifier_prepare, _classifier_save)
TASK_PREDICT["classification"] = _classifier_predict
