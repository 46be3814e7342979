"""`pgt adapt CONFIG`: one strategy through the compare runner; config errors name the key."""

from __future__ import annotations

import pytest
import yaml

from polyglot_transfer.adapt.run import adapt_to_compare, load_adapt_config
from polyglot_transfer.cli.main import main
from polyglot_transfer.errors import ConfigError
from tests.conftest import REPO
from tests.toy_task import write_toy_task


def test_adapt_config_maps_to_one_setup():
    config = load_adapt_config(REPO / "eval" / "configs" / "adapt_lora.yaml")
    assert list(config.setups) == ["lora"] and config.setups["lora"].adapt["epochs"] == 4
    assert config.target_languages == ["eng_Latn", "swh_Latn", "yor_Latn"]
    with pytest.raises(ConfigError, match="unknown key 'paramz'. Did you mean 'params'"):
        adapt_to_compare({"strategy": "lora", "paramz": {}})
    with pytest.raises(ConfigError, match="unknown strategy 'lorra'"):
        load_adapt_config(REPO / "eval" / "configs" / "adapt_lora.yaml", ["strategy=lorra"])


def test_pgt_adapt_trains_saves_and_scores(tiny_encoder, tmp_path, capsys):
    paths = write_toy_task(tmp_path / "data")
    cfg = {"name": "toy-adapt", "task": {"train": str(paths["train"]), "test": str(paths["test"])},
           "model": str(tiny_encoder), "source_language": "eng", "strategy": "head", "evaluate_on": ["swh"],
           "bootstrap": {"n_resamples": 200}, "output_dir": str(tmp_path / "run")}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["adapt", str(tmp_path / "a.yaml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Run folder" in out and "Swahili" in out
    saved = list((tmp_path / "run" / "models").rglob("strategy.json"))
    assert len(saved) == 1 and (saved[0].parent / "head.safetensors").is_file()
