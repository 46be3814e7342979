"""Fine-tuning a generator to answer a question from a passage: causal LM (decoders) or seq2seq (T5 / mT5).

Training data is a TextDataset whose examples hold the question as `text`, the answer as `label` and
the passage in `meta[context_key]` (optional: closed-book without it). The prompt is
`template.format(context=..., question=...)`. Decoders learn the answer tokens after the prompt (the
prompt positions are masked with -100); encoder-decoders read the prompt and learn the answer as the
target. Training runs through the transformers `Trainer`, full or LoRA; `generate` decodes greedily.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from polyglot_transfer.adapt.base import (
    STRATEGIES,
    Strategy,
    check_choice,
    check_family,
    check_number,
    epoch_losses,
    training_arguments,
)
from polyglot_transfer.adapt.full import model_family
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import ConfigError, DataError, UnsupportedError
from polyglot_transfer.models.provision import resolve_model

logger = logging.getLogger(__name__)


@dataclass
class GenerationConfig:
    method: str = "full"  # "full" or "lora"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: PEFT's default for the architecture
    epochs: float = 3.0
    learning_rate: float = 5e-4
    batch_size: int = 8
    max_source_length: int = 384
    max_target_length: int = 32
    max_new_tokens: int = 32
    template: str = "Context: {context}\nQuestion: {question}\nAnswer:"
    context_key: str = "context"

    def __post_init__(self) -> None:
        where = "generation"
        check_choice(f"{where}.method", self.method, ("full", "lora"))
        for name in ("r", "alpha", "batch_size", "max_new_tokens"):
            check_number(f"{where}.{name}", getattr(self, name), low=1, integer=True)
        check_number(f"{where}.max_source_length", self.max_source_length, low=8, integer=True)
        check_number(f"{where}.max_target_length", self.max_target_length, low=1, integer=True)
        check_number(f"{where}.dropout", self.dropout, low=0, high=1)
        check_number(f"{where}.epochs", self.epochs, low=0, low_open=True)
        check_number(f"{where}.learning_rate", self.learning_rate, low=0, low_open=True)
        if "{question}" not in self.template:
            raise ConfigError(f"generation.template must contain '{{question}}'. Got {self.template!r} instead.")


@STRATEGIES.register("generation")
class GenerationStrategy(Strategy):
    """Question answering from a passage by generation; `generate(questions, contexts)` -> answers."""

    name = "generation"
    config_class = GenerationConfig
    tasks: ClassVar[frozenset[str]] = frozenset({"generation"})
    model_families: ClassVar[frozenset[str]] = frozenset({"decoder", "encoder-decoder"})

    def _build(self, folder: Path | None = None) -> None:
        import torch
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        path = resolve_model(self.model)
        self.family_ = model_family(path)
        check_family(self.name, self.family_, self.model_families, self.model)
        torch.manual_seed(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        if self.tokenizer_.pad_token is None:
            self.tokenizer_.pad_token = self.tokenizer_.eos_token
        auto = AutoModelForCausalLM if self.family_ == "decoder" else AutoModelForSeq2SeqLM
        if self.config.method == "full":
            self.model_ = auto.from_pretrained(str(folder / "model" if folder is not None else path))
            return
        base = auto.from_pretrained(str(path))
        if folder is not None:
            self.model_ = PeftModel.from_pretrained(base, str(folder / "adapter"))
            return
        c = self.config
        task = TaskType.CAUSAL_LM if self.family_ == "decoder" else TaskType.SEQ_2_SEQ_LM
        self.model_ = get_peft_model(base, LoraConfig(
            task_type=task, r=c.r, lora_alpha=c.alpha, lora_dropout=c.dropout, bias="none",
            target_modules=list(c.target_modules) if c.target_modules else None,
        ))

    def prompt(self, question: str, context: str | None = None) -> str:
        """The model input; without a passage, template lines that mention {context} are left out (closed book)."""
        template = self.config.template
        if not context:
            template = "\n".join(line for line in template.split("\n") if "{context}" not in line)
        return template.format(question=question, context=context or "")

    def _features(self, prompts: list[str], answers: list[str]) -> dict[str, list[list[int]]]:
        tok, c = self.tokenizer_, self.config
        if self.family_ == "encoder-decoder":
            enc = tok(prompts, truncation=True, max_length=c.max_source_length)
            labels = tok(text_target=answers, truncation=True, max_length=c.max_target_length)["input_ids"]
            return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        rows: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for prompt, answer in zip(prompts, answers):
            p = tok(prompt, truncation=True, max_length=c.max_source_length)["input_ids"]
            a = (tok(" " + answer, add_special_tokens=False)["input_ids"] + eos)[: c.max_target_length]
            rows["input_ids"].append(p + a)
            rows["attention_mask"].append([1] * (len(p) + len(a)))
            rows["labels"].append([-100] * len(p) + a)
        return rows

    def _contexts(self, data: TextDataset) -> list[str | None]:
        return [e.meta.get(self.config.context_key) for e in data]

    def fit(self, train: TextDataset) -> GenerationStrategy:
        """Fine-tune on question (text) -> answer (label) pairs, passage in meta[context_key]."""
        from datasets import Dataset
        from transformers import DataCollatorForSeq2Seq, Trainer

        if not isinstance(train, TextDataset):
            raise UnsupportedError(f"generation trains on a TextDataset of questions with answers as labels; got "
                                   f"{type(train).__name__}.")
        answers = train.labels
        if any(a is None for a in answers):
            raise DataError(f"generation: every training question needs an answer (label); "
                            f"{answers.count(None)} of {len(answers)} have none.")
        self._build()
        prompts = [self.prompt(q, ctx) for q, ctx in zip(train.texts, self._contexts(train))]
        ds = Dataset.from_dict(self._features(prompts, answers))
        params = list(self.model_.parameters())
        self.trainable_ = (sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params))
        with tempfile.TemporaryDirectory(prefix="pgt-gen-") as tmp:
            args = training_arguments(tmp, epochs=self.config.epochs, lr=self.config.learning_rate,
                                      batch_size=self.config.batch_size, seed=self.seed)
            collator = DataCollatorForSeq2Seq(self.tokenizer_, label_pad_token_id=-100)
            trainer = Trainer(model=self.model_, args=args, train_dataset=ds, data_collator=collator)
            trainer.train()
            self.train_loss_ = epoch_losses(trainer)
        self.model_.eval()
        self.labels_ = ["<generated>"]  # generation has no label set; save() records this marker
        return self

    def trainable_parameters(self) -> tuple[int, int]:
        return self.trainable_

    def generate(self, questions: list[str] | TextDataset, contexts: list[str | None] | None = None,
                 batch_size: int = 8) -> list[str]:
        """Greedy answers to `questions` (a TextDataset brings its own contexts from meta)."""
        import torch

        self._require_fitted()
        if isinstance(questions, TextDataset):
            contexts = self._contexts(questions) if contexts is None else contexts
            questions = questions.texts
        questions = list(questions)
        contexts = list(contexts) if contexts is not None else [None] * len(questions)
        if len(contexts) != len(questions):
            raise DataError(f"generation.generate: {len(questions)} questions but {len(contexts)} contexts.")
        tok = self.tokenizer_
        device = next(self.model_.parameters()).device
        answers: list[str] = []
        side = tok.padding_side
        tok.padding_side = "left" if self.family_ == "decoder" else "right"
        try:
            with torch.inference_mode():
                for start in range(0, len(questions), batch_size):
                    prompts = [self.prompt(q, c) for q, c in
                               zip(questions[start : start + batch_size], contexts[start : start + batch_size])]
                    batch = tok(prompts, truncation=True, max_length=self.config.max_source_length, padding=True,
                                return_tensors="pt").to(device)
                    out = self.model_.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                               max_new_tokens=self.config.max_new_tokens, do_sample=False,
                                               pad_token_id=tok.pad_token_id)
                    if self.family_ == "decoder":
                        out = out[:, batch["input_ids"].shape[1]:]
                    answers.extend(t.strip() for t in tok.batch_decode(out, skip_special_tokens=True))
        finally:
            tok.padding_side = side
        return answers

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        raise UnsupportedError("generation produces text, not class probabilities: call generate(questions, "
                               "contexts) instead of predict_proba / predict.")

    def predict(self, texts: list[str]) -> list[str]:  # type: ignore[override]
        """Answers to `texts` (questions without passages); same as `generate(texts)`."""
        return self.generate(texts)

    def _save_weights(self, folder: Path) -> None:
        sub = folder / ("model" if self.config.method == "full" else "adapter")
        self.model_.save_pretrained(str(sub), safe_serialization=True)

    def _load_weights(self, folder: Path) -> None:
        self._build(folder)
        self.model_.eval()
