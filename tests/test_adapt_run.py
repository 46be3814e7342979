"""`pgt adapt CONFIG`: one strategy through the compare runner; config errors name the key."""

from __future__ import annotations

import pytest
import yaml

from polyglot_transfer.evaluation.adapt_run import adapt_to_compare, load_adapt_config
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


def test_predictions_are_routed_to_a_languages_own_parts():
    from polyglot_transfer.adapt.base import predict_for_language

    class PerLanguage:
        languages = ["yor_Latn"]

        def predict_proba(self, texts, lang=None):
            return lang

    class Plain:
        def predict_proba(self, texts):
            return "plain"

    assert predict_for_language(PerLanguage(), ["x"], "yor_Latn") == "yor_Latn"
    assert predict_for_language(PerLanguage(), ["x"], "hau_Latn") is None  # no adapter: language-neutral
    assert predict_for_language(Plain(), ["x"], "yor_Latn") == "plain"


@pytest.mark.parametrize("strategy", ["lora", "full"])
def test_interrupted_training_resumes_from_its_checkpoint(strategy, tiny_encoder, tmp_path):
    """A kill mid-training loses at most the epoch in progress: the next fit resumes from the checkpoint."""
    from transformers import TrainerCallback

    from polyglot_transfer.adapt import build_strategy
    from polyglot_transfer.data.loaders import load_table

    train = load_table(write_toy_task(tmp_path / "data")["train"])
    params = {"epochs": 3, "batch_size": 8}

    class StopAfterFirstEpoch(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt  # as if the process were killed right after the first checkpoint

    import transformers

    original = transformers.Trainer.__init__

    def with_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.add_callback(StopAfterFirstEpoch)

    first = build_strategy(strategy, params, tiny_encoder, seed=0)
    first.checkpoint_dir = tmp_path / "ckpt"
    transformers.Trainer.__init__ = with_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            first.fit(train)
    finally:
        transformers.Trainer.__init__ = original
    assert list((tmp_path / "ckpt").glob("checkpoint-*"))

    resumed = build_strategy(strategy, params, tiny_encoder, seed=0)
    resumed.checkpoint_dir = tmp_path / "ckpt"
    resumed.fit(train)
    fresh = build_strategy(strategy, params, tiny_encoder, seed=0).fit(train)
    assert len(resumed.train_loss_) == 3  # the log history of the first epoch came back with the checkpoint
    import numpy as np

    np.testing.assert_allclose(resumed.predict_proba(train.texts[:5]), fresh.predict_proba(train.texts[:5]), atol=1e-4)


def test_trainer_args_pass_through_and_unknown_keys_are_refused(tiny_encoder, tmp_path):
    from polyglot_transfer.adapt import build_strategy
    from polyglot_transfer.adapt.base import trainer_arguments
    from polyglot_transfer.data.loaders import load_table

    args = trainer_arguments({"output_dir": str(tmp_path), "num_train_epochs": 1},
                             {"gradient_accumulation_steps": 2, "report_to": ["none"]}, "lora.trainer_args")
    assert args.gradient_accumulation_steps == 2 and args.num_train_epochs == 1
    with pytest.raises(ConfigError, match="'deepspeeed' is not a transformers TrainingArguments field. Did you mean 'deepspeed'"):
        trainer_arguments({"output_dir": str(tmp_path)}, {"deepspeeed": "ds.json"}, "lora.trainer_args")
    train = load_table(write_toy_task(tmp_path / "data")["train"])
    lora = build_strategy("lora", {"epochs": 1, "batch_size": 8, "trainer_args": {"gradient_accumulation_steps": 2}},
                          tiny_encoder, seed=0).fit(train)
    assert len(lora.train_loss_) == 1
