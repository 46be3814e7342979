"""`backend: ray`: run the independent units of a compare grid (seed x source) as Ray tasks.

Each task rebuilds the config and data in its worker, trains and evaluates one unit, and writes its
cells into the shared run folder exactly as the local runner would (same paths, same atomic writes),
so results are identical and an interrupted Ray run resumes like a local one. Without an address in
``RAY_ADDRESS``, a local cluster of ``config.workers`` CPUs is started and shut down again; every
worker uses ``config.threads`` (default 1) torch threads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from polyglot_transfer.errors import ConfigError, PGTError
from polyglot_transfer.evaluation.config import CompareConfig

logger = logging.getLogger(__name__)

#: Environment the workers get: one thread per library, offline model loading kept as the driver has it.
_PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "PGT_MODELS_DIR", "PGT_CORPORA_DIR", "PGT_HOME")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("backend 'ray' needs the ray package, which is not installed. Install it with "
                          "`pip install 'polyglot-transfer[ray]'` or set backend: local.") from None
    return ray


def run_units_on_ray(config: CompareConfig, run_dir: Path, units: list[tuple[int, str]],
                     worker: Callable[[dict[str, Any], str, int, str], list[str]]
                     ) -> Iterator[tuple[int, str, list[str]]]:
    """Run `units` as Ray tasks of `worker(config_dict, run_dir, seed, source)`; yield (seed, source, cells
    written) as each finishes."""
    if not units:
        return
    ray = _import_ray()
    threads = str(config.threads or 1)
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env}, logging_level=logging.WARNING)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(worker)
        config_dict = config.to_dict()
        pending = {remote.remote(config_dict, str(run_dir), seed, source): (seed, source) for seed, source in units}
        logger.info("Running %d unit(s) on Ray with %d worker(s)", len(pending), config.workers)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            seed, source = pending.pop(ref)
            try:
                written = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.as_instanceof_cause()
                if isinstance(cause, PGTError):
                    raise cause from None
                raise
            yield seed, source, written
    finally:
        if started:
            ray.shutdown()
