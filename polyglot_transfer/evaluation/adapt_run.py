"""`pgt adapt CONFIG`: run one strategy, as a one-setup comparison.

An adapt config names a task, a model, a source language, a strategy and its parameters::

    name: lora-agri
    task: {corpus: agri_advice}
    model: intfloat/multilingual-e5-small
    source_language: eng_Latn
    strategy: lora
    params: {epochs: 3}
    evaluate_on: [swh_Latn, yor_Latn]   # optional: target languages to score besides the source
    seed: 0

It runs through the same runner as `pgt compare` (one setup named after the strategy), so the run
folder holds the trained weights (safetensors) under models/, the strategy config, the resolved
YAML, the manifest (versions, hashes, seeds), per-language scores with CIs, the source-language
forgetting report, and a rerun resumes instead of retraining.
"""

from __future__ import annotations

import os
from typing import Any

from polyglot_transfer.errors import ConfigError, did_you_mean
from polyglot_transfer.evaluation.config import CompareConfig, build_config, read_config_file

ADAPT_KEYS = ("name", "task", "model", "source_language", "strategy", "params", "evaluate_on", "seed",
              "output_dir", "threads", "bootstrap", "metrics")


def adapt_to_compare(raw: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Translate an adapt config into the equivalent one-setup compare config (raw mapping)."""
    unknown = [k for k in raw if k not in ADAPT_KEYS]
    if unknown:
        raise ConfigError("\n".join(
            f"{source}: unknown key {k!r}.{did_you_mean(k, ADAPT_KEYS)} Known keys: {', '.join(ADAPT_KEYS)}."
            for k in unknown))
    if "strategy" not in raw:
        raise ConfigError(f"{source}: missing required key 'strategy' (see `pgt ls strategies`).")
    strategy = raw["strategy"]
    src = raw.get("source_language", "eng_Latn")
    targets = [src] + [lang for lang in raw.get("evaluate_on") or [] if lang != src]
    out = {
        "name": raw.get("name", f"adapt-{strategy}"),
        "task": raw.get("task"),
        "model": raw.get("model", CompareConfig.model),
        "source_language": src,
        "target_languages": targets,
        "setups": {str(strategy): {"adapt": {"strategy": strategy, **(raw.get("params") or {})}}},
        "seeds": [raw.get("seed", 0)],
    }
    for key in ("output_dir", "threads", "bootstrap", "metrics"):
        if key in raw:
            out[key] = raw[key]
    return out


def load_adapt_config(path: str | os.PathLike, overrides: list[str] | None = None) -> CompareConfig:
    raw = adapt_to_compare(read_config_file(path, overrides), str(path))
    config, problems = build_config(raw, source=str(path))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {path}:\n- " + "\n- ".join(problems))
    return config


def run_adapt(path: str | os.PathLike, overrides: list[str] | None = None, *, progress: bool = True):
    from polyglot_transfer.evaluation.compare import run_compare  # noqa: PLC0415

    return run_compare(load_adapt_config(path, overrides), progress=progress)
