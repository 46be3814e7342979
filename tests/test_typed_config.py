"""typed_config: one validation path for config dataclasses — ranges, strict scalars, dotted paths, schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import pytest
from annotated_types import Ge, Gt, Interval, Le, MinLen

from polyglot_transfer.errors import ConfigError
from polyglot_transfer.typed_config import build, json_schema, typed, validate


@typed
@dataclass
class Inner:
    x: Annotated[float, Gt(0)] = 1.0
    flag: bool = False


@typed
@dataclass
class Outer:
    name: Annotated[str, MinLen(1)]
    k: Annotated[int, Ge(1)] = 8
    weight: Annotated[float, Interval(ge=0, le=1)] = 0.5
    alpha: Annotated[float, Interval(gt=0, lt=1)] = 0.05
    half_open: Annotated[float, Interval(gt=0, le=2)] = 1.0
    cap: Annotated[int, Le(10)] = 3
    seeds: Annotated[list[int], MinLen(1)] = field(default_factory=lambda: [0])
    mode: Literal["local", "ray"] = "local"
    threads: Annotated[int, Ge(1)] | None = None
    parts: dict[str, Inner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name == "reserved":
            raise ConfigError("name 'reserved' is taken. Pick another name.")


def problems(raw: dict, where: str = "cfg") -> list[str]:
    config, found = validate(Outer, raw, where)
    assert (config is None) == bool(found)
    return found


@pytest.mark.parametrize("key,value,message", [
    ("k", 0, "cfg.k must be an int >= 1. Got 0 instead."),
    ("weight", 1.5, "cfg.weight must be a number in [0, 1]. Got 1.5 instead."),
    ("alpha", 1, "cfg.alpha must be a number in (0, 1). Got 1 instead."),
    ("alpha", 0.0, "cfg.alpha must be a number in (0, 1). Got 0.0 instead."),
    ("half_open", 3, "cfg.half_open must be a number in (0, 2]. Got 3 instead."),
    ("cap", 11, "cfg.cap must be an int <= 10. Got 11 instead."),
    ("threads", 0, "cfg.threads must be an int >= 1. Got 0 instead."),
    ("k", 2.5, "cfg.k must be an int >= 1. Got 2.5 instead."),
    ("weight", float("nan"), "cfg.weight must be a finite number in [0, 1]. Got nan instead."),
    ("alpha", float("inf"), "cfg.alpha must be a finite number in (0, 1). Got inf instead."),
])
def test_a_range_message_names_the_path_the_whole_range_and_the_value(key, value, message):
    assert problems({"name": "x", key: value}) == [message]


@pytest.mark.parametrize("key,value,message", [
    ("k", True, "cfg.k must be an int >= 1. Got True instead."),
    ("k", "3", "cfg.k must be an int >= 1. Got '3' instead."),
    ("weight", "abc", "cfg.weight must be a number in [0, 1]. Got 'abc' instead."),
    ("seeds", [0, False], "cfg.seeds[1] must be an int. Got False instead."),
    ("parts", {"a": {"flag": "yes"}}, "cfg.parts.a.flag must be true or false. Got 'yes' instead."),
    ("parts", {"a": {"x": "1"}}, "cfg.parts.a.x must be a number > 0. Got '1' instead."),
])
def test_scalars_are_strict_where_yaml_makes_mistakes_easy(key, value, message):
    assert problems({"name": "x", key: value}) == [message]


def test_lax_conversions_that_lose_nothing_are_kept():
    config, found = validate(Outer, {"name": "x", "k": 2.0, "weight": 1, "parts": {"a": {"x": 3}}})
    assert not found and config.k == 2 and isinstance(config.k, int) and config.parts["a"] == Inner(x=3.0)


def test_every_problem_at_once_with_dotted_paths_and_did_you_mean():
    found = problems({"nme": "x", "k": 0, "seeds": [], "mode": "rey", "parts": {"a": {"xx": 1, "x": -1}}})
    assert any(p.startswith("cfg: unknown key 'nme'. Did you mean 'name'? Known keys: name, k, weight") for p in found)
    assert "cfg: missing required key 'name'." in found
    assert "cfg.k must be an int >= 1. Got 0 instead." in found
    assert "cfg.seeds must be a non-empty list. Got [] instead." in found
    assert "cfg.mode must be one of 'local', 'ray'. Got 'rey' instead. Did you mean 'ray'?" in found
    assert "cfg.parts.a: unknown key 'xx'. Did you mean 'x'? Known keys: x, flag." in found
    assert "cfg.parts.a.x must be a number > 0. Got -1 instead." in found
    assert len(found) == 7, found


def test_an_empty_where_gives_bare_paths():
    assert problems({"name": "x", "k": 0, "zz": 1}, where="") == [
        "k must be an int >= 1. Got 0 instead.", "unknown key 'zz'. Known keys: name, k, weight, alpha, half_open, "
        "cap, seeds, mode, threads, parts."]
    assert problems({"name": ""}, where="") == ["name must be a non-empty string. Got '' instead."]


def test_a_post_init_config_error_is_passed_through_unchanged():
    assert problems({"name": "reserved"}) == ["name 'reserved' is taken. Pick another name."]


def test_not_a_mapping():
    assert problems([1, 2]) == ["cfg must be a mapping of keys (name, k, weight, alpha, half_open, cap, seeds, mode, "
                                "threads, parts). Got list [1, 2] instead."]


def test_build_raises_one_config_error_listing_everything():
    with pytest.raises(ConfigError, match=r"2 problem\(s\) in cfg:\n- cfg\.k must be an int >= 1\. Got 0 instead\.\n"
                                          r"- cfg\.alpha must be a number in \(0, 1\)"):
        build(Outer, {"name": "x", "k": 0, "alpha": 2}, "cfg")
    assert build(Outer, {"name": "x"}, "cfg") == Outer(name="x")


def test_json_schema_carries_ranges_and_refuses_unknown_keys():
    schema = json_schema(Outer)
    props = schema["properties"]
    assert props["k"]["minimum"] == 1 and props["k"]["type"] == "integer"
    assert props["alpha"]["exclusiveMinimum"] == 0 and props["alpha"]["exclusiveMaximum"] == 1
    assert props["weight"]["minimum"] == 0 and props["weight"]["maximum"] == 1
    assert props["mode"]["enum"] == ["local", "ray"]
    assert schema["additionalProperties"] is False and schema["required"] == ["name"]
    assert schema["$defs"]["Inner"]["additionalProperties"] is False


def test_typed_needs_a_dataclass():
    with pytest.raises(TypeError, match="@typed needs a dataclass"):
        typed(int)
