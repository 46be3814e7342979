"""Where corpora live: the shared public corpora folder, and the demo corpus shipped with the repository.

- :func:`find_shared_corpora` locates ``../shared/corpora`` (NusaX, AfriQA, UDHR, PanLex Swadesh) for
  tests and benchmarks; ``PGT_CORPORA_DIR`` overrides it.
- :func:`load_demo_corpus` reads ``corpora/agri_advice`` (written by the project team): train/test
  examples, retrieval documents, label descriptions and a data card. ``PGT_DEMO_CORPUS`` overrides the
  folder.
- :func:`example_config_path` finds the example configs (``eval/configs/*.yaml``) by name, e.g. ``demo``.

A wheel install carries both inside the package, under ``polyglot_transfer/_bundled/`` (``setup.py``
copies them at build time), so they are found from any folder; a source checkout (or an editable
install) reads them from the repository.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from polyglot_transfer.data.dataset import TextDataset
from polyglot_transfer.data.loaders import load_table
from polyglot_transfer.errors import ConfigError, DataError, did_you_mean

logger = logging.getLogger(__name__)

__all__ = [
    "DemoCorpus",
    "find_shared_corpora",
    "load_demo_corpus",
    "demo_corpus_path",
    "example_config_path",
    "list_example_configs",
    "REPO_ROOT",
    "BUNDLED_ROOT",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where a wheel install keeps the demo corpus and the example configs (absent in a source checkout).
BUNDLED_ROOT = Path(__file__).resolve().parents[1] / "_bundled"
DEMO_CORPUS_FILES = ("train.jsonl", "test.jsonl", "documents.jsonl", "labels.json", "card.yaml")


def find_shared_corpora() -> Path | None:
    """The shared corpora folder, or None when there is none.

    Order: $PGT_CORPORA_DIR (must exist when set), then ../shared/corpora next to the repository root,
    then ../shared/corpora relative to the current directory.
    """
    env = os.environ.get("PGT_CORPORA_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(
                f"PGT_CORPORA_DIR={env!r} is not a folder. Point it at the shared corpora folder or unset it."
            )
        return path.resolve()
    for candidate in (REPO_ROOT.parent / "shared" / "corpora", Path.cwd().parent / "shared" / "corpora"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def demo_corpus_path(root: str | Path | None = None) -> Path:
    """`root`, else $PGT_DEMO_CORPUS, else the copy inside the installed package, else corpora/agri_advice
    in the repository."""
    if root is not None:
        return Path(root)
    env = os.environ.get("PGT_DEMO_CORPUS")
    if env:
        return Path(env).expanduser()
    bundled = BUNDLED_ROOT / "corpora" / "agri_advice"
    if bundled.is_dir():
        return bundled
    return REPO_ROOT / "corpora" / "agri_advice"


def _config_dirs() -> list[Path]:
    return [d for d in (BUNDLED_ROOT / "configs", REPO_ROOT / "eval" / "configs") if d.is_dir()]


def list_example_configs() -> dict[str, Path]:
    """name -> path of every example config shipped with the package (``demo``, ``nusax``, ``adapt_lora`` ...)."""
    out: dict[str, Path] = {}
    for folder in reversed(_config_dirs()):  # the bundled copy wins over the repository's
        out.update({p.stem: p for p in sorted(folder.glob("*.yaml"))})
    return dict(sorted(out.items()))


def example_config_path(name_or_path: str | os.PathLike) -> Path:
    """An existing config file as given, else the shipped example config of that name (``demo`` or ``demo.yaml``).

    ConfigError when neither exists, listing the example names.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    examples = list_example_configs()
    stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    if stem in examples and (len(path.parts) == 1 or path.parts[-2:-1] == ("configs",)):
        return examples[stem]
    raise ConfigError(
        f"Config {str(name_or_path)!r} is neither a file nor an example config.{did_you_mean(stem, examples)} "
        f"Pass a YAML file or one of the examples: {', '.join(examples) or '(none found)'}."
    )


@dataclass
class DemoCorpus:
    """The built-in demo corpus: labelled train/test sets, retrieval documents, label descriptions, data card."""

    train: TextDataset
    test: TextDataset
    documents: TextDataset
    labels: dict[str, str]
    card: dict[str, Any]
    path: Path
    languages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.languages:
            self.languages = sorted(set(self.train.languages) | set(self.test.languages))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}).") from None


def load_demo_corpus(root: str | Path | None = None) -> DemoCorpus:
    """Load the demo corpus folder (train.jsonl, test.jsonl, documents.jsonl, labels.json, card.yaml).

    Checks that every train/test label is described in labels.json.
    """
    path = demo_corpus_path(root)
    if not path.is_dir():
        raise DataError(
            f"Demo corpus folder {path} does not exist. Expected a folder with {', '.join(DEMO_CORPUS_FILES)}; "
            "pass root=... or set PGT_DEMO_CORPUS."
        )
    missing = [name for name in DEMO_CORPUS_FILES if not (path / name).is_file()]
    if missing:
        raise DataError(f"Demo corpus {path} is missing {', '.join(missing)}.")

    labels_raw = _read_json(path / "labels.json")
    if isinstance(labels_raw, list):
        labels = {str(label): "" for label in labels_raw}
    elif isinstance(labels_raw, dict):
        labels = {
            str(k): (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in labels_raw.items()
        }
    else:
        raise DataError(f"{path / 'labels.json'} must map label -> description; got a {type(labels_raw).__name__}.")

    try:
        card = yaml.safe_load((path / "card.yaml").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{path / 'card.yaml'} is not valid YAML: {exc}") from None
    if not isinstance(card, dict):
        raise DataError(f"{path / 'card.yaml'} must be a YAML mapping; got a {type(card).__name__}.")

    train = load_table(path / "train.jsonl", name="agri_advice-train", label_required=True)
    test = load_table(path / "test.jsonl", name="agri_advice-test", label_required=True)
    documents = load_table(path / "documents.jsonl", name="agri_advice-documents")
    for split in (train, test):
        unknown = sorted(set(split.label_set) - set(labels))
        if unknown:
            raise DataError(
                f"{path}: {split.name} uses label(s) {unknown} that labels.json does not describe "
                f"(it has: {', '.join(labels)})."
            )
    return DemoCorpus(train=train, test=test, documents=documents, labels=labels, card=card, path=path)
