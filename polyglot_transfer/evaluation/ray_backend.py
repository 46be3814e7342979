"""`backend: ray`: run the compare grid as Ray tasks, on a local cluster or an existing one.

One Ray task is one *group* of a (seed, source) unit: the setups that share a trained model (`lora` and
`lora+rag` train one LoRA), or retrieval-only setups with equal resources. Each task asks Ray for the
group's resources — the largest of its setups' `resources` (default: the run's `resources`, else
``{num_cpus: threads or 1, num_gpus: 0}``) — so a cluster with GPU nodes places the LoRA cells there and
the retrieval cells on CPU nodes.

Workers need not share a file system with the driver: a task trains and evaluates in a scratch folder of
its own and *streams* every finished cell (and forgetting score) back as soon as it is written; the driver
writes each one into the run folder atomically, at the same path a local run uses. A killed driver
therefore loses at most the cells in flight: rerunning the command skips every cell already in the run
folder (the cells a group already has are sent along, so its worker skips them too). Trained models stay
in the workers' scratch folders and are not kept.

Without `ray_address` (or ``RAY_ADDRESS``) a local cluster of ``config.workers`` CPUs is started and shut
down again; with it, the driver connects to that cluster (whose nodes must have polyglot-transfer, the
model and the data installed) and leaves it running.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from polyglot_transfer.errors import ConfigError, IntegrityError, PGTError
from polyglot_transfer.evaluation.config import CompareConfig
from polyglot_transfer.evaluation.run_folder import (
    FORGETTING_DIR,
    cell_path,
    forgetting_path,
    key_of,
    model_dir,
    read_cell,
    trains_encoder,
)
from polyglot_transfer.fileio import atomic_write_text

logger = logging.getLogger(__name__)

#: Environment the workers get: one thread per library, offline model loading kept as the driver has it.
_PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "PGT_MODELS_DIR", "PGT_CORPORA_DIR", "PGT_HOME")
#: What a worker streams back: files under these folders of its scratch run folder.
_STREAMED_DIRS = ("cells", FORGETTING_DIR)

Worker = Callable[..., list[str]]


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("backend 'ray' needs the ray package, which is not installed. Install it with "
                          "`pip install 'polyglot-transfer[ray]'` or set backend: local.") from None
    return ray


# -- planning -------------------------------------------------------------------------------------------


def setup_resources(config: CompareConfig, name: str) -> dict[str, float]:
    """The Ray resources one setup's cells need: its own `resources`, over the run's, over the default."""
    out: dict[str, float] = {"num_cpus": float(config.threads or 1), "num_gpus": 0.0}
    out.update({k: float(v) for k, v in (config.resources or {}).items()})
    out.update({k: float(v) for k, v in (config.setups[name].resources or {}).items()})
    return out


def setup_groups(config: CompareConfig) -> list[tuple[list[str], dict[str, float]]]:
    """Setups that run in one Ray task, with the task's resources (the largest of each kind in the group).

    Setups with equal `adapt` share one trained model, so they stay together; setups without `adapt`
    (retrieval only) group by their resources."""
    groups: dict[str, list[str]] = {}
    for name, setup in config.setups.items():
        key = ("adapt", key_of(setup.adapt)) if setup.adapt is not None else ("retrieval", setup_resources(config, name))
        groups.setdefault(key_of(key), []).append(name)
    out = []
    for names in groups.values():
        needs = [setup_resources(config, n) for n in names]
        out.append((names, {k: max(r[k] for r in needs) for k in needs[0]}))
    return out


def group_files(config: CompareConfig, run_dir: Path, seed: int, source: str, names: list[str]) -> list[Path]:
    """Every file a finished group leaves in the run folder: its cells and its models' forgetting scores."""
    files = [cell_path(run_dir, seed, source, n, lang) for n in names for lang in config.target_languages]
    if config.forgetting:
        files += sorted({forgetting_path(run_dir, model_dir(run_dir, config, config.setups[n], source, seed))
                         for n in names if trains_encoder(config.setups[n])})
    return files


def subset_config(config_dict: dict[str, Any], names: list[str], needs: dict[str, float]) -> dict[str, Any]:
    """The config of one group: only its setups (the baseline only matters to the report, on the driver),
    and as many torch threads as the task holds CPUs unless the config sets `threads`."""
    out = dict(config_dict)
    out["setups"] = {n: config_dict["setups"][n] for n in names}
    out["baseline"] = None
    out["threads"] = config_dict.get("threads") or max(1, int(needs["num_cpus"]))
    return out


# -- the worker side ------------------------------------------------------------------------------------


class _FileStream:
    """Passed to the runner as its progress: after every cell it queues the new files of the scratch run
    folder (cells, forgetting scores), which the task then yields to the driver."""

    def __init__(self, root: Path, out: queue.Queue, already: set[str]) -> None:
        self.root, self.out, self.sent = root, out, set(already)

    def flush(self) -> None:
        for folder in _STREAMED_DIRS:
            for path in sorted((self.root / folder).rglob("*.json")):
                rel = path.relative_to(self.root).as_posix()
                if rel not in self.sent:
                    self.sent.add(rel)
                    self.out.put((rel, path.read_text(encoding="utf-8")))

    def step(self, message: str, n: int = 1) -> None:
        self.flush()

    def close(self) -> None:
        self.flush()


_DONE = object()


def stream_group(worker: Worker, config_dict: dict[str, Any], seed: int, source: str,
                 existing: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Ray task body: run `worker` on one group in a scratch run folder seeded with the group's `existing`
    files, yielding (relative path, file text) of every file it writes, as it writes it."""
    scratch = Path(tempfile.mkdtemp(prefix="pgt-ray-"))
    try:
        for rel, text in existing.items():
            path = scratch / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        out: queue.Queue = queue.Queue()
        stream = _FileStream(scratch, out, set(existing))

        def run() -> None:
            try:
                worker(config_dict, str(scratch), seed, source, progress=stream)
                stream.flush()
                out.put(_DONE)
            except BaseException as exc:  # handed to the task's thread, which raises it
                out.put(exc)

        thread = threading.Thread(target=run, name="pgt-unit", daemon=True)
        thread.start()
        while True:
            item = out.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
        thread.join()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- the driver side ------------------------------------------------------------------------------------


def _safe_target(run_dir: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or parts[0] not in _STREAMED_DIRS or ".." in parts or PurePosixPath(rel).is_absolute():
        raise IntegrityError(f"A Ray worker sent a file for {rel!r}, outside the run folder's "
                             f"{' and '.join(_STREAMED_DIRS)} folders. Expected paths like cells/seed0/...json.")
    return run_dir.joinpath(*parts)


def _init(ray: Any, config: CompareConfig) -> bool:
    """Connect to `ray_address` (or RAY_ADDRESS), else start a local cluster; True when we started one."""
    if ray.is_initialized():
        return False
    threads = str(int(config.threads or 1))
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    address = config.ray_address or os.environ.get("RAY_ADDRESS")
    common = dict(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env},
                  logging_level=logging.WARNING)
    if address:
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"Could not connect to the Ray cluster at {address!r}: {exc}. Start one with "
                              "`ray start --head` (and `ray start --address HEAD:6379` on the other nodes) or "
                              "drop ray_address to run on a local cluster.") from None
        logger.info("Connected to the Ray cluster at %s: %s", address, ray.cluster_resources())
        return True
    ray.init(num_cpus=config.workers, **common)  # GPUs: what Ray detects on this machine
    return True


def _check_fits(ray: Any, needs: dict[str, float], names: list[str]) -> None:
    """A task no single node can hold would wait forever: refuse it up front."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for key, ray_key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        largest = max((n.get(ray_key, 0.0) for n in nodes), default=0.0)
        if needs.get(key, 0) > largest:
            raise ConfigError(f"Setups {', '.join(names)} need {key}={needs[key]:g} per cell but the largest node of "
                              f"the Ray cluster has {largest:g} {ray_key}(s), so they would wait forever. Lower their "
                              "`resources` or add a node with enough, e.g. `ray start --address HEAD:6379 "
                              f"--num-{'gpus' if ray_key == 'GPU' else 'cpus'} N`.")


def _finished(run_dir: Path, path: Path) -> bool:
    """Whether a file of the grid is there and usable: cells are validated (read_cell), other files exist."""
    if path.relative_to(run_dir).parts[0] == "cells":
        return read_cell(path) is not None
    return path.is_file()


STREAM_STALL_S = 30.0  # a task ended but its stream has had nothing to read for this long: the items are lost
STREAM_ATTEMPTS = 3


def _stalled_stream(ray: Any, gen: Any, stalled: dict, names: list[str], seed: int, source: str, attempt: int) -> bool:
    """Track a stream whose task has ended with nothing ready to read; True once it is given up (after
    STREAM_STALL_S) and its group should be submitted again. Raises the task's own error if it failed, or an
    IntegrityError once the group has been tried STREAM_ATTEMPTS times."""
    if time.monotonic() - stalled.setdefault(gen, time.monotonic()) < STREAM_STALL_S:
        return False
    try:
        ray.get(gen.completed())
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        if isinstance(cause, PGTError):
            raise cause from None
        raise
    if attempt >= STREAM_ATTEMPTS:
        raise IntegrityError(
            f"Ray finished the task of setups {', '.join(names)} (seed {seed}, source {source}) {attempt} times but "
            f"its cells never reached this driver (nothing to read for {STREAM_STALL_S:.0f} s after the task "
            "ended). The cells already in the run folder are kept: run the same command again to resume.")
    logger.warning("Ray: the task of setups %s (seed %s, source %s) ended but its stream delivered nothing for "
                   "%.0f s; submitting the group again (attempt %d of %d).", ", ".join(names), seed, source,
                   STREAM_STALL_S, attempt + 1, STREAM_ATTEMPTS)
    return True


def run_units_on_ray(config: CompareConfig, run_dir: Path, units: list[tuple[int, str]], worker: Worker
                     ) -> Iterator[tuple[int, str, str, bool]]:
    """Run the groups of `units` as Ray tasks of `worker(config_dict, run_dir, seed, source, progress=...)`.

    Yields (seed, source, relative path, fresh) for every cell and forgetting file of the grid: files
    already in the run folder first (fresh=False), then each new one as a worker finishes it, after it has
    been written into `run_dir`."""
    run_dir = Path(run_dir)
    groups = setup_groups(config)
    todo = []
    for seed, source in units:
        for names, needs in groups:
            files = group_files(config, run_dir, seed, source, names)
            done = [p for p in files if _finished(run_dir, p)]  # a damaged cell is not done: computed again
            for path in done:
                yield seed, source, path.relative_to(run_dir).as_posix(), False
            if len(done) < len(files):
                existing = {p.relative_to(run_dir).as_posix(): p.read_text(encoding="utf-8") for p in done}
                todo.append((seed, source, names, needs, existing))
    if not todo:
        return
    ray = _import_ray()
    started = _init(ray, config)
    try:
        config_dict = config.to_dict()
        task = ray.remote(max_retries=0)(stream_group)
        pending: dict = {}  # stream -> (seed, source, names, needs, existing, attempt)

        def submit(seed, source, names, needs, existing, attempt=1):
            ref = task.options(num_cpus=needs["num_cpus"], num_gpus=needs["num_gpus"]).remote(
                worker, subset_config(config_dict, names, needs), seed, source, existing)
            pending[ref] = (seed, source, names, needs, existing, attempt)

        for seed, source, names, needs, existing in todo:
            _check_fits(ray, needs, names)
            submit(seed, source, names, needs, existing)
        logger.info("Running %d task(s) on Ray (%s)", len(pending), ray.cluster_resources())
        stalled: dict = {}  # stream -> when its task was first seen ended with nothing left to read
        while pending:
            # Poll each stream and read only what is ready: next() on a stream blocks, and once (1 run in 6 here, on a
            # two-node cluster) a task ended while its stream never delivered its items, so a blocking next()
            # waited forever. Such a stream is given up after STREAM_STALL_S and its group submitted again.
            progressed = False
            for gen in list(pending):
                seed, source, names, needs, existing, attempt = pending[gen]
                if gen.is_finished():
                    del pending[gen]
                    stalled.pop(gen, None)
                    progressed = True
                    continue
                if not gen.next_ready():
                    ended = ray.wait([gen.completed()], timeout=0)[0]
                    if ended and _stalled_stream(ray, gen, stalled, names, seed, source, attempt):
                        del pending[gen], stalled[gen]  # given up: run the group again
                        done = [p for p in group_files(config, run_dir, seed, source, names)
                                if _finished(run_dir, p)]  # what did arrive is not computed again
                        submit(seed, source, names, needs,
                               {p.relative_to(run_dir).as_posix(): p.read_text(encoding="utf-8") for p in done},
                               attempt + 1)
                        progressed = True
                    continue
                try:
                    rel, text = ray.get(next(gen))
                except StopIteration:
                    del pending[gen]
                    progressed = True
                    continue
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.as_instanceof_cause()
                    if isinstance(cause, PGTError):
                        raise cause from None
                    raise
                atomic_write_text(_safe_target(run_dir, rel), text)
                progressed = True
                yield seed, source, rel, True
            if pending and not progressed:  # nothing new: wait up to a second, or until a task ends
                ray.wait([gen.completed() for gen in pending], num_returns=1, timeout=1.0)
    finally:
        if started:
            ray.shutdown()
