"""The layout of a compare run folder: where cells, trained models, forgetting scores and diagnostics live.

Shared by the runner (which writes them), the results builder (which reads them) and Ray workers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from polyglot_transfer.adapt.base import STRATEGY_FILE
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

logger = logging.getLogger(__name__)


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


# -- reading back what a run wrote: validated, never trusted ---------------------------------------------

#: Keys a cell file must hold, with the type of each.
CELL_KEYS: dict[str, type | tuple[type, ...]] = {
    "setup": str, "source": str, "language": str, "seed": int, "labels": list, "ids": list,
    "y_true": list, "y_pred": list,
}
# Cells of every task type share these keys: classification holds one label per text, token classification
# one list of tags per sentence, generative QA (which also has `kind`, and `labels: []`) one answer per question.


def cell_problem(cell: Any) -> str | None:
    """What is wrong with the content of a cell file, or None when it is a complete cell."""
    if not isinstance(cell, dict):
        return f"holds a {type(cell).__name__}, expected an object"
    missing = [k for k in CELL_KEYS if k not in cell]
    if missing:
        return f"lacks {', '.join(missing)}"
    for key, kind in CELL_KEYS.items():
        if not isinstance(cell[key], kind) or isinstance(cell[key], bool):
            return f"{key} is a {type(cell[key]).__name__}, expected {getattr(kind, '__name__', kind)}"
    n = len(cell["y_true"])
    if n == 0:
        return "has no predictions (y_true is empty)"
    if len(cell["y_pred"]) != n or len(cell["ids"]) != n:
        return f"has {n} gold labels but {len(cell['y_pred'])} predictions and {len(cell['ids'])} ids"
    if "kind" in cell or not cell["labels"]:  # a generative-QA cell: free-text answers, no label set
        if not all(isinstance(y, str) for y in cell["y_pred"]):
            return "has an answer that is not text (y_pred holds a non-string)"
        return None
    labels = set(map(str, cell["labels"]))
    if any(isinstance(y, list) for y in cell["y_pred"] + cell["y_true"]):  # token classification: tags per token
        for i, (gold, pred) in enumerate(zip(cell["y_true"], cell["y_pred"])):
            if not isinstance(gold, list) or not isinstance(pred, list) or len(gold) != len(pred):
                return f"sentence {i} has {_size(gold)} gold tags but {_size(pred)} predicted tags"
        predicted = {str(tag) for sentence in cell["y_pred"] for tag in sentence}
    else:
        predicted = {str(y) for y in cell["y_pred"]}
    unknown = sorted(predicted - labels)
    if unknown:
        return f"predicts labels outside its label set: {', '.join(unknown[:3])}"
    return None


def _size(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else f"a {type(value).__name__} instead of a list of"


def read_json_file(path: str | Path, *, what: str = "file") -> Any | None:
    """The parsed JSON of `path`; None (with a warning) when it is empty, truncated or not JSON; None when absent."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning("The %s %s cannot be read (%s); it will be recomputed.", what, path, exc)
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        logger.warning("The %s %s is damaged (%s: empty, truncated or not JSON); it will be recomputed.",
                       what, path, exc.msg)
        return None


def read_cell(path: str | Path) -> dict[str, Any] | None:
    """The content of a finished cell file, or None when it is absent or damaged.

    A damaged cell (empty, truncated, garbled, or missing predictions) is logged as a warning and treated
    as not done, so the runner computes it again and overwrites it atomically.
    """
    cell = read_json_file(path, what="cell file")
    if cell is None:
        return None
    problem = cell_problem(cell)
    if problem:
        logger.warning("The cell file %s %s; it will be recomputed.", path, problem)
        return None
    return cell


def model_problem(folder: str | Path) -> str | None:
    """What is wrong with a saved model folder (strategy.json + safetensors), or None when it is complete."""
    from safetensors import safe_open

    folder = Path(folder)
    marker = folder / STRATEGY_FILE
    if not marker.is_file():
        return f"holds no {STRATEGY_FILE}"
    meta = read_json_file(marker, what="model marker")
    if not isinstance(meta, dict):
        return f"{STRATEGY_FILE} is damaged (empty, truncated or not an object)"
    missing = [k for k in ("strategy", "config", "model", "seed", "labels") if k not in meta]
    if missing:
        return f"{STRATEGY_FILE} lacks {', '.join(missing)}"
    for weights in sorted(folder.rglob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="numpy") as f:
                list(f.keys())
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
            return f"{weights.relative_to(folder)} is damaged ({type(exc).__name__}: {exc})"
    return None


def model_complete(folder: str | Path) -> bool:
    """Whether a saved model folder can be reused; a damaged one is logged as a warning (it is retrained)."""
    folder = Path(folder)
    if not folder.exists():
        return False
    problem = model_problem(folder)
    if problem:
        logger.warning("The saved model %s %s; it will be trained again.", folder, problem)
        return False
    return True
