"""Tiny random models built from config, reusing real tokenizers: fast, real code paths for tests.

`build_tiny_encoder` writes a BERT encoder (optionally with an MLM head) as a sentence-transformers
folder; `build_tiny_decoder` a Llama-style causal LM; `build_tiny_cross_encoder` a BERT reranker. Weights are random (seeded), architectures
and tokenizers are the real ones, so every loader, trainer and saver runs as it does on real models.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from polyglot_transfer.errors import ModelError


def _copy_tokenizer(source: Path, out: Path) -> None:
    copied = False
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                 "sentencepiece.bpe.model", "tokenizer.model", "chat_template.jinja", "merges.txt", "vocab.json"):
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
            copied = True
    if not copied:
        raise ModelError(f"{source} holds no tokenizer files (tokenizer.json, vocab.txt, ...) to reuse.")


def _prepare(source: Path, out: Path):
    """Create `out` with the tokenizer of `source` and return that tokenizer."""
    from transformers import AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    _copy_tokenizer(source, out)
    return AutoTokenizer.from_pretrained(str(out))


def _save_tiny_bert(
    out: Path, tokenizer_from: Path, *, head: str, hidden: int = 32, layers: int = 2, heads: int = 2,
    intermediate: int = 64, max_positions: int = 128, seed: int = 0,
) -> None:
    """A random BERT (`head`: "none", "mlm" or "relevance", one logit) with the tokenizer of `tokenizer_from`."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

    tokenizer = _prepare(tokenizer_from, out)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate, max_position_embeddings=max_positions, type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id or 0, **({"num_labels": 1} if head == "relevance" else {}),
    )
    torch.manual_seed(seed)
    if head == "mlm":
        model = BertForMaskedLM(config)
    elif head == "relevance":
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(str(out), safe_serialization=True)


def build_tiny_encoder(
    out: str | Path,
    tokenizer_from: str | Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 128,
    mlm_head: bool = False,
    seed: int = 0,
) -> Path:
    """A random BERT with the tokenizer of `tokenizer_from` (a model folder), saved as safetensors
    plus sentence-transformers modules (mean pooling, normalised)."""
    from polyglot_transfer.models.convert_e5s1 import write_sentence_transformers_modules

    source, out = Path(tokenizer_from), Path(out)
    _save_tiny_bert(out, source, head="mlm" if mlm_head else "none", hidden=hidden, layers=layers, heads=heads,
                    intermediate=intermediate, max_positions=max_positions, seed=seed)
    prompts = {}
    st_config = source / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = json.loads(st_config.read_text()).get("prompts") or {}
    write_sentence_transformers_modules(out, hidden, max_seq_length=max_positions, prompts=prompts)
    return out


def build_tiny_decoder(
    out: str | Path,
    tokenizer_from: str | Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 256,
    seed: int = 0,
) -> Path:
    """A random Llama-style causal LM with the tokenizer of `tokenizer_from`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    source, out = Path(tokenizer_from), Path(out)
    tokenizer = _prepare(source, out)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=heads, intermediate_size=intermediate, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(str(out), safe_serialization=True)
    return out


def build_tiny_cross_encoder(out: str | Path, tokenizer_from: str | Path, **sizes: int) -> Path:
    """A random BERT cross-encoder (sequence classification, one relevance logit) with the tokenizer of
    `tokenizer_from`; sentence-transformers' `CrossEncoder` loads the folder as it loads a hub reranker.
    `sizes` (hidden, layers, heads, intermediate, max_positions, seed) are as for `build_tiny_encoder`."""
    out = Path(out)
    _save_tiny_bert(out, Path(tokenizer_from), head="relevance", **sizes)
    return out
