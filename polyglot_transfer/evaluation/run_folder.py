"""The layout of a compare run folder: where cells, trained models, forgetting scores and diagnostics live.

Shared by the runner (which writes them), the results builder (which reads them) and Ray workers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from polyglot_transfer.evaluation.config import CompareConfig, SetupConfig
from polyglot_transfer.fileio import sha256_text

SETUP_DESCRIPTIONS = {
    "head": "frozen encoder + logistic-regression head (feature extraction)",
    "lora": "LoRA fine-tuning of the encoder (PEFT), linear-probe initialised head",
    "rag": "retrieval of labelled examples and task documents (FAISS), similarity-weighted vote",
}
#: Strategies that leave the pre-trained encoder untouched: nothing to forget, so not measured.
FROZEN_STRATEGIES = frozenset({"head", "zero_shot", "prompting"})
FORGETTING_DIR = "forgetting"
DIAGNOSTICS_FILE = "diagnostics.json"


def key_of(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, default=str))[:10]


def safe_name(name: str) -> str:
    return name.replace("/", "_")


def describe_setup(name: str, setup: SetupConfig) -> str:
    if setup.description:
        return setup.description
    parts = []
    if setup.adapt:
        strategy = setup.adapt.get("strategy", "?")
        parts.append(SETUP_DESCRIPTIONS.get(strategy, f"{strategy} adaptation"))
    if setup.retrieval is not None:
        parts.append(SETUP_DESCRIPTIONS["rag"])
    text = " + ".join(parts)
    if setup.adapt and setup.retrieval is not None and setup.combine_weight is None:
        text += " (probabilities mixed by a weight chosen on source-language dev predictions)"
    elif setup.adapt and setup.retrieval is not None:
        text += f" (probabilities mixed {setup.combine_weight:g} : {1 - setup.combine_weight:g})"
    return text


def cell_path(run_dir: Path, seed: int, source: str, setup: str, lang: str) -> Path:
    """Where the predictions of one grid cell are stored."""
    return Path(run_dir) / "cells" / f"seed{seed}" / source / safe_name(setup) / f"{lang}.json"


def model_dir(run_dir: Path, config: CompareConfig, setup: SetupConfig, source: str, seed: int) -> Path:
    """The folder of the model a setup trains on one source with one seed (shared by setups with equal `adapt`)."""
    params = dict(setup.adapt or {})
    name = params.pop("strategy", "?")
    return Path(run_dir) / "models" / f"{name}-{key_of([name, params, config.model])}-{source}-seed{seed}"


def trains_encoder(setup: SetupConfig) -> bool:
    """Whether a setup's strategy changes the encoder (so it can forget the source language)."""
    return bool(setup.adapt) and setup.adapt.get("strategy") not in FROZEN_STRATEGIES


def forgetting_path(run_dir: Path, model_folder: Path) -> Path:
    return Path(run_dir) / FORGETTING_DIR / f"{model_folder.name}.json"
