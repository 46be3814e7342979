"""Convert a GGUF decoder (as shipped in a wheel) into a normal transformers folder (safetensors).

transformers reads GGUF through the `gguf` package and dequantises on load (30-165 s on 2 cores),
so this runs once at provisioning time and the HF folder is cached.
"""

from __future__ import annotations

import logging
from pathlib import Path

from polyglot_transfer.errors import ModelError

logger = logging.getLogger(__name__)


def convert_gguf(gguf_path: Path, out: Path, dtype: str = "bfloat16") -> None:
    """Load `gguf_path` with transformers and save it as safetensors + tokenizer into `out`."""
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
    tokenizer.save_pretrained(str(out))
