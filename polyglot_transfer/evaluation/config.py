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
      lora+rag: {adapt: {strategy: lora, epochs: 5}, retrieval: {k: 8}}
    baseline: head
    backend: local                 # or `ray` (pip install 'polyglot-transfer[ray]')
    # ray_address: HEAD:6379       # with backend ray: an existing cluster (default: a local one)
    # resources: {num_cpus: 1}     # Ray resources per cell; a setup may set its own `resources`

The grid is task x setup x source x target x seed. Each (seed, source) pair is one independent unit of
work (train every setup on that source, evaluate on every target); `backend: ray` runs the units as
Ray tasks on a local cluster of `workers` processes.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from polyglot_transfer.errors import ConfigError, LanguageError, PGTError, did_you_mean

CORPORA = ("agri_advice", "nusax")
BACKENDS = ("local", "ray")


@dataclass
class TaskConfig:
    corpus: str | None = None  # a built-in corpus name (see CORPORA), or give files below
    corpus_root: str | None = None  # where that corpus lives (default: ../shared/corpora or the built-in folder)
    name: str | None = None
    train: str | None = None  # labelled source-language file (jsonl / csv / tsv)
    test: str | None = None  # labelled test file with a `lang` column (or column mapping)
    documents: str | None = None  # labelled task documents for retrieval (optional)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> file column, e.g. {text: sentence}
    max_train_per_label: int | None = None  # subsample the training set (k per label), e.g. for speed


@dataclass
class SetupConfig:
    adapt: dict[str, Any] | None = None  # {strategy: NAME, **strategy params}
    retrieval: dict[str, Any] | None = None  # RetrievalConfig fields
    combine_weight: float | None = 0.5  # weight of the adapted model when both are present (null: chosen on source dev predictions)
    description: str = ""
    resources: dict[str, float] | None = None  # Ray resources of this setup's cells, e.g. {num_cpus: 4, num_gpus: 1}


@dataclass
class BootstrapConfig:
    n_resamples: int = 1000
    alpha: float = 0.05


@dataclass
class CompareConfig:
    name: str
    task: TaskConfig
    setups: dict[str, SetupConfig]
    target_languages: list[str]
    model: str = "intfloat/multilingual-e5-small"
    source_language: str = "eng_Latn"
    seeds: list[int] = field(default_factory=lambda: [0])
    baseline: str | None = None
    metrics: list[str] = field(default_factory=lambda: ["accuracy", "macro_f1"])
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    output_dir: str | None = None  # default: runs/<name>
    threads: int | None = None  # torch threads (default: all cores; 1 per worker with backend ray)
    sources: list[str] = field(default_factory=list)  # source languages or sets "a+b" (default: [source_language])
    backend: str = "local"  # "local" (this process) or "ray" (a local Ray cluster)
    workers: int = 2  # Ray workers (CPUs of the local cluster) with backend ray
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
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return raw


def read_config_file(path: str | os.PathLike, overrides: list[str] | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass a YAML file, e.g. eval/configs/demo.yaml.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (name, task, setups, ...). Got {type(raw).__name__}.")
    return apply_overrides(raw, overrides or [])


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _check_keys(data: dict, cls: type, where: str, problems: list[str]) -> dict:
    known = _fields(cls)
    for key in data:
        if key not in known:
            problems.append(f"{where}: unknown key {key!r}.{did_you_mean(str(key), known)} "
                            f"Known keys: {', '.join(known)}.")
    return {k: v for k, v in data.items() if k in known}


def _required(data: dict, keys: list[str], where: str, problems: list[str]) -> None:
    for key in keys:
        if key not in data or data[key] in (None, "", [], {}):
            problems.append(f"{where}: missing required key {key!r}.")


def _language_list(raw: dict[str, Any], key: str, source: str, problems: list[str], *,
                   allow_sets: bool = False) -> list[str]:
    """Resolve a list of language codes under `key` (absent: []), recording every bad entry.

    With `allow_sets`, an entry may be a set of languages joined by "+" (ind_Latn+eng_Latn: train on both).
    """
    from polyglot_transfer.languages import resolve_language

    if key not in raw or raw[key] is None:
        return []
    values = raw[key]
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        problems.append(f"{source}: {key} must be a non-empty list of language codes, e.g. [ind_Latn, eng_Latn]. "
                        f"Got {raw[key]!r}.")
        return []
    codes: list[str] = []
    for i, value in enumerate(values):
        parts = str(value).split("+") if allow_sets else [str(value)]
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
            problems.append(f"{source}: {key}[{i}]: {code} is listed twice. List each language once.")
            continue
        codes.append(code)
    return codes


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
    """Turn a raw mapping into a CompareConfig; returns (config or None, every problem found)."""
    from polyglot_transfer.adapt import STRATEGIES
    from polyglot_transfer.adapt.base import config_from_dict
    from polyglot_transfer.measure.metrics import METRICS
    from polyglot_transfer.languages import resolve_language
    from polyglot_transfer.retrieval.vote import RetrievalConfig

    problems: list[str] = []
    raw = _check_keys(dict(raw), CompareConfig, source, problems)
    _required(raw, ["name", "task", "setups", "target_languages"], source, problems)

    task_raw = raw.get("task") or {}
    if not isinstance(task_raw, dict):
        problems.append(f"{source}: task must be a mapping (corpus: ... or train/test files). Got {task_raw!r}.")
        task_raw = {}
    task = TaskConfig(**_check_keys(task_raw, TaskConfig, f"{source}: task", problems))
    if task.corpus is None and not (task.train and task.test):
        problems.append(f"{source}: task needs either `corpus` (one of {', '.join(CORPORA)}) or both `train` and `test` files.")
    if task.corpus is not None and task.corpus not in CORPORA:
        problems.append(f"{source}: task.corpus {task.corpus!r} is unknown.{did_you_mean(task.corpus, CORPORA)} "
                        f"Built-in corpora: {', '.join(CORPORA)}; or give train/test files.")

    languages = {}
    for key in ("source_language",):
        if key in raw:
            try:
                languages[key] = resolve_language(str(raw[key])).code
            except LanguageError as exc:
                problems.append(f"{source}: {key}: {exc}")
    sources = _language_list(raw, "sources", source, problems, allow_sets=True)
    if sources and "source_language" in languages and languages["source_language"] not in sources:
        problems.append(f"{source}: source_language {languages['source_language']!r} is not one of sources "
                        f"{sources}. Give only `sources` (the first one is the primary source).")
    targets = []
    for i, value in enumerate(raw.get("target_languages") or []):
        try:
            targets.append(resolve_language(str(value)).code)
        except LanguageError as exc:
            problems.append(f"{source}: target_languages[{i}]: {exc}")

    setups: dict[str, SetupConfig] = {}
    setups_raw = raw.get("setups") or {}
    if not isinstance(setups_raw, dict):
        problems.append(f"{source}: setups must be a mapping of name -> setup. Got {type(setups_raw).__name__}.")
        setups_raw = {}
    for name, spec in setups_raw.items():
        where = f"{source}: setups.{name}"
        if not isinstance(spec, dict):
            problems.append(f"{where} must be a mapping with `adapt` and/or `retrieval`. Got {spec!r}.")
            continue
        setup = SetupConfig(**_check_keys(spec, SetupConfig, where, problems))
        if setup.adapt is None and setup.retrieval is None:
            problems.append(f"{where} needs `adapt: {{strategy: ...}}`, `retrieval: {{...}}`, or both.")
        if setup.adapt is not None:
            params = dict(setup.adapt)
            strategy = params.pop("strategy", None)
            if strategy is None:
                problems.append(f"{where}.adapt: missing required key 'strategy' (one of {', '.join(STRATEGIES)}).")
            elif strategy not in STRATEGIES:
                problems.append(f"{where}.adapt.strategy: unknown strategy {strategy!r}."
                                f"{did_you_mean(str(strategy), STRATEGIES)} Known: {', '.join(STRATEGIES)}.")
            else:
                try:
                    config_from_dict(STRATEGIES.get(strategy).config_class, params, f"{where}.adapt")
                except (PGTError, TypeError) as exc:
                    problems.append(str(exc))
        if setup.retrieval is not None:
            try:
                config_from_dict(RetrievalConfig, dict(setup.retrieval), f"{where}.retrieval")
            except (PGTError, TypeError) as exc:
                problems.append(str(exc))
        _check_resources(setup.resources, f"{where}.resources", problems)
        if setup.combine_weight is not None and not 0.0 <= float(setup.combine_weight) <= 1.0:
            problems.append(f"{where}.combine_weight must be in [0, 1]. Got {setup.combine_weight!r}.")
        setups[str(name)] = setup

    model = str(raw.get("model", CompareConfig.model))
    from polyglot_transfer.models.catalog import CATALOG

    if model not in CATALOG and not Path(model).expanduser().is_dir():
        problems.append(f"{source}: model {model!r} is neither a catalog name nor an existing folder."
                        f"{did_you_mean(model, CATALOG)} See `pgt models list`.")

    baseline = raw.get("baseline")
    if baseline is not None and baseline not in setups:
        problems.append(f"{source}: baseline {baseline!r} is not one of the setups.{did_you_mean(str(baseline), setups)}")
    for metric in raw.get("metrics") or []:
        if metric not in METRICS:
            problems.append(f"{source}: metrics: unknown metric {metric!r}.{did_you_mean(str(metric), METRICS)}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        problems.append(f"{source}: seeds must be a non-empty list of ints, e.g. [0, 1, 2]. Got {seeds!r}.")
    boot_raw = raw.get("bootstrap") or {}
    boot = BootstrapConfig(**_check_keys(boot_raw, BootstrapConfig, f"{source}: bootstrap", problems)) if isinstance(boot_raw, dict) else BootstrapConfig()
    if not isinstance(boot.n_resamples, int) or boot.n_resamples < 100:
        problems.append(f"{source}: bootstrap.n_resamples must be an int >= 100. Got {boot.n_resamples!r}.")
    if not isinstance(boot.alpha, float) or not 0 < boot.alpha < 0.5:
        problems.append(f"{source}: bootstrap.alpha must be a float in (0, 0.5). Got {boot.alpha!r}.")
    threads = raw.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        problems.append(f"{source}: threads must be an int >= 1. Got {threads!r}.")
    backend = raw.get("backend", "local")
    if backend not in BACKENDS:
        problems.append(f"{source}: backend {backend!r} is unknown.{did_you_mean(str(backend), BACKENDS)} "
                        f"Expected one of: {', '.join(BACKENDS)}.")
    elif backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            problems.append(f"{source}: backend 'ray' needs the ray package, which is not installed. "
                            "Install it with `pip install 'polyglot-transfer[ray]'` or use backend: local.")
    workers = raw.get("workers", 2)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 1024:
        problems.append(f"{source}: workers must be an int in [1, 1024]. Got {workers!r} instead.")
    _check_resources(raw.get("resources"), f"{source}: resources", problems)
    ray_address = raw.get("ray_address")
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address.strip()):
        problems.append(f"{source}: ray_address must be a Ray cluster address such as ray://head:10001, "
                        f"127.0.0.1:6379 or auto. Got {ray_address!r}.")
    for key in ("forgetting", "diagnostics"):
        if key in raw and not isinstance(raw[key], bool):
            problems.append(f"{source}: {key} must be true or false. Got {raw[key]!r}.")
    if problems:
        return None, problems
    config = CompareConfig(
        name=str(raw["name"]),
        task=task,
        setups=setups,
        target_languages=targets,
        model=model,
        source_language=(sources or [languages.get("source_language", "eng_Latn")])[0],
        sources=sources or [languages.get("source_language", "eng_Latn")],
        seeds=seeds,
        baseline=baseline,
        metrics=list(raw.get("metrics") or ["accuracy", "macro_f1"]),
        bootstrap=boot,
        output_dir=raw.get("output_dir"),
        threads=threads,
        backend=backend,
        workers=workers,
        ray_address=ray_address,
        resources=raw.get("resources"),
        forgetting=raw.get("forgetting", True),
        diagnostics=raw.get("diagnostics", True),
    )
    return config, []


def validate_config(path: str | os.PathLike, overrides: list[str] | None = None) -> list[str]:
    """Every problem in a config file, without loading a model (empty list: valid)."""
    try:
        raw = read_config_file(path, overrides)
    except ConfigError as exc:
        return [str(exc)]
    return build_config(raw, source=str(path))[1]


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> CompareConfig:
    """Read, override and validate a config; ConfigError listing every problem when invalid."""
    config, problems = build_config(read_config_file(path, overrides), source=str(path))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {path}:\n- " + "\n- ".join(problems))
    return config
