"""`pgt plan`: from what you have (labels, unlabelled text, parallel text, documents, a GPU) to setups worth
comparing, with the reasons, and a `pgt compare` config that runs as written.

Rules (applied in this order; each setup is kept only when its strategy is registered in
:data:`polyglot_transfer.adapt.STRATEGIES`, else a fallback is used and the reasoning says so):

- ``head`` (frozen encoder + logistic regression) is always planned: the cheap baseline every other
  setup must beat.
- no labels: ``zero_shot`` (label-name similarity); fewer than 8: ``zero_shot`` and ``few_shot`` is
  called unreliable; 8-64 labels: ``few_shot`` (SetFit-style contrastive fine-tuning); more than 64:
  ``lora`` (with a GPU, or up to 5000 labels on CPU).
- unlabelled target text: ``language_adapter`` (MAD-X-style; from 500 texts) and, with a GPU and at
  least 10 000 texts, ``continued_pretraining``. Both read the text from ``--unlabelled-file``;
  without it they are listed but left out of the config (it would not run), as a commented block.
- high tokenizer fertility (target needs more than 2x the source's pieces, or more than 3 pieces per
  word): ``vocab_extension`` (needs the unlabelled text too).
- task documents: ``rag`` (retrieval vote over examples and documents), and, with a trained
  strategy, ``<strategy>+rag`` (both, probabilities averaged).
- parallel text: noted (use it for ``pgt recommend`` and as translate-train data).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.diagnostics.diagnose import DEFAULT_MAX_TEXTS, load_diagnosis_data, sample_dataset
from polyglot_transfer.diagnostics.tokenizer_fit import TokenizerFit, fertility_ratio, load_tokenizer, tokenizer_fit
from polyglot_transfer.errors import ConfigError, DataError
from polyglot_transfer.languages import resolve_language

logger = logging.getLogger(__name__)

__all__ = ["Resources", "PlannedSetup", "Plan", "plan_setups", "FertilityMeasure", "measure_fertility",
           "FEW_SHOT_RANGE", "HIGH_FERTILITY_RATIO"]

#: Labelled-example counts for which few_shot is the recommended trained strategy.
FEW_SHOT_RANGE = (8, 64)
#: Target/source fertility ratio above which vocab_extension is planned.
HIGH_FERTILITY_RATIO = 2.0
#: Pieces per word above which vocab_extension is planned (when no ratio is known).
HIGH_FERTILITY_PER_WORD = 3.0
LANGUAGE_ADAPTER_MIN_TEXTS = 500
CONTINUED_PRETRAINING_MIN_TEXTS = 10_000
LORA_CPU_MAX_LABELS = 5000

# strategy -> fallback when it is not registered
_FALLBACK = {
    "few_shot": "head",
    "zero_shot": None,
    "language_adapter": "lora",
    "continued_pretraining": "lora",
    "vocab_extension": None,
    "lora": "head",
}


@dataclass
class Resources:
    """What is available for one target language. Counts are numbers of texts."""

    target: str
    source: str = "eng_Latn"
    labelled: int = 0
    unlabelled: int = 0
    parallel: int = 0
    documents: int = 0
    gpu: bool = False
    fertility: float | None = None  # target pieces per word
    fertility_ratio: float | None = None  # target / source pieces per word
    unlabelled_file: str | None = None

    def __post_init__(self) -> None:
        for name in ("labelled", "unlabelled", "parallel", "documents"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an int >= 0 (a number of texts). Got {value!r} instead.")
        self.target = resolve_language(self.target).code
        self.source = resolve_language(self.source).code
        if self.unlabelled_file is not None and not Path(self.unlabelled_file).expanduser().is_file():
            raise ConfigError(f"unlabelled_file {self.unlabelled_file} does not exist. Pass a .txt (one text per "
                              "line) or .jsonl file of unlabelled target-language text.")


@dataclass
class PlannedSetup:
    """One setup: its `pgt compare` entry (`adapt` / `retrieval`), why, and whether it is in the config."""

    name: str
    reasoning: str
    adapt: dict[str, Any] | None = None
    retrieval: dict[str, Any] | None = None
    in_config: bool = True

    def entry(self) -> dict[str, Any]:
        """The setup's entry under `setups:` of the config."""
        out: dict[str, Any] = {}
        if self.adapt is not None:
            out["adapt"] = dict(self.adapt)
        if self.retrieval is not None:
            out["retrieval"] = dict(self.retrieval)
        if self.reasoning:
            out["description"] = self.reasoning.split(". ")[0].rstrip(".")
        return out


@dataclass
class Plan:
    """The planned setups with their reasons, notes, and the `pgt compare` config built from them."""

    resources: Resources
    setups: list[PlannedSetup]
    notes: list[str]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {"resources": asdict(self.resources), "setups": [asdict(s) for s in self.setups],
                "notes": self.notes, "config": self.config}

    def to_yaml(self) -> str:
        """The `pgt compare` config, with the reasoning as comments and left-out setups commented."""
        lines = [f"# Written by `pgt plan` for target {self.resources.target} (source {self.resources.source}).",
                 "# Run it with: pgt compare <this file>"]
        for s in self.setups:
            mark = "" if s.in_config else " [not in the config]"
            lines.append(f"# - {s.name}{mark}: {s.reasoning}")
        for note in self.notes:
            lines.append(f"# note: {note}")
        lines.append(yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True).rstrip())
        left_out = {s.name: s.entry() for s in self.setups if not s.in_config}
        if left_out:
            lines.append("# Setups that need data you have not pointed to yet (e.g. --unlabelled-file); add them")
            lines.append("# under `setups:` once the file exists:")
            block = yaml.safe_dump({"setups": left_out}, sort_keys=False, allow_unicode=True)
            lines += ["# " + line for line in block.splitlines()]
        return "\n".join(lines) + "\n"


@dataclass
class FertilityMeasure:
    """Tokenizer fit of the target and of the source measured on the same texts `pgt diagnose` uses, and the
    target/source fertility ratio (None when the units differ). `text` says where the texts came from."""

    target: TokenizerFit
    source: TokenizerFit
    ratio: float | None
    text: str

    @property
    def per_word(self) -> float | None:
        """Target pieces per word (None when the target is measured per character)."""
        return self.target.fertility if self.target.unit == "word" else None


def measure_fertility(
    model: str | Path | Any,
    target: str,
    source: str,
    *,
    data: str | Path | TextDataset | None = None,
    max_texts: int = DEFAULT_MAX_TEXTS,
    seed: int = 0,
    udhr_root: str | Path | None = None,
) -> FertilityMeasure:
    """Fertility of `target` and `source` for `model`'s tokenizer (a model name/folder or a loaded tokenizer).

    With `data` (a built-in corpus name, a file or a TextDataset) the texts are the data's rows in each
    language, sampled exactly as :func:`polyglot_transfer.diagnostics.diagnose.diagnose` samples them
    (same `max_texts` and `seed`), so `pgt plan` and `pgt diagnose` report the same numbers; without it,
    the UDHR texts of both languages. DataError when a language has no text there.
    """
    tokenizer = load_tokenizer(model) if isinstance(model, str | Path) else model
    target, source = resolve_language(target).code, resolve_language(source).code
    if data is None:
        from polyglot_transfer.diagnostics.udhr import load_udhr

        t_texts, s_texts = load_udhr(udhr_root, target).lines, load_udhr(udhr_root, source).lines
        text = "UDHR"
    else:
        table, _ = load_diagnosis_data(data, [source, target])
        by_lang = table.by_language()
        missing = [c for c in (source, target) if c not in by_lang]
        if missing:
            raise DataError(f"{getattr(data, 'name', data)} has no texts in {', '.join(missing)} to measure the "
                            f"tokenizer on; it has {', '.join(sorted(by_lang)) or 'none'}.")
        t_texts = sample_dataset(by_lang[target], max_texts, seed).texts
        s_texts = sample_dataset(by_lang[source], max_texts, seed).texts
        text = f"{getattr(data, 'name', data)} ({len(t_texts)} {target} and {len(s_texts)} {source} texts)"
    t_fit, s_fit = tokenizer_fit(tokenizer, t_texts, target), tokenizer_fit(tokenizer, s_texts, source)
    return FertilityMeasure(target=t_fit, source=s_fit, ratio=fertility_ratio(t_fit, s_fit), text=text)


def _registered() -> set[str]:
    from polyglot_transfer.adapt import STRATEGIES

    return set(STRATEGIES)


def _resolve(strategy: str, registered: set[str], notes: list[str]) -> str | None:
    """`strategy` if registered, else its fallback chain; a note says what happened."""
    current: str | None = strategy
    while current is not None and current not in registered:
        nxt = _FALLBACK.get(current)
        notes.append(f"strategy {current!r} is not registered in this installation"
                     + (f"; planned {nxt!r} instead" if nxt else "; left out"))
        current = nxt
    return current


def plan_setups(
    resources: Resources,
    *,
    task: dict[str, Any],
    model: str = "intfloat/multilingual-e5-small",
    name: str | None = None,
    n_labels: int | None = None,
    registered: set[str] | None = None,
    seeds: list[int] | None = None,
) -> Plan:
    """Plan setups for `resources` and build the `pgt compare` config (validated with build_config).

    `task` is the config's task mapping (corpus or train/test files); `n_labels` (number of classes)
    turns `labelled` into task.max_train_per_label so the run uses as many labels as you have.
    `registered` overrides the registered strategy names (for tests); ConfigError if the emitted
    config does not validate (a bug: please report it).
    """
    r = resources
    registered = _registered() if registered is None else set(registered)
    notes: list[str] = []
    setups: list[PlannedSetup] = []

    def add(setup_name: str, strategy: str | None, params: dict[str, Any] | None, reasoning: str,
            retrieval: dict[str, Any] | None = None, in_config: bool = True) -> str | None:
        used = None
        adapt = None
        if strategy is not None:
            used = _resolve(strategy, registered, notes)
            if used is None:
                return None
            if used != strategy:
                reasoning += f" ({strategy!r} is not registered here, so {used!r} stands in)"
                params = {}
                setup_name = setup_name.replace(strategy, used)
            if any(s.name == setup_name for s in setups):
                return used
            adapt = {"strategy": used, **(params or {})}
        setups.append(PlannedSetup(setup_name, reasoning, adapt, retrieval, in_config))
        return used

    add("head", "head", {}, "Frozen encoder + logistic regression: the cheap baseline every setup must beat.")

    trained: str | None = None
    if r.labelled == 0:
        add("zero_shot", "zero_shot", {}, "No labelled examples: classify by similarity to the label names; "
            "nothing is trained.")
    elif r.labelled < FEW_SHOT_RANGE[0]:
        add("zero_shot", "zero_shot", {}, f"Only {r.labelled} labelled examples: zero_shot is the floor; "
            "few_shot is unreliable with fewer than 8.")
    elif r.labelled <= FEW_SHOT_RANGE[1]:
        trained = add("few_shot", "few_shot", {"k": None}, f"{r.labelled} labelled examples (8-64): SetFit-style "
                      "contrastive fine-tuning of the encoder is the strongest use of a handful of labels.")
    elif r.gpu or r.labelled <= LORA_CPU_MAX_LABELS:
        trained = add("lora", "lora", {"epochs": 3}, f"{r.labelled} labelled examples (> 64): enough to fine-tune "
                      "low-rank adapters (LoRA) end to end" + ("" if r.gpu else " (on CPU: keep epochs low)") + ".")
    else:
        notes.append(f"{r.labelled} labelled examples and no GPU: LoRA would be slow on CPU; head is planned. "
                     "Rerun with --gpu yes to add lora.")

    if r.unlabelled > 0:
        have_file = r.unlabelled_file is not None
        if r.unlabelled >= LANGUAGE_ADAPTER_MIN_TEXTS:
            add("language_adapter", "language_adapter",
                {"unlabelled": {r.target: r.unlabelled_file or "UNLABELLED_FILE"}, "epochs": 3},
                f"{r.unlabelled} unlabelled {r.target} texts: train a language adapter on them and a task adapter "
                "on the source labels (MAD-X style).", in_config=have_file)
        else:
            notes.append(f"{r.unlabelled} unlabelled texts is too few for a language adapter "
                         f"(planned from {LANGUAGE_ADAPTER_MIN_TEXTS}).")
        if r.gpu and r.unlabelled >= CONTINUED_PRETRAINING_MIN_TEXTS:
            add("continued_pretraining", "continued_pretraining",
                {"path": r.unlabelled_file or "UNLABELLED_FILE", "task_strategy": "head"},
                f"{r.unlabelled} unlabelled texts and a GPU: continue masked-LM pretraining on the target "
                "language, then fit the head.", in_config=have_file)
        if not have_file:
            notes.append("setups that need the unlabelled text are listed but commented out of the config: pass "
                         "--unlabelled-file FILE (one text per line) to include them.")

    high = (r.fertility_ratio is not None and r.fertility_ratio > HIGH_FERTILITY_RATIO) or (
        r.fertility is not None and r.fertility > HIGH_FERTILITY_PER_WORD)
    if high:
        what = (f"{r.fertility_ratio:.1f}x the source's pieces per word" if r.fertility_ratio is not None
                else f"{r.fertility:.1f} pieces per word")
        if r.unlabelled > 0:
            add("vocab_extension", "vocab_extension",
                {"path": r.unlabelled_file or "UNLABELLED_FILE", "task_strategy": "head"},
                f"High tokenizer fertility ({what}): extend the vocabulary with target-language pieces learnt "
                "from the unlabelled text.", in_config=r.unlabelled_file is not None)
        else:
            notes.append(f"high tokenizer fertility ({what}), but vocab_extension needs unlabelled target text.")

    if r.documents > 0:
        rag = {"k": 8, "temperature": 0.05}
        add("rag", None, None, f"{r.documents} task documents: retrieve labelled examples and documents and vote "
            "by similarity; no training, and new documents help at once.", retrieval=rag)
        if trained is not None:
            add(f"{trained}+rag", trained, dict(next(s.adapt for s in setups if s.name == trained)),
                f"Both: the {trained} model and the retrieval vote, probabilities averaged; often best when "
                "labels and documents cover different cases.", retrieval=rag)
    if r.parallel > 0:
        notes.append(f"{r.parallel} parallel sentences: use them with `pgt recommend` (the model's own view) and as "
                     "translate-train data.")

    for s in setups:  # drop copied-over keys that the stand-in strategy does not take
        if s.adapt is not None and s.adapt.get("strategy") in ("head",):
            s.adapt = {"strategy": "head"}

    config_setups = {s.name: s.entry() for s in setups if s.in_config}
    task = dict(task)
    if n_labels and r.labelled > 0 and "max_train_per_label" not in task:
        task["max_train_per_label"] = max(1, math.floor(r.labelled / n_labels))
    targets = [r.target] if r.target == r.source else [r.source, r.target]
    config: dict[str, Any] = {
        "name": name or f"plan_{r.target}",
        "task": task,
        "model": str(model),
        "source_language": r.source,
        "target_languages": targets,
        "setups": config_setups,
        "baseline": "head",
        "seeds": seeds or [0],
        "metrics": ["accuracy", "macro_f1"],
    }
    return Plan(resources=r, setups=setups, notes=notes, config=config)
