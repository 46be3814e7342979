"""Compare configs: YAML + dotted overrides, and every problem reported at once with a fix."""

from __future__ import annotations

import json

import pytest
import yaml

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.evaluation.config import apply_overrides, load_config, parse_override
from polyglot_transfer.evaluation.validate import validate_config
from tests.conftest import REPO

DEMO = REPO / "eval" / "configs" / "demo.yaml"


def test_demo_config_is_valid_and_resolves_languages():
    config = load_config(DEMO)
    assert config.target_languages[:3] == ["eng_Latn", "fra_Latn", "hin_Deva"]
    assert set(config.setups) == {"head", "lora", "rag", "lora+rag"}
    assert config.baseline == "head"


def test_aliases_resolve_and_overrides_apply():
    config = load_config(DEMO, ["target_languages=[yo, Swahili, hau]", "setups.lora.adapt.epochs=2", "seeds=[0,1]"])
    assert config.target_languages == ["yor_Latn", "swh_Latn", "hau_Latn"]
    assert config.setups["lora"].adapt["epochs"] == 2
    assert config.seeds == [0, 1]


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("name=x=y") == (["name"], "x=y")
    with pytest.raises(ConfigError, match="has no '='"):
        parse_override("seeds")
    assert apply_overrides({"a": 1}, ["b.c=true"]) == {"a": 1, "b": {"c": True}}


def test_every_problem_is_reported_at_once(tmp_path):
    raw = yaml.safe_load(DEMO.read_text())
    raw["target_languges"] = raw.pop("target_languages")  # typo in a top-level key
    raw["setups"]["lora"]["adapt"]["epoch"] = 3
    raw["setups"]["rag"]["retrieval"]["kk"] = 3
    raw["setups"]["bad"] = {"adapt": {"strategy": "lorra"}}
    raw["baseline"] = "hed"
    raw["model"] = "intfloat/multilingual-e5-smal"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    problems = validate_config(path)
    text = "\n".join(problems)
    assert "unknown key 'target_languges'. Did you mean 'target_languages'" in text
    assert "missing required key 'target_languages'" in text
    assert "setups.lora.adapt: unknown key 'epoch'. Did you mean 'epochs'?" in text
    assert "setups.rag.retrieval: unknown key 'kk'" in text
    assert "unknown strategy 'lorra'. Did you mean 'lora'?" in text
    assert "baseline 'hed' is not one of the setups. Did you mean 'head'?" in text
    assert "Did you mean 'intfloat/multilingual-e5-small'?" in text
    assert len(problems) == 7
    with pytest.raises(ConfigError, match=r"7 problem\(s\) in .*bad.yaml"):
        load_config(path)


def test_unknown_language_names_the_key_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"target_languages\[0\]: Unknown language 'yorb'. Did you mean 'yor'"):
        load_config(DEMO, ["target_languages=[yorb]"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)


def _own_task(tmp_path) -> str:
    """An override giving the demo config a small labelled table in ind, eng and swh (agri_advice trains on
    English only, and which languages a task has data in is checked at validate time)."""
    rows = [{"text": f"{w} {i}", "label": lab, "lang": lang} for i in range(2)
            for lang in ("ind_Latn", "eng_Latn", "swh_Latn", "fra_Latn", "hin_Deva", "hau_Latn", "yor_Latn", "zul_Latn")
            for w, lab in (("a", "x"), ("b", "y"))]
    table = tmp_path / "t.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"task={{train: {table}, test: {table}}}"


def test_sources_list_and_single_source_language_both_work(tmp_path):
    config = load_config(DEMO, ["sources=[ind, English]", _own_task(tmp_path)])
    assert config.sources == ["ind_Latn", "eng_Latn"] and config.source_language == "ind_Latn"
    single = load_config(DEMO)
    assert single.sources == ["eng_Latn"] and single.source_language == "eng_Latn"
    assert (single.backend, single.workers, single.forgetting, single.diagnostics) == ("local", 2, True, True)


def test_new_keys_report_every_problem_at_once(tmp_path):
    raw = yaml.safe_load(DEMO.read_text())
    raw["sources"] = ["ind_Latn", "xyzz", "ind"]  # a bad code and a duplicate
    raw["source_language"] = "fra_Latn"  # disagrees with sources[0]
    raw["backend"] = "rey"
    raw["workers"] = 0
    raw["forgetting"] = "yes"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    problems = validate_config(path)
    text = "\n".join(problems)
    assert "sources[1]: Unknown language 'xyzz'" in text
    assert "sources[2]: ind_Latn is listed twice" in text
    assert "source_language 'fra_Latn' is not one of sources ['ind_Latn']" in text
    assert "backend must be one of 'local', 'ray'. Got 'rey' instead. Did you mean 'ray'?" in text
    assert "workers must be an int in [1, 1024]. Got 0 instead." in text
    assert "forgetting must be true or false. Got 'yes' instead." in text
    assert "agri_advice has no training data in ind_Latn" in text  # the data is checked too, before any training
    assert len(problems) == 7, problems
    with pytest.raises(ConfigError, match=r"sources must be a non-empty list"):
        load_config(DEMO, ["sources=[]"])


def test_ray_backend_without_ray_is_a_config_problem(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"backend 'ray' needs the ray package.*polyglot-transfer\[ray\]"):
        load_config(DEMO, ["backend=ray"])


def test_resolved_config_round_trips(tmp_path):
    """config.resolved.yaml (to_dict) is itself a valid config giving the same CompareConfig."""
    from polyglot_transfer.evaluation.config import build_config

    config = load_config(DEMO, ["sources=[eng_Latn, swh_Latn]", "backend=local", _own_task(tmp_path)])
    again, problems = build_config(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert not problems and again == config


def test_a_source_can_be_a_set_of_languages(tmp_path):
    config = load_config(DEMO, ["sources=[eng, swh+English]", _own_task(tmp_path)])
    assert config.sources == ["eng_Latn", "swh_Latn+eng_Latn"]
    with pytest.raises(ConfigError, match=r"sources\[0\]: 'eng\+en' names a language twice"):
        load_config(DEMO, ["sources=[eng+en]"])
    with pytest.raises(ConfigError, match=r"sources\[0\]: Unknown language 'qqq'"):
        load_config(DEMO, ["sources=[eng+qqq]"])
