"""`pgt compare`: adapted models, retrieval and both, side by side per language, with bootstrap CIs.

The grid is task x setup x source x target x seed. One *unit* of work is a (seed, source) pair: train
every setup on that source's data, then evaluate on every target. Units are independent, so they run
one after the other in this process (``backend: local``) or as Ray tasks on a local cluster
(``backend: ray``); both write the same files and give the same numbers.

The run folder (runs/<name>/ unless the config says otherwise) holds, as the run goes:
- config.resolved.yaml and manifest.json (versions, hardware, model and data hashes, seeds);
- models/<strategy>-<key>-<source>-seed<k>/: each trained strategy (safetensors + JSON), reused on resume;
- cells/seed<k>/<source>/<setup>/<lang>.json: predictions of one finished cell, written atomically; a
  rerun of the same command skips every cell that is already there;
- forgetting/: source-language scores before (frozen encoder + probe) and after each trained model;
- diagnostics.json: tokenizer fit of every target against the sources, computed once;
- results.json, report.md, report.html at the end.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from polyglot_transfer.adapt import build_strategy, load_strategy
from polyglot_transfer.adapt.base import Strategy, predict_for_language
from polyglot_transfer.errors import ConfigError, PGTError
from polyglot_transfer.evaluation.config import CompareConfig, SetupConfig, build_config
from polyglot_transfer.evaluation.manifest import environment
from polyglot_transfer.evaluation.qa_runner import run_qa_unit
from polyglot_transfer.evaluation.ray_backend import run_units_on_ray
from polyglot_transfer.evaluation.report import write_reports
from polyglot_transfer.evaluation.results import build_results
from polyglot_transfer.evaluation.run_folder import (
    DIAGNOSTICS_FILE,
    FORGETTING_DIR,
    cell_path,
    forgetting_path,
    key_of,
    model_complete,
    model_dir,
    read_cell,
    read_json_file,
    trains_encoder,
)
from polyglot_transfer.evaluation.task_data import TaskData, load_task_data
from polyglot_transfer.evaluation.validate import check_data, check_model, check_run_folder, raise_problems
from polyglot_transfer.fileio import atomic_write_json, atomic_write_text, file_lock, sha256_text
from polyglot_transfer.measure.metrics import get_metric
from polyglot_transfer.models.provision import model_fingerprint, resolve_model

logger = logging.getLogger(__name__)

@dataclass
class RunResult:
    """What a comparison returns: its run folder, the results (as in results.json) and the report paths."""

    run_dir: Path
    results: dict[str, Any]
    reports: dict[str, Path]


RUN_LOCK = ".compare.lock"  # held by the compare writing a run folder


class _Progress:
    """A tqdm bar on a terminal; log lines otherwise (CI logs stay readable)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="compare", unit="cell", dynamic_ncols=True)

    def step(self, message: str, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(message, refresh=False)
            self.bar.update(n)
        logger.info("%s", message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class CompareRunner:
    """Runs one CompareConfig. Expensive shared work (a trained model, an index) is built once per unit
    (seed x source) and reused by every setup and target that needs it."""

    def __init__(self, config: CompareConfig, *, run_dir: str | Path | None = None, progress: bool = True,
                 config_path: str | Path | None = None) -> None:
        self.config = config
        self.config_path = config_path  # the file the config was read from (shown in the report header)
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

    def _strategy(self, setup: SetupConfig, data: TaskData, source: str, seed: int) -> Strategy:
        params = dict(setup.adapt)
        name = params.pop("strategy")
        folder = model_dir(self.run_dir, self.config, setup, source, seed)
        if model_complete(folder):  # a damaged saved model is logged and trained again
            logger.info("Reusing trained %s from %s", name, folder)
            return load_strategy(folder, embedder=self.embedder)
        strategy = build_strategy(name, params, self.config.model, seed=seed, embedder=self.embedder)
        # Strategies that checkpoint (lora) resume an interrupted training from here.
        checkpoints = folder.with_name(folder.name + ".checkpoints")
        strategy.checkpoint_dir = checkpoints
        t0 = time.perf_counter()
        strategy.fit(data.trains[source])
        logger.info("Trained %s on %s (seed %d) in %.1f s", name, source, seed, time.perf_counter() - t0)
        strategy.save(folder)
        shutil.rmtree(checkpoints, ignore_errors=True)  # the finished model supersedes its checkpoints
        return strategy

    def _retriever(self, retrieval: dict[str, Any], data: TaskData, source: str):
        from polyglot_transfer.adapt.base import config_from_dict
        from polyglot_transfer.retrieval.retriever import IndexRetriever
        from polyglot_transfer.retrieval.vote import (
            RetrievalConfig,
            RetrievalVoteClassifier,
            build_task_index,
            select_vote_params,
        )

        cfg = config_from_dict(RetrievalConfig, dict(retrieval), "retrieval")
        documents = data.documents if cfg.use_documents else None
        selected = loo = None
        if cfg.use_examples:  # k / temperature left out: chosen by leave-one-out on the labelled source examples
            cfg.k, cfg.temperature, selected, loo = select_vote_params(
                self.embedder, data.trains[source], documents, data.labels,
                k=retrieval.get("k"), temperature=retrieval.get("temperature"))
        index = build_task_index(
            self.embedder,
            data.trains[source] if cfg.use_examples else None,
            documents,
            recipe=cfg.recipe,
        )
        retriever = IndexRetriever(index=index, embedder=self.embedder, k=cfg.k)
        return RetrievalVoteClassifier(retriever, data.labels, temperature=cfg.temperature,
                                       selected=selected, loo_proba=loo)

    def _combine_weight(self, setup: SetupConfig, strategy: Strategy, voter: Any, data: TaskData,
                        source: str) -> tuple[float, dict[str, Any]]:
        """The adapted model's weight against the vote: the config's, or chosen on source-language dev
        predictions (out-of-fold on the source train set, else a source dev split that is no reported test)."""
        from polyglot_transfer.retrieval.vote import select_combine_weight

        if setup.combine_weight is not None:
            return setup.combine_weight, {"combine_weight": setup.combine_weight,
                                          "by": "fixed in the config (default 0.5; null chooses it on source data)"}
        train = data.trains[source]
        oof = getattr(strategy, "out_of_fold_proba", None)
        adapt_dev = oof(train) if oof is not None and voter.loo_proba is not None else None
        if adapt_dev is not None:
            return select_combine_weight(
                _align(adapt_dev, strategy.labels_, data.labels), voter.loo_proba, train.labels, data.labels,
                on=f"out-of-fold predictions on {source} train (adapted model: k-fold, vote: leave-one-out)")
        held = data.heldout.get(source)
        if held is not None and len(held) and not set(source.split("+")) & set(self.config.target_languages):
            adapt_dev = _align(predict_for_language(strategy, held.texts, source), strategy.labels_, data.labels)
            return select_combine_weight(adapt_dev, voter.predict_proba(held.texts), held.labels, data.labels,
                                         on=f"{source} held-out dev split ({len(held)} examples)")
        return 0.5, {"combine_weight": 0.5, "by": f"default: {strategy.name} gives no out-of-fold predictions and "
                     f"{source} has no held-out dev split apart from the reported tests"}

    # -- bookkeeping ----------------------------------------------------------------------------
    def _cell_path(self, seed: int, source: str, setup: str, lang: str) -> Path:
        return cell_path(self.run_dir, seed, source, setup, lang)

    def units(self) -> list[tuple[int, str]]:
        """The independent units of the grid, in run order: (seed, source)."""
        return [(seed, source) for seed in self.config.seeds for source in self.config.sources]

    def _unit_cells(self, seed: int, source: str) -> list[Path]:
        return [self._cell_path(seed, source, setup, lang)
                for setup in self.config.setups for lang in self.config.target_languages]

    def _unit_forgetting(self, seed: int, source: str) -> list[Path]:
        if not self.config.forgetting:
            return []
        paths = {forgetting_path(self.run_dir, model_dir(self.run_dir, self.config, s, source, seed))
                 for s in self.config.setups.values() if trains_encoder(s)}
        return sorted(paths)

    def unit_done(self, seed: int, source: str) -> bool:
        return (all(read_cell(p) is not None for p in self._unit_cells(seed, source))
                and all(_forgetting_ok(p) for p in self._unit_forgetting(seed, source)))

    def _write_manifest(self, data: TaskData) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "config.resolved.yaml",
                          yaml.safe_dump(self.config.to_dict(), sort_keys=False, allow_unicode=True))
        manifest = {
            "name": self.config.name,
            "config_sha256": sha256_text(json.dumps(self.config.to_dict(), sort_keys=True)),
            "seeds": self.config.seeds,
            "sources": self.config.sources,
            "model": model_fingerprint(resolve_model(self.config.model)),
            "data": {
                "train": {src: {"name": ds.name, "n": len(ds), "sha256": ds.fingerprint()}
                          for src, ds in data.trains.items()},
                "tests": {lang: {"n": len(ds), "sha256": ds.fingerprint()} for lang, ds in data.tests.items()},
                "heldout": {src: {"n": len(ds), "sha256": ds.fingerprint()} for src, ds in data.heldout.items()},
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

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run the whole grid (resuming finished cells) and write results.json and the reports. One compare at
        a time per run folder: a second one is refused at once rather than writing the same cells."""
        try:
            with file_lock(self.run_dir / RUN_LOCK, wait=False):
                return self._run()
        except BlockingIOError:
            raise ConfigError(f"Another pgt compare is running in {self.run_dir} (it holds {RUN_LOCK}). Wait for it "
                              "to finish (rerunning then resumes from its cells), or give this run another "
                              "output_dir.") from None

    def _run(self) -> RunResult:
        started = time.perf_counter()
        config = self.config
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        data = load_task_data(config)
        self._write_manifest(data)
        if config.diagnostics:
            self.diagnostics(data)
        progress = _Progress(len(self.units()) * len(config.setups) * len(config.target_languages), self.progress)
        try:
            if config.backend == "ray":
                self._run_ray(progress)
            else:
                for seed, source in self.units():
                    self.run_unit(seed, source, data, progress)
        finally:
            progress.close()
        results = build_results(config, data, self.run_dir, duration_s=time.perf_counter() - started,
                                config_path=self.config_path)
        atomic_write_json(self.run_dir / "results.json", results)
        reports = write_reports(results, self.run_dir)
        return RunResult(self.run_dir, results, reports)

    def _run_ray(self, progress: _Progress) -> None:
        for seed, source, rel, fresh in run_units_on_ray(self.config, self.run_dir, self.units(), run_unit_in_worker):
            if rel.startswith("cells/"):
                progress.step(f"seed {seed} {source}: {rel} {'computed on Ray' if fresh else 'done earlier'}")

    def run_unit(self, seed: int, source: str, data: TaskData, progress: _Progress | None = None) -> list[str]:
        """Train every setup on `source` with `seed` and evaluate it on every target; skip finished cells.

        Returns the cells written now (relative paths). Forgetting is measured here too (once per model).
        """
        config = self.config
        progress = progress or _Progress(0, False)
        if data.type == "generative_qa":  # closed_book / ft / rag / ft+rag answer questions: their own runner
            return run_qa_unit(self, seed, source, data, progress)
        strategies: dict[str, Strategy] = {}
        voters: dict[str, Any] = {}
        adapt_probs: dict[tuple[str, str], np.ndarray] = {}
        rag_probs: dict[tuple[str, str], np.ndarray] = {}
        mixes: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
        written: list[str] = []
        tagging = data.type == "token_classification"
        for setup_name, setup in config.setups.items():
            for lang, test in data.tests.items():
                path = self._cell_path(seed, source, setup_name, lang)
                if read_cell(path) is not None:  # a damaged cell is logged and computed again
                    progress.step(f"seed {seed} {source}->{lang} {setup_name}: done earlier")
                    continue
                selected: dict[str, Any] = {}  # hyper-parameters chosen on source data for this setup
                if tagging:  # one tag per token; only `adapt` setups (config validation says so)
                    akey = key_of(setup.adapt)
                    if akey not in strategies:
                        strategies[akey] = self._strategy(setup, data, source, seed)
                    if (akey, lang) not in adapt_probs:
                        adapt_probs[akey, lang] = strategies[akey].predict(test.tokens)
                    pred = adapt_probs[akey, lang]
                else:
                    parts: list[tuple[float, np.ndarray]] = []
                    akey = key_of(setup.adapt) if setup.adapt is not None else None
                    rkey = key_of(setup.retrieval) if setup.retrieval is not None else None  # {}: all defaults
                    if akey and akey not in strategies:
                        strategies[akey] = self._strategy(setup, data, source, seed)
                    if rkey and rkey not in voters:
                        voters[rkey] = self._retriever(setup.retrieval, data, source)
                    mix = 1.0
                    if akey and rkey:
                        if (akey, rkey, setup.combine_weight) not in mixes:
                            mixes[akey, rkey, setup.combine_weight] = self._combine_weight(
                                setup, strategies[akey], voters[rkey], data, source)
                        mix, selected["combine"] = mixes[akey, rkey, setup.combine_weight]
                    if akey:
                        if getattr(strategies[akey], "selected_", None):
                            selected["adapt"] = strategies[akey].selected_
                        if (akey, lang) not in adapt_probs:
                            adapt_probs[akey, lang] = predict_for_language(strategies[akey], test.texts, lang)
                        parts.append((mix, _align(adapt_probs[akey, lang], strategies[akey].labels_, data.labels)))
                    if rkey:
                        if voters[rkey].selected:
                            selected["retrieval"] = voters[rkey].selected
                        if (rkey, lang) not in rag_probs:
                            rag_probs[rkey, lang] = voters[rkey].predict_proba(test.texts)
                        parts.append((1.0 - mix if akey else 1.0, rag_probs[rkey, lang]))
                    probs = sum(w * p for w, p in parts)
                    pred = [data.labels[i] for i in np.asarray(probs).argmax(axis=1)]
                atomic_write_json(path, {
                    "setup": setup_name, "source": source, "language": lang, "seed": seed, "labels": data.labels,
                    "ids": test.ids, "y_true": test.labels, "y_pred": pred, "selected": selected,
                    **({"tokens": test.tokens} if tagging else {}),  # NER: the words, for the report's examples
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                })
                written.append(str(path.relative_to(self.run_dir)))
                shown = data.task.primary_metric if tagging else "accuracy"
                score = get_metric(shown)(test.labels, pred, data.labels)
                progress.step(f"seed {seed} {source}->{lang} {setup_name}: {shown} {score:.3f}")
        if config.forgetting and (data.task is None or data.task.task_type.forgetting):
            self._measure_forgetting(seed, source, data, strategies)
        return written

    # -- forgetting -----------------------------------------------------------------------------
    def _before_score(self, source: str, data: TaskData) -> float:
        """Source-language held-out macro-F1 of a probe on the frozen encoder (cached per source)."""
        from polyglot_transfer.adapt.forgetting import linear_probe_score

        path = self.run_dir / FORGETTING_DIR / f"before-{source}.json"
        cached = read_json_file(path, what="forgetting score")
        if isinstance(cached, dict) and isinstance(cached.get("before"), int | float):
            return float(cached["before"])
        train, held = data.trains[source], data.heldout[source]
        score = linear_probe_score(self.embedder.encode_queries(train.texts), train.labels,
                                   self.embedder.encode_queries(held.texts), held.labels, metric="macro_f1")
        atomic_write_json(path, {"language": source, "before": score, "metric": "macro_f1",
                                 "n_train": len(train), "n_eval": len(held)})
        return score

    def _measure_forgetting(self, seed: int, source: str, data: TaskData, strategies: dict[str, Strategy]) -> None:
        from polyglot_transfer.adapt.forgetting import measure_forgetting

        if source not in data.heldout:
            logger.warning("No held-out %s data to measure forgetting on; skipped.", source)
            return
        for setup_name, setup in self.config.setups.items():
            if not trains_encoder(setup):
                continue
            folder = model_dir(self.run_dir, self.config, setup, source, seed)
            path = forgetting_path(self.run_dir, folder)
            if _forgetting_ok(path):
                continue
            akey = key_of(setup.adapt)
            strategy = strategies.get(akey) or self._strategy(setup, data, source, seed)
            strategies[akey] = strategy
            try:
                result = measure_forgetting(strategy, data.trains[source], data.heldout[source],
                                            embedder=self.embedder, before=self._before_score(source, data),
                                            metric="macro_f1", mode="probe", seed=seed)
            except PGTError as exc:
                logger.warning("Could not measure forgetting of %s on %s: %s", setup_name, source, exc)
                continue
            atomic_write_json(path, {**result.to_dict(), "strategy": setup.adapt.get("strategy"),
                                     "seed": seed, "source": source, "model": folder.name,
                                     "n_eval": len(data.heldout[source])})

    # -- diagnostics ----------------------------------------------------------------------------
    def diagnostics(self, data: TaskData) -> list[dict[str, Any]]:
        """Tokenizer fit of every target's test texts against every source's training texts (cached)."""
        path = self.run_dir / DIAGNOSTICS_FILE
        cached = read_json_file(path, what="diagnostics file")
        if isinstance(cached, list):
            return cached
        from polyglot_transfer.diagnostics.tokenizer_fit import compare_fit, load_tokenizer, tokenizer_fit

        try:
            tokenizer = load_tokenizer(self.config.model)
            source_fits = {src: tokenizer_fit(tokenizer, ds.texts, None if "+" in src else src, label=src)
                           for src, ds in data.trains.items()}
            out = []
            for lang, test in data.tests.items():
                fit = tokenizer_fit(tokenizer, test.texts, lang, label=f"{lang} test")
                notes = [note for src, sfit in source_fits.items() if src != lang for note in compare_fit(fit, sfit)]
                out.append({"language": lang, "fertility": fit.fertility, "unit": fit.unit,
                            "unk_rate": round(fit.unk_rate, 4), "flags": list(fit.flags), "notes": notes,
                            "source_fertility": {src: round(f.fertility, 3) for src, f in source_fits.items()}})
        except (PGTError, OSError, ValueError) as exc:
            logger.warning("Tokenizer diagnostics failed: %s", exc)
            out = []
        atomic_write_json(path, out)
        return out


def _forgetting_ok(path: Path) -> bool:
    """Whether a forgetting score file is complete (a damaged one is measured again)."""
    found = read_json_file(path, what="forgetting score")
    return isinstance(found, dict) and all(isinstance(found.get(k), int | float) for k in ("before", "after", "drop"))


def _align(probs: np.ndarray, labels: list[str], target: list[str]) -> np.ndarray:
    """Reorder probability columns from `labels` to `target` order."""
    if list(labels) == list(target):
        return probs
    out = np.zeros((len(probs), len(target)), dtype=np.float32)
    for j, label in enumerate(labels):
        if label in target:
            out[:, target.index(label)] = probs[:, j]
    return out


def run_unit_in_worker(config_dict: dict[str, Any], run_dir: str, seed: int, source: str,
                       progress: Any = None) -> list[str]:
    """Run one (seed, source) unit in a fresh process (a Ray worker): rebuild config and data, then run."""
    import torch

    config, problems = build_config(config_dict, source="config (worker)")
    if problems:
        raise ConfigError("The config sent to the worker is invalid:\n- " + "\n- ".join(problems))
    torch.set_num_threads(config.threads or 1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    runner = CompareRunner(config, run_dir=run_dir, progress=False)
    return runner.run_unit(seed, source, load_task_data(config), progress)


def run_compare(config: CompareConfig, *, run_dir: str | Path | None = None, progress: bool = True,
                check: bool = True, config_path: str | Path | None = None) -> RunResult:
    """Run a comparison and write results.json, report.md and report.html into the run folder.

    First (unless `check=False`, for a config that already went through
    :func:`polyglot_transfer.evaluation.validate.load_checked_config`) the checks `pgt validate` makes on the
    model folder, the data and the run folder: nothing loads or is written when one fails. `config_path` is
    the file the user ran; the report's header names it next to the resolved copy.
    """
    if check:
        raise_problems(check_model(config) + check_data(config) + check_run_folder(config, run_dir), config.name)
    return CompareRunner(config, run_dir=run_dir, progress=progress, config_path=config_path).run()
