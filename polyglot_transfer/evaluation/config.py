"""The `pgt compare` config: dataclasses in code, YAML on disk, dotted overrides, and validation that
reports every problem at once without loading a model.

Example (eval/configs/demo.yaml)::

    name: demo
    task: {corpus: agri_advice}
    model: intfloat/multilingual-e5-small
    sources: [eng_Latn]            # source languages or sets (swh_Latn+eng_Latn); or `source_language: eng_Latn`
    target_languages: [eng_Latn, swh_Latn, yor_Latn]
    setups:
      head: {adapt: {strategy: head}}
      lora: {adapt: {strategy: lora, epochs: 5}}
      rag: {retrieval: {k: 8}}
      lora+rag: {adapt: lora, retrieval: {k: 8}}   # `adapt: SETUP` shares that setup's adapt block
    baseline: head
    backend: local                 # or `ray` (pip install 'polyglot-transfer[ray]')
    # ray_address: HEAD:6379       # with backend ray: an existing cluster (default: a local one)
    # resources: {num_cpus: 1}     # Ray resources per cell; a setup may set its own `resources`

Every rule lives on the typed dataclasses below (``Annotated`` ranges checked by
:mod:`polyglot_transfer.typed_config`); :func:`build_config` adds the checks that need several keys
(languages unique after alias resolution, the baseline is a setup, a strategy supports the model's family)
and reports every problem at once, each with its dotted path. ``pgt validate --schema`` prints the JSON
schema of :class:`CompareConfig` for editors.

The grid is task x setup x source x target x seed. Each (seed, source) pair is one independent unit of
work (train every setup on that source, evaluate on every target); `backend: ray` runs the units as
Ray tasks on a local cluster of `workers` processes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from annotated_types import Ge, Interval, MinLen

from polyglot_transfer.errors import ConfigError, LanguageError, PGTError, did_you_mean
from polyglot_transfer.evaluation.qa_setups import check_qa_model, check_qa_setup
from polyglot_transfer.tasks import TaskConfig, check_task, resolve_task
from polyglot_transfer.typed_config import typed, validate

BACKENDS = ("local", "ray")

@typed
@dataclass
class SetupConfig:
    # {strategy: NAME, **strategy params}; or the name of another setup whose adapt block this one shares
    # (resolved after --set overrides, so `--set setups.lora.adapt.epochs=2` changes both)
    adapt: dict[str, Any] | str | None = None
    retrieval: dict[str, Any] | None = None  # RetrievalConfig fields (k, temperature, ...)
    generate: dict[str, Any] | None = None  # generative QA: prompt and decoding (evaluation/qa_setups.py)
    combine_weight: Annotated[float, Interval(ge=0, le=1)] | None = 0.5  # weight of the adapted model when both are present (null: chosen on source dev predictions)
    description: str = ""
    resources: dict[str, float] | None = None  # Ray resources of this setup's cells, e.g. {num_cpus: 4, num_gpus: 1}


@typed
@dataclass
class BootstrapConfig:
    n_resamples: Annotated[int, Ge(100)] = 1000
    alpha: Annotated[float, Interval(gt=0, lt=1)] = 0.05


@typed
@dataclass
class CompareConfig:
    """A validated `pgt compare` config (see the module docstring); build it with load_config or build_config."""

    name: Annotated[str, MinLen(1)]
    task: TaskConfig
    setups: Annotated[dict[str, SetupConfig], MinLen(1)]
    target_languages: Annotated[list[str], MinLen(1)]
    model: str = "intfloat/multilingual-e5-small"
    source_language: str = "eng_Latn"
    seeds: Annotated[list[Annotated[int, Interval(ge=0, le=2**32 - 1)]], MinLen(1)] = field(default_factory=lambda: [0])
    baseline: str | None = None  # a setup name; comparisons are against it
    metrics: Annotated[list[str], MinLen(1)] = field(default_factory=lambda: ["accuracy", "macro_f1"])
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    output_dir: Annotated[str, MinLen(1)] | None = None  # default: runs/<name>
    threads: Annotated[int, Ge(1)] | None = None  # torch threads (default: all cores; 1 per worker with ray)
    # source languages or sets "a+b" (default: [source_language])
    sources: Annotated[list[str], MinLen(1)] | None = None
    backend: Literal["local", "ray"] = "local"  # "local" (this process) or "ray" (a local Ray cluster)
    workers: Annotated[int, Interval(ge=1, le=1024)] = 2  # Ray workers (CPUs of the local cluster) with ray
    ray_address: str | None = None  # an existing Ray cluster (e.g. ray://head:10001 or auto); default: a local one
    resources: dict[str, float] | None = None  # default Ray resources per cell, e.g. {num_cpus: 1, num_gpus: 0}
    forgetting: bool = True  # measure source-language forgetting of setups that train the encoder
    diagnostics: bool = True  # tokenizer fit of every target vs the sources

    def __post_init__(self) -> None:
        if not self.sources:
            self.sources = [self.source_language]
        self.source_language = self.sources[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- loading ----------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """'setups.lora.adapt.epochs=2' -> (['setups', 'lora', 'adapt', 'epochs'], 2); values are YAML."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} has no '='. Expected KEY.PATH=VALUE, e.g. seeds=[0,1].")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"Override {text!r} has an empty key. Expected KEY.PATH=VALUE.")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"Override {text!r}: the value is not valid YAML ({exc}).") from None
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        path, value = parse_override(item)
        node = raw
        for depth, part in enumerate(path[:-1]):
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                here = ".".join(path[:depth + 1])
                hint = (f" It names the setup whose adapt block is shared: override setups.{node[part]}.adapt."
                        f"{'.'.join(path[depth + 1:])} instead, or replace the whole block ({here}={{...}})."
                        if path[0] == "setups" and part == "adapt" and isinstance(node[part], str) else
                        f" Replace the whole value instead, e.g. {here}={{...}}.")
                raise ConfigError(f"Override {item!r}: {here} is {node[part]!r}, not a mapping, so it has no "
                                  f"key {path[depth + 1]!r}.{hint}")
            node = node[part]
        node[path[-1]] = value
    return raw


def read_config_file(path: str | os.PathLike, overrides: list[str] | None = None) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Config file {path} is a folder. Pass a YAML file, e.g. eval/configs/demo.yaml.")
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass a YAML file, e.g. eval/configs/demo.yaml.")
    return apply_overrides(parse_yaml_file(path), overrides or [])


def parse_yaml_file(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; ConfigError naming the file (and line) when it is not one."""
    try:
        data = path.read_bytes()
    except PermissionError:
        raise ConfigError(f"Config file {path} is not readable (permission denied). Fix its permissions "
                          f"(chmod u+r {path}).") from None
    if b"\x00" in data[:4096]:
        raise ConfigError(f"Config file {path} is binary (it holds NUL bytes), not YAML text. Pass a YAML file, "
                          "e.g. eval/configs/demo.yaml.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"Config file {path}:{line}: byte {data[exc.start:exc.start + 1]!r} is not UTF-8. Save "
                          "the file as UTF-8 text.") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = " ".join(str(p) for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
        raise ConfigError(f"{where}: not valid YAML ({problem or exc}). Fix the syntax there (quote values that "
                          "hold ': ' or '#', indent with spaces).") from None
    if raw is None:
        raise ConfigError(f"Config file {path} is empty. Expected a mapping of keys (name, task, setups, ...); "
                          "start from eval/configs/demo.yaml.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (name, task, setups, ...). Got {type(raw).__name__}.")
    return raw


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _check_keys(data: dict, cls: type, where: str, problems: list[str]) -> dict:
    known = _fields(cls)
    for key in data:
        if key not in known:
            problems.append(f"{where}: unknown key {key!r}.{did_you_mean(str(key), known)} "
                            f"Known keys: {', '.join(known)}.")
    return {k: v for k, v in data.items() if k in known}


def _language_list(raw: dict[str, Any], key: str, source: str, problems: list[str], *,
                   allow_sets: bool = False) -> list[str]:
    """Resolve the list of language codes under `key` (absent or malformed: [], the typed check reports the
    shape), recording every entry that does not resolve or names a language already listed (after alias
    resolution: `[swh_Latn, swa, Swahili]` is one language named three times).

    With `allow_sets`, an entry may be a set of languages joined by "+" (ind_Latn+eng_Latn: train on both).
    """
    from polyglot_transfer.languages import resolve_language

    values = raw.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return []
    codes: list[str] = []
    for i, value in enumerate(values):
        parts = value.split("+") if allow_sets else [value]
        try:
            resolved = [resolve_language(part.strip()).code for part in parts]
        except LanguageError as exc:
            problems.append(f"{source}: {key}[{i}]: {exc}")
            continue
        if len(set(resolved)) != len(resolved):
            problems.append(f"{source}: {key}[{i}]: {value!r} names a language twice. Write a set as "
                            "LANG+LANG, e.g. ind_Latn+eng_Latn.")
            continue
        code = "+".join(resolved)
        if code in codes:
            first = values[codes.index(code)]
            same = f" ({value!r} and {first!r} are the same language)" if value != first else ""
            problems.append(f"{source}: {key}[{i}]: {code} is listed twice{same}. List each language once.")
            continue
        codes.append(code)
    return codes


def _resolve_adapt_references(setups_raw: dict[str, Any], source: str, problems: list[str],
                               references: set[str]) -> dict[str, Any]:
    """`adapt: lora` (a string) shares setup `lora`'s adapt block; replace each reference by a copy of it
    (and add the referring setup's name to `references`)."""
    out: dict[str, Any] = {}
    for name, spec in setups_raw.items():
        if isinstance(spec, dict) and isinstance(spec.get("adapt"), str):
            chain, ref = [name], spec["adapt"]
            while True:
                target = setups_raw.get(ref)
                if ref in chain:
                    problems.append(f"{source}: setups.{name}.adapt: the references {' -> '.join(chain + [ref])} "
                                    "go round in a circle. Give one of them an adapt block {strategy: ...}.")
                    break
                if not isinstance(target, dict) or target.get("adapt") is None:
                    others = [n for n, v in setups_raw.items() if isinstance(v, dict) and v.get("adapt") is not None
                              and n != name]
                    what = "is not a setup" if ref not in setups_raw else "has no adapt block"
                    problems.append(f"{source}: setups.{chain[-1]}.adapt: {ref!r} {what}; a string there names the "
                                    f"setup whose adapt block is shared.{did_you_mean(str(ref), others)} Setups "
                                    f"with an adapt block: {', '.join(map(str, others)) or 'none'}.")
                    break
                chain.append(ref)
                if isinstance(target["adapt"], str):
                    ref = target["adapt"]
                    continue
                spec = {**spec, "adapt": copy.deepcopy(target["adapt"])}
                references.add(name)
                break
        out[name] = spec
    return out


def _split_problems(exc: Exception) -> list[str]:
    """The individual problems in a ConfigError raised by typed_config.build / config_from_dict."""
    lines = str(exc).splitlines()
    if lines and lines[0].rstrip().endswith(":") and "problem" in lines[0]:
        lines = lines[1:]
    return [line[2:] if line.startswith("- ") else line for line in lines if line.strip()]


def model_family_of(model: str) -> str | None:
    """'encoder', 'decoder' or 'encoder-decoder' for a catalog name or a local model folder, read from the
    folder's config.json or the catalog entry; no weights are loaded and nothing is downloaded. None when
    unknown (not a catalog name, no such folder). A corrupt config.json is a ConfigError naming the file."""
    from polyglot_transfer.adapt.base import model_family
    from polyglot_transfer.models.catalog import CATALOG
    from polyglot_transfer.models.provision import model_path

    folder = Path(model).expanduser()
    if not folder.is_dir() and model in CATALOG:
        folder = model_path(model)
        if not (folder / "config.json").is_file():
            return "decoder" if CATALOG.get(model).kind == "decoder" else "encoder"
    if not folder.is_dir():
        return None
    try:
        return model_family(folder)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{folder / 'config.json'} is not valid JSON ({exc}); the model folder is damaged. "
                          "Provision it again (pgt models pull NAME --force) or fix the file.") from None
    except OSError as exc:
        raise ConfigError(f"{folder / 'config.json'} cannot be read ({exc.strerror or exc}).") from None


RESOURCE_KEYS = ("num_cpus", "num_gpus")


def _check_resources(resources: Any, where: str, problems: list[str]) -> None:
    """`resources: {num_cpus: N, num_gpus: M}` (Ray placement of a setup's cells, or the run's default)."""
    if resources is None:
        return
    if not isinstance(resources, dict):
        problems.append(f"{where} must be a mapping such as {{num_cpus: 1, num_gpus: 0}}. Got {resources!r}.")
        return
    for key, value in resources.items():
        if key not in RESOURCE_KEYS:
            problems.append(f"{where}: unknown key {key!r}.{did_you_mean(str(key), RESOURCE_KEYS)} "
                            f"Known keys: {', '.join(RESOURCE_KEYS)}.")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                key == "num_cpus" and value == 0):
            problems.append(f"{where}.{key} must be a number >= 0 (num_cpus > 0), e.g. 1 or 0.5. Got {value!r}.")


def build_config(raw: dict[str, Any], source: str = "config") -> tuple[CompareConfig | None, list[str]]:
    """Turn a raw mapping into a CompareConfig; returns (config or None, every problem found).

    One pass reports everything: types and ranges from the typed dataclasses (with dotted paths), then the
    checks that need several keys. Nothing is loaded but small files (a model folder's config.json).
    """
    from polyglot_transfer.adapt import STRATEGIES
    from polyglot_transfer.adapt.base import config_from_dict
    from polyglot_transfer.measure.metrics import METRICS
    from polyglot_transfer.languages import resolve_language
    from polyglot_transfer.models.catalog import CATALOG
    from polyglot_transfer.retrieval.vote import RetrievalConfig

    problems: list[str] = []
    raw = dict(raw)
    if isinstance(raw.get("name"), (int, float)) and not isinstance(raw.get("name"), bool):
        raw["name"] = str(raw["name"])  # `name: 2024` is a fine run name
    for key in ("target_languages", "sources"):
        if isinstance(raw.get(key), str):
            raw[key] = [raw[key]]

    task_raw = raw.get("task") or {}
    if isinstance(task_raw, str):  # `task: masakhaner` is short for `task: {corpus: masakhaner}`
        task_raw = {"corpus": task_raw}
    if not isinstance(task_raw, dict):
        problems.append(f"{source}: task must be a mapping (corpus: ... or train/test files). Got {task_raw!r}.")
        task_raw = {}
    task, task_problems = validate(TaskConfig, task_raw, f"{source}: task")
    problems.extend(task_problems)
    task = task or TaskConfig()

    setups_raw = raw.get("setups")
    references: set[str] = set()  # setups sharing another's adapt block: its problems are reported there
    if isinstance(setups_raw, dict):
        setups_raw = _resolve_adapt_references(setups_raw, source, problems, references)
    typed_raw = {**raw, "task": task, **({"setups": setups_raw} if "setups" in raw else {})}
    typed_config, typed_problems = validate(CompareConfig, typed_raw, "")
    problems += [f"{source}: {p}" for p in typed_problems]

    # -- checks across keys, on the raw values (so they run even when a type check failed elsewhere) ------
    languages = {}
    if isinstance(raw.get("source_language"), str):
        try:
            languages["source_language"] = resolve_language(raw["source_language"]).code
        except LanguageError as exc:
            problems.append(f"{source}: source_language: {exc}")
    sources = _language_list(raw, "sources", source, problems, allow_sets=True)
    if sources and "source_language" in languages and languages["source_language"] not in sources:
        problems.append(f"{source}: source_language {languages['source_language']!r} is not one of sources "
                        f"{sources}. Give only `sources` (the first one is the primary source).")
    targets = _language_list(raw, "target_languages", source, problems)
    task_spec = None
    if not task_problems:
        problems.extend(check_task(task, sources or [languages.get("source_language", "eng_Latn")], targets,
                                   f"{source}: task"))
        try:
            task_spec = resolve_task(task)
        except PGTError:  # an unknown task or task type: already reported by check_task
            task_spec = None
    qa = task_spec is not None and task_spec.type == "generative_qa"

    setups_ok = isinstance(setups_raw, dict)
    model = raw.get("model", CompareConfig.model)
    family: str | None = None
    if isinstance(model, str):
        if model not in CATALOG and not Path(model).expanduser().is_dir():
            problems.append(f"{source}: model {model!r} is neither a catalog name nor an existing folder."
                            f"{did_you_mean(model, CATALOG)} See `pgt models list`.")
        else:
            try:
                family = model_family_of(model)
            except ConfigError as exc:
                problems.append(f"{source}: model: {exc}")
            if qa:
                problems.extend(check_qa_model(model, task_spec.name, source))
    for name, spec in (setups_raw.items() if setups_ok else []):
        where = f"setups.{name}"
        if not isinstance(spec, dict):
            continue  # the typed check reported it
        if qa:  # closed_book (no adapt, no retrieval), ft, rag, ft+rag: evaluation/qa_setups.py
            setup, _ = validate(SetupConfig, spec, where)
            if setup is not None:
                problems.extend(check_qa_setup(f"{source}: {where}", setup, task_spec.name))
        elif spec.get("generate") is not None:
            problems.append(f"{source}: {where}.generate: only generative_qa tasks take `generate` (prompt and "
                            f"decoding); task {task_spec.name if task_spec else '?'!r} is not one. Remove it.")
        if spec.get("adapt") is None and spec.get("retrieval") is None and not qa:
            problems.append(f"{source}: {where} needs `adapt: {{strategy: ...}}`, `retrieval: {{...}}`, or both.")
        adapt = spec.get("adapt")
        if isinstance(adapt, dict) and name not in references:
            params = dict(adapt)
            strategy = params.pop("strategy", None)
            if strategy is None:
                problems.append(f"{source}: {where}.adapt: missing required key 'strategy' (one of "
                                f"{', '.join(STRATEGIES)}).")
            elif not isinstance(strategy, str) or strategy not in STRATEGIES:
                problems.append(f"{source}: {where}.adapt.strategy: unknown strategy {strategy!r}."
                                f"{did_you_mean(str(strategy), STRATEGIES)} Known: {', '.join(STRATEGIES)}.")
            elif task_spec is not None and strategy not in task_spec.allowed_strategies(STRATEGIES):
                problems.append(f"{source}: {where}.adapt.strategy: {strategy!r} does not fit task "
                                f"{task_spec.name!r} ({task_spec.type}). Strategies for it: "
                                f"{', '.join(task_spec.allowed_strategies(STRATEGIES)) or '(none)'}.")
            else:
                cls = STRATEGIES.get(strategy)
                try:
                    config_from_dict(cls.config_class, params, f"{where}.adapt")
                except (PGTError, TypeError, ValueError) as exc:
                    problems += [f"{source}: {p}" for p in _split_problems(exc)]
                declared = getattr(cls, "model_families", None) or getattr(cls, "families", None)
                supported = set(declared or ())
                if family is not None and declared is not None and family not in supported:
                    problems.append(
                        f"{source}: {where}.adapt.strategy: {strategy!r} does not support {family} models "
                        f"(model: {model}); it supports {', '.join(sorted(supported))} models. Pick a model of "
                        "that kind or another strategy (`pgt ls strategies`).")
        retrieval = spec.get("retrieval")
        if retrieval is not None and task_spec is not None and not task_spec.task_type.retrieval:
            problems.append(f"{source}: {where}.retrieval: task {task_spec.name!r} ({task_spec.type}) has no "
                            "retrieval setups (a vote of retrieved neighbours does not tag tokens). Allowed: `adapt` "
                            f"with strategy {', '.join(task_spec.allowed_strategies(STRATEGIES)) or '(none)'}.")
        elif isinstance(retrieval, dict) and not qa:
            _, retrieval_problems = validate(RetrievalConfig, retrieval, f"{where}.retrieval")
            problems += [f"{source}: {p}" for p in retrieval_problems]
        _check_resources(spec.get("resources"), f"{source}: {where}.resources", problems)

    baseline = raw.get("baseline")
    if baseline is not None and setups_ok and baseline not in setups_raw:
        problems.append(f"{source}: baseline {baseline!r} is not one of the setups."
                        f"{did_you_mean(str(baseline), map(str, setups_raw))} Setups: "
                        f"{', '.join(map(str, setups_raw))}.")
    metrics = raw.get("metrics")
    for i, metric in enumerate(metrics if isinstance(metrics, list) else []):
        if isinstance(metric, str) and metric not in METRICS:
            problems.append(f"{source}: metrics[{i}]: unknown metric {metric!r}.{did_you_mean(metric, METRICS)} "
                            f"Known: {', '.join(METRICS)}.")
        elif task_spec is not None and isinstance(metric, str) and metric not in task_spec.allowed_metrics:
            problems.append(f"{source}: metrics[{i}]: {metric!r} does not score task {task_spec.name!r} "
                            f"({task_spec.type}). Metrics for it: {', '.join(task_spec.allowed_metrics)}.")
        elif metric in metrics[:i]:
            problems.append(f"{source}: metrics[{i}]: {metric!r} is listed twice. List each metric once.")
    # names become folder names in the run folder (runs/NAME, cells/.../SETUP/): no paths, no clashes
    for where, value in [("name", raw.get("name"))] + [("setups", n) for n in (setups_raw if setups_ok else [])]:
        if isinstance(value, str) and (value.strip() in (".", "..") or any(c in value for c in "/\\\0")
                                       or value != value.strip()):
            problems.append(f"{source}: {where}: {value!r} cannot be used as a folder name (no '/', '\\', '.', '..' "
                            "or surrounding spaces). Use letters, digits, '-', '_', '+'.")
    seeds = raw.get("seeds")
    if isinstance(seeds, list):
        for i, seed in enumerate(seeds):
            if seed in seeds[:i] and isinstance(seed, int):
                problems.append(f"{source}: seeds[{i}]: seed {seed} is listed twice. List each seed once.")
    if raw.get("backend") == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            problems.append(f"{source}: backend 'ray' needs the ray package, which is not installed. "
                            "Install it with `pip install 'polyglot-transfer[ray]'` or use backend: local.")
    _check_resources(raw.get("resources"), f"{source}: resources", problems)
    ray_address = raw.get("ray_address")
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address.strip()):
        problems.append(f"{source}: ray_address must be a Ray cluster address such as ray://head:10001, "
                        f"127.0.0.1:6379 or auto. Got {ray_address!r}.")
    if problems or typed_config is None:
        return None, problems
    primary = sources or [languages.get("source_language", "eng_Latn")]
    metrics_used = list(raw["metrics"]) if raw.get("metrics") else list(task_spec.default_metrics)
    return dataclasses.replace(typed_config, target_languages=targets, source_language=primary[0],
                               sources=primary, name=str(typed_config.name), metrics=metrics_used), []


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> CompareConfig:
    """Read, override and build a config (types, ranges, cross-key checks); ConfigError listing every problem.

    `pgt validate` and `pgt compare` add the checks of the data files and the run folder
    (:func:`polyglot_transfer.evaluation.validate.load_checked_config`).
    """
    config, problems = build_config(read_config_file(path, overrides), source=str(path))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {path}:\n- " + "\n- ".join(problems))
    return config
