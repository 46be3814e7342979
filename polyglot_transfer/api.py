"""The Python front door's own functions: load a config (a file or a shipped example) and run a comparison.

``import polyglot_transfer as pgt`` re-exports these with the package's other entry points (see
``polyglot_transfer/__init__.py``); the CLI's ``pgt validate`` / ``pgt compare`` call the same functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polyglot_transfer.data.corpora import example_config_path
from polyglot_transfer.errors import ConfigError
from polyglot_transfer.evaluation import config as _config
from polyglot_transfer.evaluation.compare import RunResult, run_compare
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.evaluation.validate import load_checked_config
from polyglot_transfer.evaluation.validate import validate_config as _validate_file

__all__ = ["compare", "load_config", "validate_config", "config_path"]

ConfigLike = str | os.PathLike | CompareConfig | Mapping[str, Any]


def config_path(name_or_path: str | os.PathLike) -> Path:
    """The config file to read: `name_or_path` when it is a file, else the shipped example of that name.

    ``config_path("demo")`` and ``config_path("eval/configs/demo.yaml")`` both find the demo config from any
    folder, also in a wheel install. ConfigError (listing the examples) when neither exists.
    """
    return example_config_path(name_or_path)


def load_config(path: str | os.PathLike, overrides: Sequence[str] | None = None) -> CompareConfig:
    """Read, override and validate a `pgt compare` config; a ConfigError lists every problem at once.

    `path` is a YAML file or the name of a shipped example (``"demo"``, ``"nusax"``); `overrides` are the
    CLI's ``--set`` items, e.g. ``["seeds=[0,1]", "setups.lora.adapt.epochs=2"]``.
    """
    return load_checked_config(config_path(path), list(overrides or []))


def validate_config(path: str | os.PathLike, overrides: Sequence[str] | None = None) -> list[str]:
    """Every problem in a config (a file or a shipped example name), without loading a model; [] when valid."""
    try:
        resolved = config_path(path)
    except ConfigError as exc:
        return [str(exc)]
    return _validate_file(resolved, list(overrides or []))


def _as_config(config: ConfigLike, overrides: Sequence[str] | None) -> CompareConfig:
    if isinstance(config, CompareConfig):
        if overrides:
            raise ConfigError("compare(): overrides apply to a config file or mapping; got a CompareConfig "
                              "object and overrides. Change the object's fields instead, or pass the file.")
        return config
    if isinstance(config, Mapping):
        raw = _config.apply_overrides(dict(config), list(overrides or []))
        built, problems = _config.build_config(raw, source="config")
        if problems:
            raise ConfigError(f"{len(problems)} problem(s) in the config mapping:\n- " + "\n- ".join(problems))
        return built
    if isinstance(config, str | os.PathLike):
        return load_config(config, overrides)
    raise ConfigError(f"compare() needs a config file, an example name, a mapping or a CompareConfig; got "
                      f"{type(config).__name__}. Example: pgt.compare('demo').")


def compare(
    config: ConfigLike,
    *,
    overrides: Sequence[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> RunResult:
    """Run the comparison a config describes (fine-tuning vs retrieval vs both, per language) and write the report.

    `config` is a YAML file, a shipped example name (``"demo"``), a mapping with the YAML's keys, or a
    CompareConfig from :func:`load_config`. The run folder (`output_dir`, else the config's, else
    ``runs/<name>``) resumes when the same call is repeated. Returns the run folder, the results and the
    report paths (``result.reports["markdown"]``, ``["html"]``).
    """
    path = config_path(config) if isinstance(config, str | os.PathLike) else None  # named in the report header
    return run_compare(_as_config(config, overrides), run_dir=output_dir, progress=progress, config_path=path)
