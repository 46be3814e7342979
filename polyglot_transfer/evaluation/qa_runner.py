"""One (seed, source) unit of a generative-QA comparison: every setup answers every target's questions.

The compare runner hands a ``generative_qa`` unit to :func:`run_qa_unit`; the setups are defined in
:mod:`polyglot_transfer.evaluation.qa_setups` (kinds, prompt, answer rule). Shared work is built once per
unit and freed when no longer needed: the base decoder (closed_book and rag), one fine-tuned decoder per
distinct `adapt` (+ retrieval format for ft+rag), one retriever per distinct `retrieval` block. Fine-tuned
decoders are saved in the run folder (adapter weights for LoRA) and reused on resume; each finished cell is
written atomically, so a rerun skips it. Generation is batched (left padding, KV cache) through
:class:`~polyglot_transfer.retrieval.generators.LocalGenerator`, greedy, stopping at the end of the answer
line or EOS.

A QA cell holds, per question: the id, the question, the gold answers (``y_true``), the extracted answer
(``y_pred``), the raw generation, and for retrieval setups the ids and texts of the passages the generator
saw (``seen_doc_ids``, ``seen_passages``) with the gold passage ids (``gold_doc_ids``).

Gold passages across languages: a document may name the document it translates (``translation_of`` in its
row, kept in ``meta``); the gold set of a question is every version of its gold document (the original and
all its translations, followed transitively), so a Swahili question that retrieves the Swahili version of
its document is a hit. :func:`document_versions` builds those sets.
"""

from __future__ import annotations

import datetime as _dt
import gc
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

from polyglot_transfer.adapt import build_strategy, load_strategy
from polyglot_transfer.adapt.base import config_from_dict
from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.errors import DataError
from polyglot_transfer.evaluation.qa_setups import (
    QAGenerateConfig,
    QARetrievalConfig,
    build_prompt,
    extract_answer,
    qa_kind,
)
from polyglot_transfer.evaluation.run_folder import cell_path, key_of, model_complete, read_cell
from polyglot_transfer.fileio import atomic_write_json
from polyglot_transfer.measure.metrics import get_metric

logger = logging.getLogger(__name__)

__all__ = ["answerable", "document_versions", "gold_answers", "run_qa_unit"]


def gold_answers(example: Example) -> list[str]:
    """The reference answers of a question: meta["answers"] (QA files, AfriQA), else its label."""
    answers = [a for a in (example.meta or {}).get("answers") or [] if isinstance(a, str) and a.strip()]
    if not answers and example.label:
        answers = [example.label]
    return answers


def answerable(ds: TextDataset) -> TextDataset:
    """The questions that have a reference answer (AfriQA has unanswerable ones: no answer to score against)."""
    kept = [e for e in ds if gold_answers(e)]
    if len(kept) < len(ds):
        logger.info("%s: %d of %d questions have no reference answer and are left out.", ds.name,
                    len(ds) - len(kept), len(ds))
    return ds if len(kept) == len(ds) else TextDataset(kept, name=ds.name)


def document_versions(docs: TextDataset | None) -> dict[str, list[str]]:
    """Doc id -> ids of every version of that document (itself first, then the others in collection order).

    A document's ``meta["translation_of"]`` names the document it translates; versions are the documents
    connected through those links (a translation of a translation is a version too). Raises DataError for
    a link to an id that is not in the collection.
    """
    if docs is None:
        return {}
    ids = [e.id for e in docs]
    known = set(ids)
    root = {d: d for d in ids}  # union-find over the translation links

    def find(d: str) -> str:
        while root[d] != d:
            d = root[d]
        return d

    for e in docs:
        target = (e.meta or {}).get("translation_of")
        if target in (None, ""):
            continue
        target = str(target)
        if target not in known:
            raise DataError(f"Document {e.id!r} of {docs.name!r} has translation_of {target!r}, which is not a "
                            f"document id of the collection ({len(known)} documents). Fix the id or remove the "
                            "field (an original document has none).")
        root[find(e.id)] = find(target)
    groups: dict[str, list[str]] = {}
    for d in ids:
        groups.setdefault(find(d), []).append(d)
    return {d: [d] + [o for o in groups[find(d)] if o != d] for d in ids}


class _Unit:
    """The lazily built, shared pieces of one (seed, source) unit."""

    def __init__(self, runner: Any, seed: int, source: str, data: Any) -> None:
        self.runner, self.config, self.seed, self.source, self.data = runner, runner.config, seed, source, data
        self._base = None
        self._retrievers: dict[str, Any] = {}
        self._embedders: dict[str, Any] = {}
        self._tokenizer = None
        docs = data.documents
        self.doc_text = {e.id: e.text for e in docs} if docs is not None else {}
        self.doc_lang = {e.id: e.lang for e in docs} if docs is not None else {}
        self.versions = document_versions(docs)
        self.gold_by_query: dict[str, list[str]] = {}
        for e in docs or []:
            for qid in (e.meta or {}).get("query_ids") or []:
                self.gold_by_query.setdefault(qid, []).append(e.id)

    # -- pieces ---------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from polyglot_transfer.models.provision import resolve_model

            self._tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(self.config.model)))
        return self._tokenizer

    def base_generator(self) -> Any:
        if self._base is None:
            from polyglot_transfer.retrieval.generators import LocalGenerator

            self._base = LocalGenerator(self.config.model, use_chat_template=False, stop_at_line_end=True)
        return self._base

    def gold_ids(self, example: Example) -> list[str]:
        """Every version of the question's gold document(s): the named one first, then its translations."""
        doc = (example.meta or {}).get("doc_id")
        named = [str(doc)] if doc else list(self.gold_by_query.get(example.id, []))
        return list(dict.fromkeys(v for d in named for v in self.versions.get(d, [d])))

    def training_gold(self, example: Example) -> list[str]:
        """The one gold passage of a RAFT training prompt: the version in the question's language if there is
        one, else the named gold document."""
        gold = self.gold_ids(example)
        same = [d for d in gold if self.doc_lang.get(d) == example.lang]
        return (same or gold)[:1]

    def retriever(self, rcfg: QARetrievalConfig) -> Any:
        key = key_of([rcfg.embedder, rcfg.mode])
        if key not in self._retrievers:
            from polyglot_transfer.retrieval.embedder import Embedder
            from polyglot_transfer.retrieval.faiss_index import VectorIndex
            from polyglot_transfer.retrieval.hybrid import HybridRetriever

            docs = self.data.documents
            if docs is None or len(docs) == 0:
                raise DataError(f"Task {self.data.name!r} has no documents to retrieve from; a rag / ft+rag setup "
                                "needs them (task.documents, or a task that ships documents).")
            if rcfg.embedder not in self._embedders:
                self._embedders[rcfg.embedder] = Embedder(rcfg.embedder)
            embedder = self._embedders[rcfg.embedder]
            index = VectorIndex(embedder.dim, embedder_identity=embedder.identity)
            index.add(embedder.encode_passages(docs.texts), docs.texts,
                      [{"lang": e.lang, "title": (e.meta or {}).get("title", "")} for e in docs], keys=docs.ids)
            self._retrievers[key] = HybridRetriever(index=index, embedder=embedder, k=rcfg.k, mode=rcfg.mode)
        return self._retrievers[key]

    def retrieve(self, rcfg: QARetrievalConfig, questions: list[str], k: int) -> list[list[tuple[str, str]]]:
        """(doc id, text) of the top-k passages per question, best first."""
        rows = self.retriever(rcfg).retrieve_batch(questions, k=k)
        return [[(str(d.id), d.page_content) for d in row] for row in rows]

    def shorten(self, text: str, n_tokens: int) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return text if len(ids) <= n_tokens else self.tokenizer.decode(ids[:n_tokens], skip_special_tokens=True).strip()

    def pack(self, rcfg: QARetrievalConfig, passages: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
        """(numbered passages in the prompt, their doc ids, their texts): each cut to passage_tokens, or to an
        equal share of max_context_tokens when the k passages would not fit it whole (so no retrieved passage
        is dropped for want of a few tokens), packed into max_context_tokens (retrieval.rag_prompts.RagPrompt.pack:
        whole passages, best first)."""
        from polyglot_transfer.retrieval.rag_prompts import RagPrompt

        marker = 6  # "[n] " costs ~4 decoder tokens per passage; re-tokenising a cut passage can add one or two
        share = rcfg.max_context_tokens // max(1, len(passages)) - marker
        cut = max(8, min(rcfg.passage_tokens, share))
        short = [(doc_id, self.shorten(text, cut)) for doc_id, text in passages]
        packed = RagPrompt(max_context_tokens=rcfg.max_context_tokens, tokenizer=self.tokenizer).pack(
            [text for _, text in short])
        seen = short[: len(packed)]
        return packed, [d for d, _ in seen], [t for _, t in seen]

    def demos(self, gcfg: QAGenerateConfig) -> list[tuple[str, str, str]]:
        train = self.data.trains[self.source]
        chosen = sorted(train, key=lambda e: e.id)[: gcfg.shots]
        return [(e.text, e.lang, gold_answers(e)[0]) for e in chosen]

    # -- fine-tuning ----------------------------------------------------------------------------
    def fine_tuned(self, setup: Any, gcfg: QAGenerateConfig, rcfg: QARetrievalConfig | None) -> Any:
        """The generation strategy trained on source pairs (RAFT prompts when `rcfg`), saved and reused."""
        params = dict(setup.adapt)
        name = params.pop("strategy")
        params["template"] = "{question}"  # the QA prompt is built here, whole (same at training and inference)
        fmt = {"shots": gcfg.shots, "hint": gcfg.answer_language_hint,
               "raft": None if rcfg is None else [rcfg.embedder, rcfg.mode, rcfg.passage_tokens,
                                                  rcfg.max_context_tokens, rcfg.distractors]}
        folder = (Path(self.runner.run_dir) / "models"
                  / f"{name}-{key_of([name, params, fmt, self.config.model])}-{self.source}-seed{self.seed}")
        if model_complete(folder):  # a damaged saved model is logged and trained again
            logger.info("Reusing fine-tuned %s from %s", name, folder)
            return load_strategy(folder)
        train = self.data.trains[self.source]
        examples = self.training_examples(train, gcfg, rcfg)
        strategy = build_strategy(name, params, self.config.model, seed=self.seed)
        checkpoints = folder.with_name(folder.name + ".checkpoints")
        strategy.checkpoint_dir = checkpoints
        t0 = time.perf_counter()
        strategy.fit(TextDataset(examples, name=f"{train.name}-qa-prompts"))
        logger.info("Fine-tuned %s on %d %s pairs (seed %d) in %.1f s", name, len(examples), self.source, self.seed,
                    time.perf_counter() - t0)
        strategy.save(folder)
        shutil.rmtree(checkpoints, ignore_errors=True)
        return strategy

    def training_examples(self, train: TextDataset, gcfg: QAGenerateConfig,
                          rcfg: QARetrievalConfig | None) -> list[Example]:
        demos = self.demos(gcfg)
        rows = list(answerable(train))
        if not rows:
            raise DataError(f"Source {self.source} of task {self.data.name!r} has no questions with an answer to "
                            "fine-tune on.")
        retrieved = self.retrieve(rcfg, [e.text for e in rows], rcfg.k + rcfg.distractors) if rcfg else None
        rng = random.Random(self.seed)
        out = []
        for i, e in enumerate(rows):
            passages = None
            if rcfg is not None:
                gold = [(d, self.doc_text[d]) for d in self.training_gold(e) if d in self.doc_text]
                versions = set(self.gold_ids(e))  # no other version of the gold document as a "distractor"
                others = [p for p in retrieved[i] if p[0] not in versions][: rcfg.distractors]
                chosen = gold + others
                rng.shuffle(chosen)  # the gold passage is not always first
                passages, _, _ = self.pack(rcfg, chosen)
            prompt = build_prompt(e.text, e.lang, passages=passages, demos=[d for d in demos if d[0] != e.text],
                                  hint=gcfg.answer_language_hint)
            out.append(Example(id=e.id, text=prompt, label=gold_answers(e)[0], lang=e.lang))
        return out

    # -- one cell -------------------------------------------------------------------------------
    def answer(self, setup: Any, generator: Any, lang: str, test: TextDataset) -> dict[str, Any]:
        gcfg = config_from_dict(QAGenerateConfig, dict(setup.generate or {}), "generate")
        rcfg = config_from_dict(QARetrievalConfig, dict(setup.retrieval), "retrieval") if setup.retrieval else None
        demos = self.demos(gcfg)
        questions = test.texts
        seen_ids = seen_texts = None
        passages: list[list[str] | None] = [None] * len(test)
        if rcfg is not None:
            seen_ids, seen_texts = [], []
            for i, row in enumerate(self.retrieve(rcfg, questions, rcfg.k)):
                passages[i], ids, texts = self.pack(rcfg, row)
                seen_ids.append(ids)
                seen_texts.append(texts)
        prompts = [build_prompt(q, lang, passages=p, demos=demos, hint=gcfg.answer_language_hint)
                   for q, p in zip(questions, passages)]
        generator.max_new_tokens, generator.batch_size = gcfg.max_new_tokens, gcfg.batch_size
        t0 = time.perf_counter()
        raw = generator.generate(prompts)
        seconds = time.perf_counter() - t0
        return {
            "ids": test.ids, "questions": questions, "y_true": [gold_answers(e) for e in test],
            "y_pred": [extract_answer(r) for r in raw], "raw": raw,
            "gold_doc_ids": [self.gold_ids(e) for e in test] if rcfg is not None else None,
            "seen_doc_ids": seen_ids, "seen_passages": seen_texts, "generate_seconds": round(seconds, 2),
            "prompt_example": prompts[0] if prompts else "",
        }


def run_qa_unit(runner: Any, seed: int, source: str, data: Any, progress: Any) -> list[str]:
    """Answer every target's questions with every setup trained on `source` with `seed`; skip finished cells.

    `runner` is the CompareRunner (config, run_dir); returns the cells written now (relative paths).
    """
    config = runner.config
    unit = _Unit(runner, seed, source, data)
    written: list[str] = []
    for setup_name, setup in config.setups.items():
        todo = [(lang, answerable(test)) for lang, test in data.tests.items()
                if read_cell(cell_path(runner.run_dir, seed, source, setup_name, lang)) is None]  # damaged: redone
        for lang in data.tests:
            if lang not in dict(todo):
                progress.step(f"seed {seed} {source}->{lang} {setup_name}: done earlier")
        if not todo:
            continue
        strategy = None
        if setup.adapt:
            gcfg = config_from_dict(QAGenerateConfig, dict(setup.generate or {}), "generate")
            rcfg = config_from_dict(QARetrievalConfig, dict(setup.retrieval), "retrieval") if setup.retrieval else None
            strategy = unit.fine_tuned(setup, gcfg, rcfg)
            from polyglot_transfer.retrieval.generators import LocalGenerator

            generator = LocalGenerator.from_model(strategy.model_, strategy.tokenizer_, use_chat_template=False,
                                                  stop_at_line_end=True)
        else:
            generator = unit.base_generator()
        for lang, test in todo:
            cell = unit.answer(setup, generator, lang, test)
            path = cell_path(runner.run_dir, seed, source, setup_name, lang)
            atomic_write_json(path, {
                "setup": setup_name, "kind": qa_kind(setup), "source": source, "language": lang, "seed": seed,
                "labels": [], **cell,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            })
            written.append(str(path.relative_to(runner.run_dir)))
            f1 = get_metric("token_f1").with_options(lang=lang)(cell["y_true"], cell["y_pred"], None)
            progress.step(f"seed {seed} {source}->{lang} {setup_name}: token_f1 {f1:.3f}")
        if strategy is not None:  # a fine-tuned decoder is used by this setup only: free its memory
            del strategy, generator
            gc.collect()
    return written

