"""`pgt compare` killed with SIGKILL mid-run resumes without recomputing finished cells, and ends with
the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml

from polyglot_transfer.evaluation.compare import run_compare
from polyglot_transfer.evaluation.config import load_config
from tests.conftest import REPO
from tests.test_compare import two_source_raw

COMPARED = ("records", "comparisons", "summary", "transfer_matrix", "forgetting", "diagnostics")


def _compare(config_path, log):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-m", "polyglot_transfer.cli.main", "compare", str(config_path)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _files(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*.json")} if folder.is_dir() else {}


def test_sigkill_then_rerun_recomputes_nothing_finished(tiny_encoder, tmp_path):
    raw = two_source_raw(tmp_path, tiny_encoder, output_dir=str(tmp_path / "run"), seeds=[0])
    raw["setups"].pop("rag")  # head + lora, 2 sources, 2 targets: 8 cells in 2 units
    config_path = tmp_path / "two.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    with open(tmp_path / "first.log", "w") as log:
        proc = _compare(config_path, log)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not _files(run / "cells"):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    cells_before = _files(run / "cells")
    models_before = _files(run / "models")
    assert 1 <= len(cells_before) < 8, f"killed too late or too early: {len(cells_before)} cells"
    assert not (run / "results.json").exists()

    with open(tmp_path / "second.log", "w") as log:
        proc = _compare(config_path, log)
        assert proc.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-3000:]
    cells_after = _files(run / "cells")
    assert len(cells_after) == 8
    assert {p: cells_after[p] for p in cells_before} == cells_before, "a finished cell was computed again"
    models_after = _files(run / "models")
    assert {p: models_after[p] for p in models_before} == models_before, "a finished model was trained again"

    resumed = json.loads((run / "results.json").read_text())
    config = load_config(config_path, [f"output_dir={tmp_path / 'straight'}"])
    straight = run_compare(config, progress=False).results
    for key in COMPARED:
        assert resumed[key] == straight[key], key
