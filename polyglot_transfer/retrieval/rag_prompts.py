"""The RAG prompt: an instruction, retrieved passages packed into a token budget, the question, the answer language.

Passages are packed greedily in retrieval order (best first): a passage that does not fit whole is
skipped, and so is every passage after it, so the prompt never holds a passage cut mid-way, except
the first one, which is truncated to fit (a prompt with no context at all helps nobody).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from typing import Any

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

# Short instructions per ISO 639-3 code; English is the fallback for every other language.
INSTRUCTIONS: dict[str, str] = {
    "eng": "Answer the question using only the passages below. If they do not contain the answer, say so.",
    "swh": "Jibu swali kwa kutumia vifungu vilivyo hapa chini pekee. Ikiwa havina jibu, sema hivyo.",
    "hau": "Amsa tambayar ta amfani da bayanan da ke ƙasa kawai. Idan babu amsar a ciki, faɗi haka.",
    "yor": "Dáhùn ìbéèrè náà nípa lílo àwọn àyọkà ìsàlẹ̀ yìí nìkan. Tí ìdáhùn kò bá sí níbẹ̀, sọ bẹ́ẹ̀.",
    "fra": "Réponds à la question en utilisant uniquement les passages ci-dessous. "
           "S'ils ne contiennent pas la réponse, dis-le.",
    "hin": "केवल नीचे दिए गए अंशों का उपयोग करके प्रश्न का उत्तर दें। यदि उनमें उत्तर नहीं है, तो ऐसा कहें।",
}
INSTRUCTIONS["swa"] = INSTRUCTIONS["swh"]  # the Swahili macrolanguage code

DEFAULT_TEMPLATE = "{instruction}\n\n{context}\n\nQuestion: {question}\n{answer_line}"
TEMPLATE_FIELDS = ("instruction", "context", "question", "answer_line")


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"template is not a valid str.format template ({exc}). Escape literal braces as {{{{ }}}}.")


def _page_content(doc: Any) -> str:
    return str(getattr(doc, "page_content", doc))


class RagPrompt:
    """Build RAG prompts: `RagPrompt(max_context_tokens=512, tokenizer=tok).build(question, docs, "yor_Latn")`.

    `template` is a str.format template using the fields {instruction}, {context}, {question} and
    {answer_line}; {context} and {question} are required. `max_context_tokens` bounds the passage text
    (numbering included); tokens are counted with `tokenizer` (anything with `encode`) when given,
    else as whitespace-separated words. `documents` are langchain Documents or plain strings.
    """

    def __init__(self, template: str | None = None, max_context_tokens: int = 512, tokenizer: Any = None) -> None:
        if not isinstance(max_context_tokens, int) or isinstance(max_context_tokens, bool) or max_context_tokens < 1:
            raise ConfigError(f"max_context_tokens must be an int >= 1. Got {max_context_tokens!r} instead.")
        template = DEFAULT_TEMPLATE if template is None else template
        if not isinstance(template, str):
            raise ConfigError(f"template must be a str. Got {type(template).__name__} instead.")
        fields = _template_fields(template)
        unknown = sorted(fields - set(TEMPLATE_FIELDS))
        missing = [f for f in ("context", "question") if f not in fields]
        if unknown or missing:
            raise ConfigError(
                f"template fields {sorted(fields)} are wrong: unknown {unknown}, missing {missing}. "
                f"Use only {list(TEMPLATE_FIELDS)}, with {{context}} and {{question}} present."
            )
        if tokenizer is not None and not callable(getattr(tokenizer, "encode", None)):
            raise ConfigError(f"tokenizer must have an encode() method. Got {type(tokenizer).__name__} instead.")
        self.template = template
        self.max_context_tokens = max_context_tokens
        self.tokenizer = tokenizer

    # -- token counting ---------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens in `text`: tokenizer ids (no special tokens) when a tokenizer is set, else words."""
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _truncate(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        if self.tokenizer is None:
            return " ".join(text.split()[:n_tokens])
        ids = self.tokenizer.encode(text, add_special_tokens=False)[:n_tokens]
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()

    # -- packing ----------------------------------------------------------------------------------
    def pack(self, documents: Sequence[Any]) -> list[str]:
        """The numbered passages that fit the budget, in retrieval order ("[1] text", "[2] text", ...)."""
        packed: list[str] = []
        used = 0
        for i, doc in enumerate(documents):
            passage = f"[{i + 1}] {' '.join(_page_content(doc).split())}"
            cost = self.count_tokens(passage)
            if used + cost <= self.max_context_tokens:
                packed.append(passage)
                used += cost
                continue
            if i == 0:
                prefix_cost = self.count_tokens("[1] ")
                body = self._truncate(_page_content(doc), self.max_context_tokens - prefix_cost)
                # re-tokenising the decoded text can drift by a token: shrink until it fits
                while body and self.count_tokens(f"[1] {body}") > self.max_context_tokens:
                    body = self._truncate(body, self.count_tokens(body) - 1)
                if body:
                    packed.append(f"[1] {body}")
                logger.debug("RagPrompt: first passage truncated to fit %d tokens.", self.max_context_tokens)
            else:
                logger.debug("RagPrompt: %d of %d passages fit %d tokens.", i, len(documents), self.max_context_tokens)
            break
        return packed

    def build(self, question: str, documents: Sequence[Any], lang: str | None = None) -> str:
        """The full prompt; `lang` (any code or name resolve_language accepts) sets the answer language."""
        if not isinstance(question, str) or not question.strip():
            raise ConfigError(f"question must be a non-empty str. Got {question!r} instead.")
        instruction = INSTRUCTIONS["eng"]
        answer_line = ""
        if lang is not None:
            language = resolve_language(lang)
            instruction = INSTRUCTIONS.get(language.iso639_3, INSTRUCTIONS["eng"])
            answer_line = f"Answer in {language.name}."
        context = "\n".join(self.pack(documents))
        prompt = self.template.format(
            instruction=instruction, context=context, question=question.strip(), answer_line=answer_line
        )
        return prompt.rstrip() + "\n"
