"""Fine-tuning a generator to answer a question from a passage: causal LM (decoders) or seq2seq (T5 / mT5).

This module adds the ``generation`` task to the engine. Training data is a TextDataset whose examples hold
the question as `text`, the answer as `label` and the passage in `meta[context_key]` (optional: closed-book
without it). The prompt is `template.format(context=..., question=...)`. Decoders learn the answer tokens
after the prompt (the prompt positions are masked with -100); encoder-decoders read the prompt and learn
the answer as the target. Training runs through the engine (full or LoRA); `generate` decodes greedily,
batched on the model's device (left padding for decoders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from polyglot_transfer.adapt.base import (
    STRATEGIES, AtLeastOne, Dropout, Epochs, Length, LoraFields, Positive, Share, TrainerFields,
)
from polyglot_transfer.adapt.engine import TASK_PREDICT, TASKS, Task, TunedStrategy, inference, pretrained_model
from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.errors import DataError, UnsupportedError
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)


@typed
@dataclass
class GenerationConfig(TrainerFields, LoraFields):
    method: Literal["full", "lora"] = "full"
    dropout: Dropout = 0.05
    target_modules: list[str] | None = None  # None: PEFT's default for the architecture
    epochs: Epochs = 3
    learning_rate: Positive = 5e-4
    batch_size: AtLeastOne = 8
    warmup_ratio: Share = 0.0
    max_source_length: Length = 384
    max_target_length: AtLeastOne = 32
    max_new_tokens: AtLeastOne = 32
    template: str = "Context: {context}\nQuestion: {question}\nAnswer:"
    context_key: str = "context"

    def check(self, where: str) -> list[str]:
        if "{question}" not in self.template:
            return [f"{where}.template must contain '{{question}}'. Got {self.template!r} instead."]
        return []


def _contexts(s: Any, data: TextDataset) -> list[str | None]:
    return [e.meta.get(s.config.context_key) for e in data]


def _features(s: Any, prompts: list[str], answers: list[str]) -> dict[str, list[list[int]]]:
    tok, c = s.tokenizer_, s.config
    if s.family_ == "encoder-decoder":
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


def _build(s: Any, path: Path, folder: Path | None) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if s.tokenizer_.pad_token is None:
        s.tokenizer_.pad_token = s.tokenizer_.eos_token
    auto = AutoModelForCausalLM if s.family_ == "decoder" else AutoModelForSeq2SeqLM
    return pretrained_model(s, auto, path, folder)


def _prepare(s: Any, train: Any, source: Any) -> tuple[Any, Any]:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq

    if not isinstance(train, TextDataset):
        raise UnsupportedError(f"{s.name} trains on a TextDataset of questions with answers as labels; got "
                               f"{type(train).__name__}.")
    answers = train.labels
    if any(a is None for a in answers):
        raise DataError(f"{s.name}: every training question needs an answer (label); "
                        f"{answers.count(None)} of {len(answers)} have none.")
    s.model_ = s._build()
    s.labels_ = ["<generated>"]  # generation has no label set; save() records this marker
    prompts = [s.prompt(q, ctx) for q, ctx in zip(train.texts, _contexts(s, train))]
    return Dataset.from_dict(_features(s, prompts, answers)), \
        DataCollatorForSeq2Seq(s.tokenizer_, label_pad_token_id=-100)


def _no_probabilities(s: Any, texts: Any, batch_size: int) -> np.ndarray:
    raise UnsupportedError(f"{s.name} produces text, not class probabilities: call generate(questions, contexts) "
                           "instead of predict_proba / predict.")


TASKS["generation"] = Task({"decoder": "CAUSAL_LM", "encoder-decoder": "SEQ_2_SEQ_LM"}, _build, _prepare)
TASK_PREDICT["generation"] = _no_probabilities


@STRATEGIES.register("generation")
class GenerationStrategy(TunedStrategy):
    """Question answering from a passage by generation; `generate(questions, contexts)` -> answers."""

    name = "generation"
    config_class = GenerationConfig
    tasks = ("generation",)
    model_families = frozenset({"decoder", "encoder-decoder"})

    def prompt(self, question: str, context: str | None = None) -> str:
        """The model input; without a passage, template lines that mention {context} are left out (closed book)."""
        template = self.config.template
        if not context:
            template = "\n".join(line for line in template.split("\n") if "{context}" not in line)
        return template.format(question=question, context=context or "")

    def generate(self, questions: list[str] | TextDataset, contexts: list[str | None] | None = None,
                 batch_size: int = 8) -> list[str]:
        """Greedy answers to `questions` (a TextDataset brings its own contexts from meta)."""
        self._require_fitted()
        if isinstance(questions, TextDataset):
            contexts = _contexts(self, questions) if contexts is None else contexts
            questions = questions.texts
        questions = list(questions)
        contexts = list(contexts) if contexts is not None else [None] * len(questions)
        if len(contexts) != len(questions):
            raise DataError(f"{self.name}.generate: {len(questions)} questions but {len(contexts)} contexts.")
        tok = self.tokenizer_
        answers: list[str] = []
        side = tok.padding_side
        tok.padding_side = "left" if self.family_ == "decoder" else "right"
        try:
            with inference(self.model_, self.config.autocast) as device:
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
                    answers.extend(t.strip() for t in tok.batch_decode(out.cpu(), skip_special_tokens=True))
        finally:
            tok.padding_side = side
        return answers

    def predict(self, texts: list[str]) -> list[str]:  # type: ignore[override]
        """Answers to `texts` (questions without passages); same as `generate(texts)`."""
        return self.generate(texts)
