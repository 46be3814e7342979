"""Parameter-efficient fine-tuning through PEFT: LoRA, DoRA, (IA)^3, prefix tuning and QLoRA.

One strategy, ``peft``, whose ``method`` picks the PEFT config: ``LoraConfig`` (``use_dora=True`` for
DoRA), ``IA3Config``, ``PrefixTuningConfig``; ``qlora`` is LoRA on a 4-bit (NF4) quantised encoder
and needs bitsandbytes and a CUDA device. The classifier, the training loop and the forgetting
mitigations are those of `full` (:class:`FullStrategy`); only the encoder is wrapped in adapters,
so only adapter weights and the head train. Adapters are saved the PEFT way (``adapter/``:
``adapter_config.json`` + ``adapter_model.safetensors``), the head as ``head.safetensors``.

Prefix tuning on a bare encoder: PEFT's plain ``PeftModel`` has no forward that injects the prefix
(``task_type=None`` fails), so the encoder is wrapped as ``FEATURE_EXTRACTION``, whose forward adds
the learned key/value prefixes to every attention layer and extends the attention mask. An encoder
whose attention does not accept ``past_key_values`` raises UnsupportedError at build time.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

from polyglot_transfer.adapt.base import STRATEGIES
from polyglot_transfer.adapt.full import FullStrategy
from polyglot_transfer.errors import ConfigError, UnsupportedError, did_you_mean

logger = logging.getLogger(__name__)

__all__ = ["PEFT_METHODS", "PeftStrategy", "PeftStrategyConfig", "qlora_available"]

PEFT_METHODS = ("lora", "dora", "ia3", "prefix", "qlora")


@dataclass
class PeftStrategyConfig:
    method: str = "lora"  # lora | dora | ia3 | prefix | qlora
    r: int = 8  # LoRA / DoRA / QLoRA rank
    alpha: int = 16  # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.1
    target_modules: list[str] | None = None  # None: PEFT's default for the architecture (BERT: query, value)
    feedforward_modules: list[str] | None = None  # (IA)^3 only: which targets are feed-forward layers
    num_virtual_tokens: int = 10  # prefix tuning: prefix length per layer
    epochs: float = 5.0
    learning_rate: float = 1e-3
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    optim: str = "adamw_torch"  # any transformers optimizer name ("sgd", "adafactor", ...)
    init_head: str = "probe"  # "probe": LP-FT; "zeros"
    regularizer: str = "none"  # "none" | "ewc" | "l2sp" (on the adapter weights)
    reg_lambda: float = 1.0
    ewc_samples: int = 200
    replay: float = 0.0
    replay_data: str | None = None
    trainer_args: dict = field(default_factory=dict)  # passed to TrainingArguments (deepspeed, fsdp, report_to...)


def qlora_available() -> tuple[bool, str]:
    """(available, why not): QLoRA needs the bitsandbytes package and a CUDA device."""
    import torch

    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes is not installed")
    if not torch.cuda.is_available():
        missing.append("no CUDA device is visible")
    return not missing, "; ".join(missing)


@STRATEGIES.register("peft")
class PeftStrategy(FullStrategy):
    """PEFT adapters (method: lora, dora, ia3, prefix, qlora) on the encoder + a trained linear head."""

    name = "peft"
    config_class = PeftStrategyConfig

    def _validate(self) -> None:
        c = self.config
        if c.method not in PEFT_METHODS:
            raise ConfigError(
                f"peft.method must be one of {', '.join(PEFT_METHODS)}. Got {c.method!r} instead."
                f"{did_you_mean(str(c.method), PEFT_METHODS)}"
            )
        problems = []
        for key in ("r", "alpha", "num_virtual_tokens"):
            if getattr(c, key) < 1:
                problems.append(f"peft.{key} must be an int >= 1. Got {getattr(c, key)!r} instead.")
        if not 0.0 <= c.dropout < 1.0:
            problems.append(f"peft.dropout must be in [0, 1). Got {c.dropout!r} instead.")
        if c.feedforward_modules is not None and c.method != "ia3":
            problems.append(f"peft.feedforward_modules only applies to method 'ia3' (method is {c.method!r}).")
        if problems:
            raise ConfigError("\n".join(problems))
        super()._validate()
        if c.method == "qlora":
            ok, why = qlora_available()
            if not ok:
                raise UnsupportedError(
                    f"QLoRA needs bitsandbytes and a CUDA device; {why} here. Use method='lora' (the same adapters "
                    "on the unquantised encoder), or run on a CUDA machine with `pip install bitsandbytes`."
                )

    def _peft_config(self):
        from peft import IA3Config, LoraConfig, PrefixTuningConfig

        c = self.config
        targets = list(c.target_modules) if c.target_modules is not None else None
        if c.method in ("lora", "dora", "qlora"):
            return LoraConfig(r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, target_modules=targets,
                              bias="none", use_dora=c.method == "dora")
        if c.method == "ia3":
            ff = list(c.feedforward_modules) if c.feedforward_modules is not None else None
            if targets is not None and ff is None:
                ff = []
            return IA3Config(target_modules=targets, feedforward_modules=ff)
        return PrefixTuningConfig(num_virtual_tokens=c.num_virtual_tokens, task_type="FEATURE_EXTRACTION")

    def _load_base(self, path: Path):
        if self.config.method != "qlora":
            return super()._load_base(path)
        import torch
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModel, BitsAndBytesConfig

        from polyglot_transfer.adapt.lora import _is_bert

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        extra = {"add_pooling_layer": False} if _is_bert(path) else {}
        base = AutoModel.from_pretrained(str(path), quantization_config=quant, device_map={"": 0}, **extra)
        return prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)

    def _wrap(self, base):
        from peft import get_peft_model

        self._validate()
        try:
            encoder = get_peft_model(base, self._peft_config())
        except (ValueError, KeyError, TypeError) as exc:
            raise UnsupportedError(
                f"PEFT could not apply method {self.config.method!r} to a {base.config.model_type} encoder: {exc}. "
                "Set peft.target_modules to module names of this architecture, or pick another method."
            ) from None
        if self.config.method == "prefix":
            self._smoke_test_prefix(encoder, base.config.model_type)
        return encoder

    @staticmethod
    def _smoke_test_prefix(encoder, model_type: str) -> None:
        import torch

        ids = torch.tensor([[0, 1, 2]], device=next(encoder.parameters()).device)
        try:
            with torch.no_grad():
                encoder(input_ids=ids, attention_mask=torch.ones_like(ids))
        except Exception as exc:  # noqa: BLE001  (any failure here means the architecture cannot take prefixes)
            raise UnsupportedError(
                f"Prefix tuning does not work with this {model_type} encoder: its attention did not accept the "
                f"learned key/value prefixes ({type(exc).__name__}: {exc}). Use method 'lora', 'dora' or 'ia3'."
            ) from None

    def peft_trainable_parameters(self) -> int:
        """Trainable parameters PEFT reports for the adapters alone (the head not included)."""
        return int(self.model_.encoder.get_nb_trainable_parameters()[0])

    def _save_weights(self, folder: Path) -> None:
        from safetensors.torch import save_file

        self.model_.encoder.save_pretrained(str(folder / "adapter"), safe_serialization=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.model_.head.state_dict().items()},
                  str(folder / "head.safetensors"))

    def _load_weights(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights
        from safetensors.torch import load_file

        self.model_ = self._build(len(self.labels_))
        device = str(self._device())
        set_peft_model_state_dict(self.model_.encoder, load_peft_weights(str(folder / "adapter"), device=device))
        self.model_.head.load_state_dict(load_file(str(folder / "head.safetensors"), device=device))
        self.model_.eval()
