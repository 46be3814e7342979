"""Retrieval-augmented generation as a langchain-core Runnable: retrieve -> prompt -> generate.

    chain = build_rag_chain(IndexRetriever(index=index, embedder=embedder), LocalGenerator(path))
    chain.invoke({"question": "Ta ni ...?", "lang": "yor_Latn"})   # {"answer", "documents", "prompt", "lang"}
    chain.batch(["q1", "q2"])                                     # retrieval batched in one encode + search
    for chunk in chain.stream("q1"): ...                          # answer text chunks (str)

The answer language is, in order: the input's "lang", the chain's `lang`, the question's language
detected among the languages of the retrieved documents, and the most common language of those
documents (their metadata "lang").
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig

from polyglot_transfer.errors import ConfigError, LanguageError
from polyglot_transfer.measure.answer_language import detect_language
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.retrieval.rag_prompts import RagPrompt

logger = logging.getLogger(__name__)


def _parse_input(value: Any) -> tuple[str, str | None]:
    if isinstance(value, str):
        question, lang = value, None
    elif isinstance(value, dict) and "question" in value:
        unknown = sorted(set(value) - {"question", "lang"})
        if unknown:
            raise ConfigError(f"RAG input has unknown keys {unknown}; expected {{'question': str, 'lang': code}}.")
        question, lang = value["question"], value.get("lang")
    else:
        raise ConfigError(
            f"RAG input must be a question string or {{'question': str, 'lang': optional code}}. "
            f"Got {type(value).__name__} {str(value)[:80]!r} instead."
        )
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"question must be a non-empty str. Got {question!r} instead.")
    if lang is not None and not isinstance(lang, str):
        raise ConfigError(f"lang must be a language code such as 'yor_Latn' or None. Got {lang!r} instead.")
    return question, lang


def _document_langs(documents: Sequence[Document]) -> list[str]:
    langs = []
    for doc in documents:
        lang = (doc.metadata or {}).get("lang")
        if isinstance(lang, str) and lang:
            try:
                langs.append(resolve_language(lang).code)
            except LanguageError:
                logger.debug("RAG chain: ignoring unresolvable document lang %r.", lang)
    return langs


class RagChain(Runnable[Any, dict[str, Any]]):
    """retrieve -> RagPrompt -> generator. Build it with :func:`build_rag_chain`."""

    def __init__(self, retriever: Any, generator: Any, prompt: RagPrompt | None = None, lang: str | None = None):
        if not (callable(getattr(retriever, "invoke", None)) or callable(getattr(retriever, "retrieve_batch", None))):
            raise ConfigError(
                f"retriever must be a langchain BaseRetriever (invoke) or have retrieve_batch(). "
                f"Got {type(retriever).__name__} instead."
            )
        if not callable(getattr(generator, "generate", None)):
            raise ConfigError(
                f"generator must have generate(prompts) -> list[str] (e.g. LocalGenerator). "
                f"Got {type(generator).__name__} instead."
            )
        if prompt is not None and not isinstance(prompt, RagPrompt):
            raise ConfigError(f"prompt must be a RagPrompt or None. Got {type(prompt).__name__} instead.")
        self.retriever = retriever
        self.generator = generator
        self.prompt = prompt or RagPrompt()
        self.lang = resolve_language(lang).code if lang is not None else None

    # -- steps --------------------------------------------------------------------------------------
    def retrieve(self, questions: list[str]) -> list[list[Document]]:
        """Documents for each question; one batched call when the retriever has retrieve_batch."""
        if callable(getattr(self.retriever, "retrieve_batch", None)):
            return self.retriever.retrieve_batch(questions)
        return [self.retriever.invoke(q) for q in questions]

    def answer_language(self, question: str, lang: str | None, documents: Sequence[Document]) -> str | None:
        """The language the answer should be in (canonical code), or None when nothing tells."""
        if lang is not None:
            return resolve_language(lang).code
        if self.lang is not None:
            return self.lang
        doc_langs = _document_langs(documents)
        if not doc_langs:
            return None
        detected = detect_language(question, candidates=sorted(set(doc_langs)))
        return detected or Counter(doc_langs).most_common(1)[0][0]

    def prepare(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Everything but the answer: question, documents, answer language and prompt for each input."""
        parsed = [_parse_input(i) for i in inputs]
        docs = self.retrieve([q for q, _ in parsed])
        out = []
        for (question, lang), documents in zip(parsed, docs):
            lang = self.answer_language(question, lang, documents)
            out.append({"documents": documents, "lang": lang, "prompt": self.prompt.build(question, documents, lang)})
        return out

    def _run(self, inputs: list[Any]) -> list[dict[str, Any]]:
        prepared = self.prepare(inputs)
        answers = self.generator.generate([p["prompt"] for p in prepared])
        return [{"answer": a, **p} for a, p in zip(answers, prepared)]

    # -- Runnable -----------------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """{"answer", "documents", "prompt", "lang"} for one question."""
        return self._call_with_config(lambda value: self._run([value])[0], input, config)

    def batch(
        self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
        return_exceptions: bool = False, **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Answers for many questions: one batched retrieval, one generate() call."""
        if not inputs:
            return []
        return self._batch_with_config(self._run, list(inputs), config, return_exceptions=return_exceptions)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        """Yield the answer as text chunks (use invoke() for the documents and prompt)."""
        prepared = self.prepare([input])[0]
        stream = getattr(self.generator, "stream", None)
        chunks = stream(prepared["prompt"]) if callable(stream) else self.generator.generate([prepared["prompt"]])
        any_chunk = False
        for chunk in chunks:
            if chunk:
                any_chunk = True
                yield chunk
        if not any_chunk:  # an empty answer is still one (empty) chunk, as LangChain streams always yield
            yield ""


def build_rag_chain(
    retriever: Any, generator: Any, prompt: RagPrompt | None = None, lang: str | None = None
) -> RagChain:
    """A Runnable RAG chain: input a question or {"question", "lang"}; output {"answer", "documents", "prompt", "lang"}.

    `lang` fixes the answer language for every question (an input's own "lang" still wins).
    """
    return RagChain(retriever, generator, prompt=prompt, lang=lang)
