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

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Annotated, Any

from annotated_types import Ge, MinLen

from polyglot_transfer.errors import ConfigError, LanguageError
from polyglot_transfer.evaluation.config import CompareConfig, read_config_file
from polyglot_transfer.evaluation.validate import Problem, check_raw, raise_problems
from polyglot_transfer.languages import resolve_language
from polyglot_transfer.typed_config import typed, validate


@typed
@dataclass
class AdaptConfig:
    """An adapt config (the shape; the task, strategy parameters and languages are checked as the equivalent
    one-setup compare config)."""

    task: dict[str, Any]
    strategy: Annotated[str, MinLen(1)]
    name: str | None = None
    model: str = CompareConfig.model
    source_language: str = "eng_Latn"
    params: dict[str, Any] = field(default_factory=dict)
    evaluate_on: list[str] = field(default_factory=list)  # target languages to score besides the source
    seed: int = 0
    output_dir: str | None = None
    threads: Annotated[int, Ge(1)] | None = None
    bootstrap: dict[str, Any] | None = None
    metrics: list[str] | None = None


ADAPT_KEYS = tuple(f.name for f in dataclasses.fields(AdaptConfig))


def _same_language(a: str, b: str) -> bool:
    try:
        return resolve_language(a).code == resolve_language(b).code
    except LanguageError:
        return a == b


def adapt_to_compare(raw: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Translate an adapt config into the equivalent one-setup compare config (raw mapping)."""
    _, problems = validate(AdaptConfig, raw, "")
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    strategy = raw["strategy"]
    src = raw.get("source_language", "eng_Latn")
    # the source is always scored; an alias of it in evaluate_on is the same language, not a second one
    targets = [src] + [lang for lang in raw.get("evaluate_on") or [] if not _same_language(lang, src)]
    out = {
        "name": raw.get("name") or f"adapt-{strategy}",
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


def is_adapt_config(raw: dict[str, Any]) -> bool:
    """An adapt config names one `strategy` at the top level; a compare config has `setups`."""
    return "strategy" in raw and "setups" not in raw


def check_file(path: str | os.PathLike, overrides: list[str] | None = None, *,
               run_dir: str | os.PathLike | None = None) -> tuple[CompareConfig | None, list[Problem]]:
    """What `pgt validate` checks: a compare or an adapt config, its data and its run folder."""
    raw = read_config_file(path, overrides)
    if is_adapt_config(raw):
        try:
            raw = adapt_to_compare(raw, str(path))
        except ConfigError as exc:
            return None, [(ConfigError, line) for line in str(exc).splitlines()]
    return check_raw(raw, str(path), run_dir=run_dir)


def load_adapt_config(path: str | os.PathLike, overrides: list[str] | None = None) -> CompareConfig:
    raw = adapt_to_compare(read_config_file(path, overrides), str(path))
    config, problems = check_raw(raw, str(path))
    raise_problems(problems, str(path))
    return config  # type: ignore[return-value]


def run_adapt(path: str | os.PathLike, overrides: list[str] | None = None, *, progress: bool = True):
    from polyglot_transfer.evaluation.compare import run_compare  # noqa: PLC0415

    return run_compare(load_adapt_config(path, overrides), progress=progress, check=False)  # checked there
