"""`import polyglot_transfer as pgt`: the public names, lazily loaded, documented, and free of PEFT clashes."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import polyglot_transfer as pgt
from polyglot_transfer.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_import_is_cheap_heavy_libraries_load_on_first_use() -> None:
    code = ("import sys, polyglot_transfer as pgt\n"
            "heavy = [m for m in ('torch', 'transformers', 'faiss', 'sklearn', 'langchain_core') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "pgt.VectorIndex\n"
            "assert 'faiss' in sys.modules or 'polyglot_transfer.retrieval.faiss_index' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_every_public_name_resolves_and_is_documented() -> None:
    assert {"compare", "run_compare", "load_config", "Embedder", "VectorIndex", "IndexRetriever", "HybridRetriever",
            "build_strategy", "STRATEGIES", "diagnose"} <= set(pgt.__all__)
    undocumented = []
    for name in pgt.__all__:
        value = getattr(pgt, name)
        if name == "__version__":
            continue
        doc = value.__dict__.get("__doc__") if isinstance(value, type) else inspect.getdoc(value)
        if not doc or (isinstance(value, type) and doc.startswith(f"{name}(")):  # the dataclass default
            undocumented.append(name)
    assert undocumented == [], f"public names without a docstring: {undocumented}"
    assert set(pgt.__all__) <= set(dir(pgt))
    assert "head" in pgt.STRATEGIES and pgt.build_strategy("head", {}, "unused").name == "head"
    with pytest.raises(AttributeError, match="has no attribute 'LoraConfig'"):
        pgt.LoraConfig  # noqa: B018


def test_tasks_are_exposed_when_the_task_registry_exists() -> None:
    has_tasks = importlib.util.find_spec("polyglot_transfer.tasks") is not None
    assert ("tasks" in pgt.__all__) == has_tasks
    if has_tasks:
        assert pgt.tasks.__name__ == "polyglot_transfer.tasks"


def test_no_public_name_clashes_with_peft() -> None:
    peft = pytest.importorskip("peft")
    clashes = sorted(set(pgt.__all__) & {n for n in dir(peft) if not n.startswith("_")})
    assert clashes == [], f"these names would shadow PEFT's in `from ... import *` code: {clashes}"


def test_package_is_typed() -> None:
    assert (Path(pgt.__file__).parent / "py.typed").is_file()


def test_load_config_finds_the_shipped_examples_from_any_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = pgt.load_config("demo", overrides=["seeds=[0,1]"])
    assert config.name == "demo" and config.seeds == [0, 1]
    assert pgt.load_config("eval/configs/demo.yaml").name == "demo"
    assert {"demo", "nusax", "adapt_lora"} <= set(pgt.list_example_configs())
    assert pgt.validate_config("demo") == []
    [problem] = pgt.validate_config("dmeo")
    assert "Did you mean 'demo'" in problem and "Pass a YAML file or one of the examples" in problem
    with pytest.raises(ConfigError, match="neither a file nor an example config"):
        pgt.load_config("no-such-config.yaml")


def test_compare_refuses_what_is_not_a_config() -> None:
    with pytest.raises(ConfigError, match="compare\\(\\) needs a config file, an example name, a mapping or a "
                                          "CompareConfig; got int"):
        pgt.compare(3)
    with pytest.raises(ConfigError, match="problem\\(s\\) in the config mapping"):
        pgt.compare({"name": "x"})
    with pytest.raises(ConfigError, match="overrides apply to a config file or mapping"):
        pgt.compare(pgt.load_config("demo"), overrides=["seeds=[1]"])


def test_type_stub_declares_exactly_the_lazy_names() -> None:
    import ast

    stub = ast.parse((Path(pgt.__file__).parent / "__init__.pyi").read_text(encoding="utf-8"))
    declared = {alias.asname for node in stub.body if isinstance(node, ast.ImportFrom) for alias in node.names
                if alias.asname}
    assert declared == set(pgt._LAZY), declared ^ set(pgt._LAZY)
