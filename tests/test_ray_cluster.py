"""`backend: ray` against an existing cluster: a head and a second node started with the `ray` CLI on
127.0.0.1 (1 CPU each), a tiny compare placed by its setups' resources, resumed after cells go missing,
and a setup no node can hold refused. The cluster's processes are stopped by their own process group."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.evaluation.compare import run_compare
from polyglot_transfer.evaluation.config import build_config
from polyglot_transfer.evaluation.ray_backend import setup_groups
from tests.conftest import REPO
from tests.test_compare import two_source_raw

ray = pytest.importorskip("ray")
RAY_CLI = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # --block keeps `ray start` in the foreground; its own session holds every process the node starts
    with open(log, "w") as out:
        return subprocess.Popen([str(RAY_CLI), "start", "--block", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):  # a node drains up to 30 s on SIGTERM
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # workers left in the group after `ray start` returned
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    if not RAY_CLI.is_file():
        pytest.skip("the ray CLI is not installed next to this Python")
    logs = tmp_path_factory.mktemp("ray-logs")
    temp_dir = tempfile.mkdtemp(prefix="pgtray", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    # a loopback-only test cluster: no token auth, so the nodes and this driver need no shared secret
    auth = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", RAY_NODE_IP_ADDRESS="127.0.0.1", **auth)
    env.pop("RAY_ADDRESS", None)
    patch = pytest.MonkeyPatch()
    for key, value in auth.items():
        patch.setenv(key, value)
    common = ["--num-cpus=1", "--num-gpus=0", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    procs = [_start(["--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false", *common],
                    env, logs / "head.log")]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _gcs_up(port):
            assert time.monotonic() < deadline and procs[0].poll() is None, (logs / "head.log").read_text()[-3000:]
            time.sleep(0.5)
        procs.append(_start([f"--address={address}", *common], env, logs / "node.log"))
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            deadline = time.monotonic() + 60
            while len([n for n in ray.nodes() if n["Alive"]]) < 2:
                assert time.monotonic() < deadline and procs[1].poll() is None, (logs / "node.log").read_text()[-3000:]
                time.sleep(0.5)
        finally:
            ray.shutdown()
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)
        patch.undo()


def _gcs_up(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _raw(tmp_path, tiny_encoder, address, **extra):
    raw = two_source_raw(tmp_path, tiny_encoder, backend="ray", ray_address=address, seeds=[0],
                         output_dir=str(tmp_path / "run"), diagnostics=False, **extra)
    raw["setups"]["lora"]["resources"] = {"num_cpus": 1}
    raw["setups"]["lora+rag"] = {"adapt": dict(raw["setups"]["lora"]["adapt"]), "retrieval": {"k": 3},
                                 "resources": {"num_cpus": 0.5}}
    raw["setups"]["rag"]["resources"] = {"num_cpus": 0.5}
    raw["setups"].pop("head")  # the grid's point here is placement and streaming, not every strategy
    raw["baseline"] = "rag"
    return raw


def test_groups_keep_a_shared_model_together_and_take_the_largest_resources(tmp_path, tiny_encoder):
    config, problems = build_config(_raw(tmp_path, tiny_encoder, "127.0.0.1:1"))
    assert not problems, problems
    groups = {tuple(names): needs for names, needs in setup_groups(config)}
    assert groups == {("lora", "lora+rag"): {"num_cpus": 1.0, "num_gpus": 0.0},
                      ("rag",): {"num_cpus": 0.5, "num_gpus": 0.0}}


# About a minute on 2 idle cores (3 min on a loaded machine). In the slow set (`make test-slow`), not CI: in 1
# run of 6 here a task ended while its stream never delivered its cells and a blocking next() waited forever
# (py-spy: ObjectRefGenerator._next_sync). The backend now reads only ready items and resubmits a group whose
# stream stalls; that path has not been seen to run yet. The timeout turns any remaining hang into a failure.
@pytest.mark.slow
@pytest.mark.timeout(900, method="thread")
def test_compare_runs_on_a_two_node_cluster_and_resumes(ray_cluster, tmp_path, tiny_encoder):
    config, problems = build_config(_raw(tmp_path, tiny_encoder, ray_cluster))
    assert not problems, problems
    first = run_compare(config, progress=False)
    cells = sorted((first.run_dir / "cells").rglob("*.json"))
    assert len(cells) == 2 * 3 * 2  # source x setup x target, seed 0
    assert len(list((first.run_dir / "forgetting").glob("lora-*.json"))) == 2  # one LoRA per source, measured once
    assert first.results["environment"]["backend"] == "ray"
    # a driver killed mid-run leaves some cells: the rerun computes exactly the missing ones
    gone = [c for c in cells if "lora+rag" in c.parts or c.parts[-2] == "rag"][:3]
    before = {c: (json.loads(c.read_text())["y_pred"], c.stat().st_mtime_ns) for c in cells}
    for cell in gone[:2]:
        cell.unlink()
    gone[2].write_text(gone[2].read_text()[:30])  # a damaged cell is not done: computed again on Ray too
    second = run_compare(config, progress=False)
    for cell in cells:
        pred, mtime = before[cell]
        assert json.loads(cell.read_text())["y_pred"] == pred, cell
        assert (cell.stat().st_mtime_ns == mtime) == (cell not in gone), cell
    assert second.results["records"] == first.results["records"]


def test_a_setup_no_node_can_hold_is_refused(ray_cluster, tmp_path, tiny_encoder):
    raw = _raw(tmp_path, tiny_encoder, ray_cluster)
    raw["setups"]["lora"]["resources"] = {"num_gpus": 1}
    config, problems = build_config(raw)
    assert not problems, problems
    with pytest.raises(ConfigError, match=r"Setups lora, lora\+rag need num_gpus=1 per cell but the largest node"):
        run_compare(config, progress=False)


def test_bad_resources_and_address_are_config_problems(tmp_path, tiny_encoder):
    raw = _raw(tmp_path, tiny_encoder, "")
    raw["setups"]["rag"]["resources"] = {"num_cpu": 1, "num_gpus": -1}
    _, problems = build_config(raw)
    text = "\n".join(problems)
    assert "setups.rag.resources: unknown key 'num_cpu'. Did you mean 'num_cpus'" in text
    assert "setups.rag.resources.num_gpus must be a number >= 0" in text
    assert "ray_address must be a Ray cluster address" in text
