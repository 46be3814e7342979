"""Vocabulary extension: add target-language pieces to the tokenizer, then a task stage on the extended model.

A sentencepiece model is trained on unlabelled target text; its word-initial pieces (``▁word``) that the
model's tokenizer splits into several pieces become new tokens (`tokenizer.add_tokens`, ranked by the
sentencepiece score, at most `max_new_tokens`). The embedding matrix is resized and each new row is
initialised as the mean of the embeddings of the pieces the *old* tokenizer splits that token into
(the FOCUS / "mean of subwords" baseline), so the model starts from what it already knew.

Why only word-initial pieces: `add_tokens` matches its tokens as plain strings anywhere in the text,
so a suffix piece ("an") would be cut out of every word containing it. Word-initial pieces are mostly
whole frequent words and stems, where that matching is what we want.

Fertility (pieces per whitespace word, pure word-boundary markers not counted) on the target text is
reported before and after (`fertility_before_`, `fertility_after_`). With `mlm_epochs > 0` the extended
model is trained with masked LM on the same text before the task stage, so the new embeddings move.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge

from polyglot_transfer.adapt.base import STRATEGIES, AtLeastOne, NonNegative, read_model_config
from polyglot_transfer.adapt.continued_pretraining import (
    AdaptedEncoderFields, AdaptedEncoderStrategy, copy_sentence_transformers_modules, has_mlm_head,
    train_language_model,
)
from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.languages import split_words
from polyglot_transfer.typed_config import typed

logger = logging.getLogger(__name__)

_MARKERS = "▁Ġ "


def fertility(tokenizer: Any, texts: list[str]) -> float:
    """Pieces per whitespace word of `texts` under `tokenizer` (marker-only pieces such as a lone '▁' not counted)."""
    words = [w for t in texts for w in split_words(t)]
    if not words:
        raise DataError("fertility: the texts hold no words; expected at least one non-empty text.")
    enc = tokenizer(words, add_special_tokens=False)["input_ids"]
    pieces = 0
    for ids in enc:
        pieces += sum(1 for tok in tokenizer.convert_ids_to_tokens(ids) if tok.strip(_MARKERS))
    return pieces / len(words)


def decompose(tokenizer: Any, text: str) -> list[int]:
    """Ids of the pieces `tokenizer` splits `text` into, without pure word-boundary pieces (unless that is all)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    kept = [i for i, tok in zip(ids, tokenizer.convert_ids_to_tokens(ids)) if tok.strip(_MARKERS)]
    return kept or ids


def train_sentencepiece(texts: list[str], *, vocab_size: int, model_type: str) -> Any:
    """An in-memory sentencepiece model trained on `texts` (`vocab_size` is a soft upper limit; single-threaded,
    so deterministic)."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buffer, vocab_size=vocab_size, model_type=model_type,
        hard_vocab_limit=False, character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=buffer.getvalue())


def new_pieces(sp: Any, tokenizer: Any, *, max_new: int, min_length: int) -> list[str]:
    """Word-initial sentencepiece pieces (without '▁') that `tokenizer` splits into 2+ pieces, best score first."""
    vocab = tokenizer.get_vocab()
    candidates = []
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
            continue
        piece = sp.id_to_piece(i)
        if not piece.startswith("▁"):
            continue
        content = piece.lstrip("▁")
        if len(content) < min_length or piece in vocab or content in vocab:
            continue
        if len(decompose(tokenizer, content)) < 2:
            continue
        candidates.append((-sp.get_score(i), i, content))
    candidates.sort()
    seen: set[str] = set()
    out = []
    for _, _, content in candidates:
        if content not in seen:
            seen.add(content)
            out.append(content)
        if len(out) >= max_new:
            break
    return out


def extend_model(model: Any, old_tokenizer: Any, new_tokenizer: Any, added: list[str]) -> dict[str, list[int]]:
    """Resize `model`'s embeddings for `new_tokenizer` and set each added token's row to the mean of the rows of
    its decomposition under `old_tokenizer`. Returns token -> old piece ids."""
    import torch

    rows = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(max(rows, len(new_tokenizer)), mean_resizing=False)
    weight = model.get_input_embeddings().weight
    decompositions: dict[str, list[int]] = {}
    with torch.no_grad():
        for token in added:
            new_id = new_tokenizer.convert_tokens_to_ids(token)
            ids = decompose(old_tokenizer, token)
            weight[new_id] = weight[ids].mean(dim=0)
            decompositions[token] = ids
    return decompositions


@typed
@dataclass
class VocabExtensionConfig(AdaptedEncoderFields):
    vocab_size: Annotated[int, Ge(8)] = 4000  # sentencepiece vocabulary (soft limit: smaller on small corpora)
    sp_model_type: Literal["unigram", "bpe"] = "unigram"
    max_new_tokens: AtLeastOne = 1000
    min_piece_length: AtLeastOne = 2
    mlm_epochs: NonNegative = 0.0  # > 0: masked-LM training on the target text after extending (needs an MLM encoder)


@STRATEGIES.register("vocab_extension")
class VocabExtensionStrategy(AdaptedEncoderStrategy):
    """Target-language tokens added to the tokenizer (mean-of-subword init), then `head` / `lora`."""

    name = "vocab_extension"
    config_class = VocabExtensionConfig

    def _adapt(self, model_path: Path, texts: list[str], out_dir: Path) -> None:
        import torch
        from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

        cfg = self.config
        old = AutoTokenizer.from_pretrained(str(model_path))
        new = AutoTokenizer.from_pretrained(str(model_path))
        sp = train_sentencepiece(texts, vocab_size=cfg.vocab_size, model_type=cfg.sp_model_type)
        added = new_pieces(sp, old, max_new=cfg.max_new_tokens, min_length=cfg.min_piece_length)
        self.fertility_before_ = fertility(old, texts)
        new.add_tokens(added)
        self.fertility_after_ = fertility(new, texts)
        self.added_tokens_ = added
        logger.info("vocab_extension: %d new tokens; fertility %.3f -> %.3f pieces/word", len(added),
                    self.fertility_before_, self.fertility_after_)
        torch.manual_seed(self.seed)
        if cfg.mlm_epochs > 0:
            if not has_mlm_head(model_path):
                logger.warning("%s has no masked-LM head: the MLM stage trains a freshly initialised one.", model_path)
            if new.mask_token is None:
                raise ConfigError(f"vocab_extension.mlm_epochs > 0 needs a masked-LM tokenizer; {self.model} has no "
                                  "mask token. Set mlm_epochs to 0.")
            model = AutoModelForMaskedLM.from_pretrained(str(model_path))
        else:
            bert = read_model_config(model_path).get("model_type") == "bert"
            model = AutoModel.from_pretrained(str(model_path), **({"add_pooling_layer": False} if bert else {}))
        self.decompositions_ = extend_model(model, old, new, added)
        if cfg.mlm_epochs > 0:
            self.pretrain_loss_ = train_language_model(
                model_path, texts, out_dir, objective="mlm", epochs=cfg.mlm_epochs, lr=cfg.lr,
                batch_size=cfg.batch_size, max_length=cfg.max_length, mlm_probability=cfg.mlm_probability,
                seed=self.seed, model=model, tokenizer=new,
            )
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out_dir), safe_serialization=True)
        new.save_pretrained(str(out_dir))
        copy_sentence_transformers_modules(model_path, out_dir)
