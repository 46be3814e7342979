"""Convert a GGUF decoder (as shipped in a wheel) into a normal transformers folder (safetensors).

transformers reads GGUF through the `gguf` package and dequantises on load (30-165 s on 2 cores),
so this runs once at provisioning time and the HF folder is cached.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from polyglot_transfer.errors import ModelError
from polyglot_transfer.fileio import atomic_write_json

logger = logging.getLogger(__name__)


def convert_gguf(gguf_path: Path, out: Path, dtype: str = "bfloat16", *, chat_template: bool = True) -> None:
    """Load `gguf_path` with transformers and save it as safetensors + tokenizer into `out`.

    `chat_template=False` (base models) drops any chat template the GGUF's metadata carries, so
    generators prompt the model with plain text, as it was trained.
    """
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise ModelError("Converting a GGUF model needs the 'gguf' package: pip install gguf") from exc
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    logger.info("Dequantising %s (this takes a minute or two)", name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained while it still looks quantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(getattr(torch, dtype)).save_pretrained(str(out), safe_serialization=True)
    if not chat_template:
        tokenizer.chat_template = None
    tokenizer.save_pretrained(str(out))
    if not chat_template:
        _drop_chat_template(out)
    logger.info("Saved %s as safetensors into %s", name, out)


def _drop_chat_template(out: Path) -> None:
    """Remove a chat template from a saved tokenizer folder (file and config key)."""
    for name in ("chat_template.jinja", "chat_template.json"):
        (out / name).unlink(missing_ok=True)
    cfg_path = out / "tokenizer_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text())
        if cfg.pop("chat_template", None) is not None:
            atomic_write_json(cfg_path, cfg)
