"""Generative-QA setups of `pgt compare`: what each one is, its config blocks, its prompt and its answer rule.

A setup of a ``generative_qa`` task is one of four kinds, read from the blocks it has:

- ``closed_book`` (no ``adapt``, no ``retrieval``): the decoder answers from the question alone, zero-shot or
  with ``generate.shots`` source-language question/answer demonstrations in the prompt;
- ``ft`` (``adapt``, strategy ``generation``, e.g. ``method: lora``): the decoder fine-tuned on
  source-language question/answer pairs with the closed-book prompt (zero-shot transfer to the targets);
- ``rag`` (``retrieval``): passages retrieved from a FAISS index of the task documents (dense, BM25 or
  hybrid), cut to ``passage_tokens`` each and packed into ``max_context_tokens`` (retrieval.rag_prompts),
  with the target language's instruction;
- ``ft+rag`` (both): the decoder fine-tuned on retrieval-format prompts, RAFT-style (the gold passage plus
  ``distractors`` retrieved non-gold passages, shuffled), and run with retrieval at inference.

The prompt (:func:`build_prompt`) is the same for every kind, passages and demonstrations where the kind has
them, and ends in ``Answer:``; the answer rule (:func:`extract_answer`): leading whitespace is dropped (a base
decoder such as gemma-3-270m starts its answer with a newline), the answer is the first line, cut where the
model starts a new ``Question:``, without a leading passage marker such as ``[1]`` (a base decoder given
numbered passages often copies one) and stripped of surrounding quotes. Generation stops at the end of that
line or at EOS.

Everything here is pure: no model is loaded (config validation calls it at `pgt validate` time).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Interval

from polyglot_transfer.errors import PGTError
from polyglot_transfer.measure.metrics import get_metric
from polyglot_transfer.retrieval.rag_prompts import INSTRUCTIONS
from polyglot_transfer.typed_config import typed
from polyglot_transfer.typed_config import validate as validate_typed

__all__ = ["QAGenerateConfig", "QARetrievalConfig", "QA_KINDS", "build_prompt", "check_qa_setup", "check_qa_model",
           "describe_qa_setup", "extract_answer", "qa_kind", "qa_view"]

QA_KINDS = ("closed_book", "ft", "rag", "ft+rag")
DEFAULT_EMBEDDER = "intfloat/multilingual-e5-small"
QA_STRATEGY = "generation"


@typed
@dataclass
class QAGenerateConfig:
    """A QA setup's `generate:` block: prompt and decoding."""

    shots: Annotated[int, Interval(ge=0, le=8)] = 0  # source-language demonstrations in the prompt
    max_new_tokens: Annotated[int, Interval(ge=1, le=256)] = 24
    batch_size: Annotated[int, Ge(1)] = 8
    answer_language_hint: bool = True  # a line "Answer in <language>." before "Answer:"


@typed
@dataclass
class QARetrievalConfig:
    """A QA setup's `retrieval:` block: passages from a FAISS index of the task documents."""

    embedder: str = DEFAULT_EMBEDDER  # the retrieval encoder (the compare `model` is the decoder)
    k: Annotated[int, Interval(ge=1, le=20)] = 3  # passages retrieved per question
    mode: Literal["dense", "bm25", "hybrid_rrf", "hybrid_norm"] = "dense"
    passage_tokens: Annotated[int, Ge(8)] = 96  # each passage is cut to this many decoder tokens
    max_context_tokens: Annotated[int, Ge(16)] = 320  # all passages of one prompt (retrieval.rag_prompts packing)
    distractors: Annotated[int, Interval(ge=0, le=10)] = 2  # ft+rag training: non-gold retrieved passages (RAFT)


def qa_kind(setup: Any) -> str:
    """closed_book, ft, rag or ft+rag, from the blocks a setup has."""
    if setup.adapt and setup.retrieval:
        return "ft+rag"
    if setup.adapt:
        return "ft"
    return "rag" if setup.retrieval else "closed_book"


_DESCRIPTIONS = {
    "closed_book": "the decoder prompted without passages",
    "ft": "the decoder fine-tuned on source-language question/answer pairs (closed-book prompt)",
    "rag": "passages retrieved from a FAISS index of the task documents, answer generated",
    "ft+rag": "the decoder fine-tuned with retrieved contexts (gold passage + distractors, RAFT) and run with retrieval",
}


def describe_qa_setup(setup: Any) -> str:
    if setup.description:
        return setup.description
    kind = qa_kind(setup)
    text = f"{kind}: {_DESCRIPTIONS[kind]}"
    if setup.adapt:
        text += f" ({setup.adapt.get('method', 'full')})"
    shots = (setup.generate or {}).get("shots", 0)
    return text + (f", {shots}-shot" if shots else "")


# --------------------------------------------------------------------------- validation


def check_qa_setup(where: str, setup: Any, task_name: str) -> list[str]:
    """Problems with one setup of a generative_qa task (its `generate`, `retrieval` and `adapt` blocks)."""
    problems = []
    if setup.generate is not None:
        problems += _typed_problems(QAGenerateConfig, setup.generate, f"{where}.generate")
    if setup.retrieval is not None:
        found = _typed_problems(QARetrievalConfig, setup.retrieval, f"{where}.retrieval")
        if found:
            vote = sorted(set(setup.retrieval) & {"temperature", "use_examples", "use_documents", "recipe"})
            if vote:
                found.append(f"{where}.retrieval: {', '.join(vote)} belong to the kNN vote of classification tasks; "
                             f"task {task_name!r} (generative_qa) retrieves passages for the decoder. Allowed keys: "
                             "embedder, k, mode, passage_tokens, max_context_tokens, distractors.")
        problems += found
    if setup.adapt is not None and setup.adapt.get("strategy") == QA_STRATEGY:
        fixed = sorted(set(setup.adapt) & {"template", "context_key"})
        if fixed:
            problems.append(f"{where}.adapt: {', '.join(fixed)} cannot be set in a QA setup: the prompt is part of "
                            "the setup's definition (evaluation/qa_setups.py build_prompt). Remove them.")
    return problems


def _typed_problems(cls: type, params: Any, where: str) -> list[str]:
    if not isinstance(params, dict):
        return [f"{where} must be a mapping. Got {params!r}."]
    _, problems = validate_typed(cls, params, where)
    return problems


def check_qa_model(model: str, task_name: str, where: str) -> list[str]:
    """A generative_qa task needs a decoder (causal LM) or an encoder-decoder: read from the folder or the catalog."""
    from polyglot_transfer.adapt.base import model_family
    from polyglot_transfer.models.catalog import CATALOG
    from polyglot_transfer.models.provision import is_provisioned, model_path

    path = Path(model).expanduser()
    if path.is_dir():
        family = model_family(path)
    elif model in CATALOG and is_provisioned(model):
        family = model_family(model_path(model))
    elif model in CATALOG:
        family = {"decoder": "decoder", "seq2seq": "encoder-decoder"}.get(CATALOG.get(model).kind, "encoder")
    else:
        return []  # reported as an unknown model elsewhere
    if family in ("decoder", "encoder-decoder"):
        return []
    return [f"{where}: model {model!r} is an {family}; task {task_name!r} (generative_qa) generates answers, so its "
            "setups need a decoder (causal LM) or an encoder-decoder, e.g. model: google/gemma-3-270m. Encoders "
            "serve as the retriever: setups.<name>.retrieval.embedder."]


# --------------------------------------------------------------------------- prompt and answer


def _language(lang: str) -> Any:
    from polyglot_transfer.languages import resolve_language

    return resolve_language(lang)


def _block(question: str, lang: str, answer: str | None, hint: bool) -> str:
    lines = [f"Question: {' '.join(question.split())}"]
    if hint:
        lines.append(f"Answer in {_language(lang).name}.")
    lines.append("Answer:" if answer is None else f"Answer: {answer}")
    return "\n".join(lines)


def build_prompt(question: str, lang: str, *, passages: Sequence[str] | None = None,
                 demos: Sequence[tuple[str, str, str]] = (), hint: bool = True) -> str:
    """The prompt of every QA setup: [instruction + numbered passages] [demonstrations] question, ``Answer:``.

    `passages` (already numbered and packed, see retrieval.rag_prompts.RagPrompt.pack) come with the
    target language's instruction; `demos` are (question, lang, answer) demonstrations.
    """
    parts = []
    if passages:
        parts.append(INSTRUCTIONS.get(_language(lang).iso639_3, INSTRUCTIONS["eng"]))
        parts.append("\n".join(passages))
    parts += [_block(q, dlang, a, hint) for q, dlang, a in demos]
    parts.append(_block(question, lang, None, hint))
    return "\n\n".join(parts)


_PASSAGE_MARKER = re.compile(r"^(?:\[\d{1,2}\]\s*)+")


def extract_answer(raw: str) -> str:
    """The answer in a generation: the first non-blank line, cut at a new "Question:", without a leading
    passage marker ("[1] ", copied from the numbered passages of the rag prompt), quotes stripped."""
    text = raw.lstrip()
    line = text.split("\n", 1)[0]
    line = line.split("Question:", 1)[0]
    line = _PASSAGE_MARKER.sub("", line.strip())
    return line.strip().strip("\"'“”«»").strip()


# --------------------------------------------------------------------------- how a metric reads a QA cell


def qa_view(metric_name: str, cell: dict[str, Any]) -> tuple[Any, list, list, bool] | None:
    """(metric with its options, y_true, y_pred, paired) for one QA cell, or None where it does not apply.

    `paired`: whether two setups share y_true, so the paired test against the baseline applies (the
    supported-answer share is scored against each setup's own passages: no paired test).
    """
    lang = cell["language"]
    answers, preds = cell["y_true"], cell["y_pred"]
    metric = get_metric(metric_name)
    if metric_name in ("exact_match", "token_f1"):
        return metric.with_options(lang=lang), answers, preds, True
    if metric_name in ("chrf", "chrf_pp"):
        return metric, answers, preds, True
    if metric_name == "answer_language":
        return metric, [lang] * len(preds), preds, True
    if metric_name == "gold_passage_recall":
        seen, gold = cell.get("seen_doc_ids"), cell.get("gold_doc_ids")
        if seen is None or gold is None:
            return None
        keep = [i for i, g in enumerate(gold) if g]
        if not keep:
            return None
        return metric, [gold[i] for i in keep], [seen[i] for i in keep], True
    if metric_name == "answer_supported":
        passages = cell.get("seen_passages")
        if passages is None:
            return None
        return metric.with_options(lang=lang), passages, preds, False
    raise PGTError(f"Metric {metric_name!r} does not score generative QA cells.")
