"""`pgt compare`: adapted models, retrieval and both, side by side per language, with bootstrap CIs.

The run folder (runs/<name>/ unless the config says otherwise) holds, as the run goes:
- config.resolved.yaml and manifest.json (versions, hardware, model and data hashes, seeds);
- models/<setup-key>-seed<k>/: each trained strategy (safetensors + JSON), reused on resume;
- cells/seed<k>/<setup>/<lang>.json: predictions of one finished cell, written atomically; a rerun
  of the same command skips every cell that is already there;
- results.json, report.md, report.html at the end.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from polyglot_transfer.adapt import build_strategy, load_strategy
from polyglot_transfer.adapt.base import STRATEGY_FILE, Strategy
from polyglot_transfer.errors import ConfigError
from polyglot_transfer.evaluation.config import CompareConfig, SetupConfig
from polyglot_transfer.evaluation.manifest import environment
from polyglot_transfer.evaluation.task_data import TaskData, load_task_data
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text, sha256_text
from polyglot_transfer.models.provision import model_fingerprint, resolve_model

logger = logging.getLogger(__name__)

SETUP_DESCRIPTIONS = {
    "head": "frozen encoder + logistic-regression head (feature extraction)",
    "lora": "LoRA fine-tuning of the encoder (PEFT), linear-probe initialised head",
    "rag": "retrieval of labelled examples and task documents (FAISS), similarity-weighted vote",
}


@dataclass
class RunResult:
    run_dir: Path
    results: dict[str, Any]
    reports: dict[str, Path]


def _key(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, default=str))[:10]


def describe_setup(name: str, setup: SetupConfig) -> str:
    if setup.description:
        return setup.description
    parts = []
    if setup.adapt:
        strategy = setup.adapt.get("strategy", "?")
        parts.append(SETUP_DESCRIPTIONS.get(strategy, f"{strategy} adaptation"))
    if setup.retrieval:
        parts.append(SETUP_DESCRIPTIONS["rag"])
    text = " + ".join(parts)
    if setup.adapt and setup.retrieval:
        text += f" (probabilities mixed {setup.combine_weight:g} : {1 - setup.combine_weight:g})"
    return text


class _Progress:
    """A tqdm bar on a terminal; log lines otherwise (CI logs stay readable)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="compare", unit="cell", dynamic_ncols=True)

    def step(self, message: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(message, refresh=False)
            self.bar.update(1)
        logger.info("%s", message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class CompareRunner:
    """Runs one CompareConfig. Expensive shared work (a trained model, an index) is built once per seed."""

    def __init__(self, config: CompareConfig, *, run_dir: str | Path | None = None, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir or config.output_dir or Path("runs") / config.name)
        self.progress = progress
        self._embedder = None

    # -- shared components ----------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from polyglot_transfer.retrieval.embedder import Embedder

            self._embedder = Embedder(self.config.model)
        return self._embedder

    def _strategy(self, setup: SetupConfig, data: TaskData, seed: int) -> Strategy:
        params = dict(setup.adapt)
        name = params.pop("strategy")
        folder = self.run_dir / "models" / f"{name}-{_key([name, params, self.config.model])}-seed{seed}"
        if (folder / STRATEGY_FILE).is_file():
            logger.info("Reusing trained %s from %s", name, folder)
            return load_strategy(folder, embedder=self.embedder)
        strategy = build_strategy(name, params, self.config.model, seed=seed, embedder=self.embedder)
        t0 = time.perf_counter()
        strategy.fit(data.train)
        logger.info("Trained %s in %.1f s", name, time.perf_counter() - t0)
        strategy.save(folder)
        return strategy

    def _retriever(self, retrieval: dict[str, Any], data: TaskData):
        from polyglot_transfer.adapt.base import config_from_dict
        from polyglot_transfer.retrieval.retriever import IndexRetriever
        from polyglot_transfer.retrieval.vote import RetrievalConfig, RetrievalVoteClassifier, build_task_index

        cfg = config_from_dict(RetrievalConfig, dict(retrieval), "retrieval")
        index = build_task_index(
            self.embedder,
            data.train if cfg.use_examples else None,
            data.documents if cfg.use_documents else None,
            recipe=cfg.recipe,
        )
        retriever = IndexRetriever(index=index, embedder=self.embedder, k=cfg.k)
        return RetrievalVoteClassifier(retriever, data.labels, temperature=cfg.temperature)

    # -- the run --------------------------------------------------------------------------------
    def _cell_path(self, seed: int, setup: str, lang: str) -> Path:
        safe = setup.replace("/", "_")
        return self.run_dir / "cells" / f"seed{seed}" / safe / f"{lang}.json"

    def _write_manifest(self, data: TaskData) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "config.resolved.yaml",
                          yaml.safe_dump(self.config.to_dict(), sort_keys=False, allow_unicode=True))
        manifest = {
            "name": self.config.name,
            "config_sha256": sha256_text(json.dumps(self.config.to_dict(), sort_keys=True)),
            "seeds": self.config.seeds,
            "model": model_fingerprint(resolve_model(self.config.model)),
            "data": {
                "train": {"name": data.train.name, "n": len(data.train), "sha256": data.train.fingerprint()},
                "tests": {lang: {"n": len(ds), "sha256": ds.fingerprint()} for lang, ds in data.tests.items()},
                "documents": None if data.documents is None else {
                    "n": len(data.documents), "sha256": data.documents.fingerprint()},
            },
            "environment": environment(),
        }
        previous = self.run_dir / "manifest.json"
        if previous.is_file():
            old = json.loads(previous.read_text())
            if old.get("config_sha256") != manifest["config_sha256"] or old.get("data") != manifest["data"]:
                raise ConfigError(
                    f"{self.run_dir} holds a run with a different config or data. Resuming would mix results: "
                    "use another output_dir (e.g. --set output_dir=runs/new) or delete the old folder."
                )
        atomic_write_json(previous, manifest)

    def run(self) -> RunResult:
        from polyglot_transfer.evaluation.results import build_results
        from polyglot_transfer.evaluation.report import write_reports

        started = time.perf_counter()
        config = self.config
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        data = load_task_data(config)
        self._write_manifest(data)
        total = len(config.seeds) * len(config.setups) * len(config.target_languages)
        progress = _Progress(total, self.progress)
        try:
            for seed in config.seeds:
                self._run_seed(seed, data, progress)
        finally:
            progress.close()
        results = build_results(config, data, self.run_dir, duration_s=time.perf_counter() - started)
        atomic_write_json(self.run_dir / "results.json", results)
        reports = write_reports(results, self.run_dir)
        return RunResult(self.run_dir, results, reports)

    def _run_seed(self, seed: int, data: TaskData, progress: _Progress) -> None:
        config = self.config
        strategies: dict[str, Strategy] = {}
        voters: dict[str, Any] = {}
        adapt_probs: dict[tuple[str, str], np.ndarray] = {}
        rag_probs: dict[tuple[str, str], np.ndarray] = {}
        for setup_name, setup in config.setups.items():
            for lang, test in data.tests.items():
                path = self._cell_path(seed, setup_name, lang)
                if path.is_file():
                    progress.step(f"seed {seed} {setup_name} {lang}: done earlier")
                    continue
                parts: list[tuple[float, np.ndarray]] = []
                if setup.adapt:
                    akey = _key(setup.adapt)
                    if akey not in strategies:
                        strategies[akey] = self._strategy(setup, data, seed)
                    if (akey, lang) not in adapt_probs:
                        adapt_probs[akey, lang] = strategies[akey].predict_proba(test.texts)
                    weight = setup.combine_weight if setup.retrieval else 1.0
                    parts.append((weight, _align(adapt_probs[akey, lang], strategies[akey].labels_, data.labels)))
                if setup.retrieval:
                    rkey = _key(setup.retrieval)
                    if rkey not in voters:
                        voters[rkey] = self._retriever(setup.retrieval, data)
                    if (rkey, lang) not in rag_probs:
                        rag_probs[rkey, lang] = voters[rkey].predict_proba(test.texts)
                    weight = 1.0 - setup.combine_weight if setup.adapt else 1.0
                    parts.append((weight, rag_probs[rkey, lang]))
                probs = sum(w * p for w, p in parts)
                pred = [data.labels[i] for i in np.asarray(probs).argmax(axis=1)]
                atomic_write_json(path, {
                    "setup": setup_name, "language": lang, "seed": seed, "labels": data.labels,
                    "ids": test.ids, "y_true": test.labels, "y_pred": pred,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                })
                acc = float(np.mean([a == b for a, b in zip(test.labels, pred)]))
                progress.step(f"seed {seed} {setup_name} {lang}: accuracy {acc:.3f}")


def _align(probs: np.ndarray, labels: list[str], target: list[str]) -> np.ndarray:
    """Reorder probability columns from `labels` to `target` order."""
    if list(labels) == list(target):
        return probs
    out = np.zeros((len(probs), len(target)), dtype=np.float32)
    for j, label in enumerate(labels):
        if label in target:
            out[:, target.index(label)] = probs[:, j]
    return out


def run_compare(config: CompareConfig, *, run_dir: str | Path | None = None, progress: bool = True) -> RunResult:
    """Run a comparison and write results.json, report.md and report.html into the run folder."""
    return CompareRunner(config, run_dir=run_dir, progress=progress).run()

