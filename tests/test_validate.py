"""`pgt validate` runs the checks `pgt compare` runs, before any model loads: config, model folder, data, run
folder; the schema for editors; setups that share an adapt block."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import ConfigError, DataError, IntegrityError
from polyglot_transfer.evaluation.config import build_config, load_config, model_family_of
from polyglot_transfer.evaluation.validate import (
    check_run_folder,
    load_checked_config,
    safetensors_problem,
    validate_config,
)
from polyglot_transfer.fileio import sha256_text
from tests.conftest import REPO
from tests.toy_task import write_toy_task

DEMO = REPO / "eval" / "configs" / "demo.yaml"


@pytest.fixture()
def toy(tmp_path):
    paths = write_toy_task(tmp_path / "data")
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "config.json").write_text(json.dumps({"model_type": "bert"}))
    raw = {"name": "toy", "task": {"train": str(paths["train"]), "test": str(paths["test"])}, "model": str(enc),
           "target_languages": ["eng", "swh"], "setups": {"head": {"adapt": {"strategy": "head"}},
                                                          "rag": {"retrieval": {"k": 3}}},
           "bootstrap": {"n_resamples": 200}, "output_dir": str(tmp_path / "run")}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return {"path": path, "raw": raw, "enc": enc, "tmp": tmp_path, **paths}


def test_demo_setups_share_one_lora_block_and_an_override_changes_both():
    config = load_config(DEMO, ["setups.lora.adapt.epochs=2"])
    assert config.setups["lora"].adapt == config.setups["lora+rag"].adapt
    assert config.setups["lora+rag"].adapt["epochs"] == 2 and config.setups["lora+rag"].adapt["strategy"] == "lora"
    # the resolved config (config.resolved.yaml) holds the copies and is itself valid
    again, problems = build_config(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert not problems and again == config


def test_a_shared_block_is_checked_once(tmp_path):
    problems = validate_config(DEMO, ["setups.lora.adapt.epoch=2"])
    assert len([p for p in problems if "unknown key 'epoch'" in p]) == 1
    assert "setups.lora.adapt: unknown key 'epoch'" in problems[0]


def test_references_can_chain(toy):
    raw = dict(toy["raw"], setups={"a": {"adapt": {"strategy": "head", "max_iter": 50}}, "b": {"adapt": "a"},
                                   "c": {"adapt": "b", "retrieval": {}}})
    config, problems = build_config(raw)
    assert not problems and config.setups["c"].adapt == {"strategy": "head", "max_iter": 50}


def test_schema_is_json_with_ranges_and_the_shared_block_form(capsys):
    assert main(["validate", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "CompareConfig" and schema["additionalProperties"] is False
    setup = schema["$defs"]["SetupConfig"]["properties"]
    assert {"type": "string"} in setup["adapt"]["anyOf"]
    weight = next(w for w in setup["combine_weight"].get("anyOf", [setup["combine_weight"]]) if "minimum" in w)
    assert weight["minimum"] == 0 and weight["maximum"] == 1  # or null: chosen on source data
    assert schema["$defs"]["BootstrapConfig"]["properties"]["n_resamples"]["minimum"] == 100


def test_validate_without_a_config_or_schema_is_a_usage_error(capsys):
    assert main(["validate"]) == 2
    assert "pgt validate needs a CONFIG file" in capsys.readouterr().err


def test_validate_exit_code_follows_the_kind_of_problem(toy, capsys):
    assert main(["validate", str(toy["path"])]) == 0
    toy["train"].write_text("")
    assert main(["validate", str(toy["path"])]) == 3
    assert f"{toy['train']} has no data rows" in capsys.readouterr().err
    (toy["enc"] / "model.safetensors").write_bytes(b"\x00" * 4)
    write_toy_task(toy["tmp"] / "data")
    assert main(["validate", str(toy["path"])]) == 5
    assert f"{toy['enc'] / 'model.safetensors'} is truncated" in capsys.readouterr().err


def test_data_and_model_problems_are_reported_together(toy):
    toy["train"].write_text("")
    (toy["enc"] / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as info:
        load_checked_config(toy["path"])
    assert "model.safetensors is truncated" in str(info.value) and "has no data rows" in str(info.value)
    toy["train"].write_text("")
    (toy["enc"] / "model.safetensors").unlink()
    with pytest.raises(DataError, match="has no data rows"):
        load_checked_config(toy["path"])


def test_safetensors_problem_reads_the_header_only(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "w.safetensors"
    save_file({"a": np.ones((8, 8), dtype=np.float32), "b": np.zeros(3, dtype=np.int64)}, str(path))
    assert safetensors_problem(path) is None
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    assert "is truncated: its tensors need" in safetensors_problem(path)
    path.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    assert "truncated or not a safetensors file" in safetensors_problem(path)
    path.write_bytes((2).to_bytes(8, "little") + b"{x")
    assert "garbled safetensors header" in safetensors_problem(path)


def test_model_family_without_loading_weights(toy, tmp_path):
    assert model_family_of(str(toy["enc"])) == "encoder"
    dec = tmp_path / "dec"
    dec.mkdir()
    (dec / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    assert model_family_of(str(dec)) == "decoder"
    assert model_family_of("HuggingFaceTB/SmolLM2-135M-Instruct") == "decoder"
    assert model_family_of(str(tmp_path / "absent")) is None
    (dec / "config.json").write_text("{")
    with pytest.raises(ConfigError, match=r"config\.json is not valid JSON"):
        model_family_of(str(dec))


def test_a_strategy_that_supports_decoders_passes_on_a_decoder(toy, tmp_path):
    dec = tmp_path / "dec"
    dec.mkdir()
    (dec / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    config, problems = build_config(dict(toy["raw"], model=str(dec), setups={"head": {"adapt": {"strategy": "head"}}}))
    assert not problems
    _, problems = build_config(dict(toy["raw"], model=str(dec)))
    assert problems == []  # head and rag: neither is limited to encoders
    _, problems = build_config(dict(toy["raw"], model=str(dec), setups={"l": {"adapt": {"strategy": "lora"}}}))
    assert len(problems) == 1 and "setups.l.adapt.strategy: 'lora' does not support decoder models" in problems[0]


def test_a_rerun_of_the_same_config_passes_the_run_folder_check(toy):
    config = load_config(toy["path"])
    run = toy["tmp"] / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"config_sha256": sha256_text(json.dumps(config.to_dict(),
                                                                                          sort_keys=True))}))
    assert check_run_folder(config) == []
    (run / "manifest.json").write_text(json.dumps({"config_sha256": "f" * 64}))
    assert "holds a run with a different config" in check_run_folder(config)[0][1]
    (run / "manifest.json").write_text("{damaged")
    assert check_run_folder(config) == []  # compare rewrites a damaged manifest


def test_compare_and_validate_share_one_check(toy, capsys):
    """Whatever validate reports, compare reports the same way and writes nothing."""
    toy["train"].write_text(toy["train"].read_text().replace('"label": "crops"', '"label": "animals"')
                            .replace('"label": "weather"', '"label": "animals"'))
    assert main(["validate", str(toy["path"])]) == 3
    validate_err = capsys.readouterr().err
    assert main(["compare", str(toy["path"])]) == 3
    compare_err = capsys.readouterr().err
    must = "Test set eng_Latn has labels ['crops', 'weather'] that the training data never shows"
    assert must in validate_err and must in compare_err
    assert not (toy["tmp"] / "run").exists()


def test_integrity_error_class_is_kept_when_alone(toy):
    (toy["enc"] / "model.safetensors").write_bytes(b"")
    with pytest.raises(IntegrityError, match="model.safetensors is truncated"):
        load_checked_config(toy["path"])
