"""Results built by the real results builder (evaluation/results.py) from fabricated predictions.

A test names the gold labels per target and each setup's predictions; the cells are written into a run
folder exactly as `pgt compare` writes them and `build_results` computes every record, test and the
recommendation. Nothing statistical is hand-written, so the report tests check wording against real tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyglot_transfer.data.dataset import Example, TextDataset
from polyglot_transfer.evaluation.config import BootstrapConfig, CompareConfig, SetupConfig, TaskConfig
from polyglot_transfer.evaluation.results import build_results
from polyglot_transfer.evaluation.run_folder import DIAGNOSTICS_FILE, cell_path
from polyglot_transfer.evaluation.task_data import TaskData
from polyglot_transfer.fileio import atomic_write_json

LABELS = ["a", "b", "c"]
SOURCE = "eng_Latn"


def gold(n: int, shares: tuple[float, ...] = (0.5, 0.3, 0.2)) -> list[str]:
    """n gold labels, label i with share shares[i] (in blocks, deterministic)."""
    out: list[str] = []
    for label, share in zip(LABELS, shares):
        out += [label] * round(n * share)
    return (out + [LABELS[0]] * n)[:n]


def with_accuracy(y_true: list[str], correct: float, offset: int = 0) -> list[str]:
    """Predictions right on a `correct` share of the examples (the wrong ones cycle to the next label);
    `offset` shifts which examples are wrong, so two setups with equal accuracy make different errors."""
    n = len(y_true)
    n_wrong = n - round(n * correct)
    wrong = {(offset + i * n // max(n_wrong, 1)) % n for i in range(n_wrong)}
    return [LABELS[(LABELS.index(y) + 1) % len(LABELS)] if i in wrong else y for i, y in enumerate(y_true)]


def build(tmp_path: Path, y_true: dict[str, list[str]], preds: dict[str, dict[str, list[str] | list[list[str]]]], *,
          baseline: str | None = None, seeds: list[int] | None = None,
          diagnostics: list[dict[str, Any]] | None = None, n_resamples: int = 1000) -> dict[str, Any]:
    """results.json content for `preds[setup][target]` (one list per seed, or one list for one seed)."""
    seeds = seeds or [0]
    setups = list(preds)
    targets = list(y_true)
    config = CompareConfig(name="fabricated", task=TaskConfig(name="fabricated"),
                           setups={s: SetupConfig(description=f"setup {s}") for s in setups},
                           target_languages=targets, baseline=baseline, seeds=seeds,
                           metrics=["macro_f1", "accuracy"], bootstrap=BootstrapConfig(n_resamples=n_resamples),
                           forgetting=False, diagnostics=False)
    train = TextDataset([Example(id=f"t{i}", text=f"text {i}", label=LABELS[i % 3], lang=SOURCE) for i in range(9)],
                        name="train")
    tests = {t: TextDataset([Example(id=f"{t}-{i}", text=f"x {i}", label=y, lang=t) for i, y in enumerate(ys)],
                            name=f"test-{t}") for t, ys in y_true.items()}
    data = TaskData(name="fabricated", trains={SOURCE: train}, tests=tests, documents=None, labels=list(LABELS))
    run = tmp_path / "run"
    for setup in setups:
        for target in targets:
            per_seed = preds[setup][target]
            if per_seed and isinstance(per_seed[0], str):
                per_seed = [per_seed] * len(seeds)
            for seed, pred in zip(seeds, per_seed):
                atomic_write_json(cell_path(run, seed, SOURCE, setup, target), {
                    "setup": setup, "source": SOURCE, "language": target, "seed": seed, "labels": LABELS,
                    "ids": [f"{target}-{i}" for i in range(len(pred))], "y_true": y_true[target], "y_pred": pred})
    if diagnostics is not None:
        atomic_write_json(run / DIAGNOSTICS_FILE, diagnostics)
    return build_results(config, data, run, duration_s=1.0)
