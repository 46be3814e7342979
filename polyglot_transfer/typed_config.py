"""Typed configs: one validation path for every config dataclass (compare, setups, strategies, retrieval,
index, bootstrap).

A config stays a plain ``@dataclass``; fields carry their rules as ``Annotated`` constraints::

    from typing import Annotated
    from annotated_types import Ge, Gt, Interval

    @typed
    @dataclass
    class LoraParams:
        epochs: Annotated[int, Ge(1)] = 3
        learning_rate: Annotated[float, Gt(0)] = 2e-4
        combine_weight: Annotated[float, Interval(ge=0, le=1)] = 0.5

pydantic checks the types and ranges (all problems at once, each with its dotted path), unknown keys get a
did-you-mean, and :func:`json_schema` gives the schema editors read. Nothing here loads a model.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from polyglot_transfer.errors import ConfigError, did_you_mean

T = TypeVar("T")

_ADAPTERS: dict[type, TypeAdapter] = {}
_RANGE_WORDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def typed(cls: type[T]) -> type[T]:
    """Mark a dataclass as a typed config: unknown keys are refused, field constraints are enforced."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"@typed needs a dataclass, got {cls!r}")
    cls.__pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)  # type: ignore[attr-defined]
    return cls


def _adapter(cls: type) -> TypeAdapter:
    if cls not in _ADAPTERS:
        if not hasattr(cls, "__pydantic_config__"):
            typed(cls)
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def _hint_at(cls: Any, loc: tuple) -> Any:
    """The type at a location inside `cls` (dataclass fields, dict values, list items); None if unknown."""
    node: Any = cls
    for part in loc:
        while True:
            origin = typing.get_origin(node)
            if origin is typing.Annotated:
                node = typing.get_args(node)[0]
                continue
            if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
                args = [a for a in typing.get_args(node) if a is not type(None)]
                node = args[0] if len(args) == 1 else None
                continue
            break
        if node is None:
            return None
        if dataclasses.is_dataclass(node) and isinstance(part, str):
            hints = typing.get_type_hints(node, include_extras=True)
            if part not in hints:
                return None
            node = hints[part]
        elif typing.get_origin(node) in (dict, Mapping) or typing.get_origin(node) in (list, tuple):
            args = typing.get_args(node)
            node = args[-1] if args else None
        else:
            return None
    while typing.get_origin(node) is typing.Annotated:
        node = typing.get_args(node)[0]
    return node


def _dotted(where: str, loc: tuple) -> str:
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(cls: type, where: str, err: Mapping[str, Any]) -> str:
    loc = tuple(p for p in err.get("loc", ()) if p not in ("function-after", "function-before"))
    kind = err.get("type", "")
    value = err.get("input")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _hint_at(cls, loc[:-1])
        known = [f.name for f in dataclasses.fields(parent)] if dataclasses.is_dataclass(parent) else []
        key = str(loc[-1])
        hint = did_you_mean(key, known) if known else ""
        listing = f" Known keys: {', '.join(known)}." if known else ""
        return f"{_dotted(where, loc[:-1])}: unknown key {key!r}.{hint}{listing}"
    if kind == "missing" or kind == "missing_argument":
        return f"{_dotted(where, loc)}: missing required key."
    ctx = err.get("ctx") or {}
    bounds = [f"{_RANGE_WORDS[k]} {v}" for k, v in ctx.items() if k in _RANGE_WORDS]
    if bounds:
        expected = _hint_at(cls, loc)
        kind_word = {int: "an int", float: "a number"}.get(expected, "a value")
        return f"{_dotted(where, loc)} must be {kind_word} {' and '.join(bounds)}. Got {value!r} instead."
    if kind == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
        return f"{_dotted(where, loc)} must be a finite number. Got {value!r} instead."
    msg = str(err.get("msg", "is invalid")).rstrip(".")
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be"):]
    return f"{_dotted(where, loc)} {msg}. Got {value!r} instead."


def validate(cls: type[T], raw: Any, where: str = "config") -> tuple[T | None, list[str]]:
    """Build `cls` from `raw`; returns (the config or None, every problem found, each with its dotted path)."""
    if not isinstance(raw, Mapping):
        return None, [f"{where} must be a mapping of keys ({', '.join(f.name for f in dataclasses.fields(cls))}). "
                      f"Got {type(raw).__name__} {raw!r} instead."]
    try:
        return _adapter(cls).validate_python(dict(raw)), []
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors(include_url=False):
            message = _message(cls, where, err)
            if message not in problems:
                problems.append(message)
        return None, problems


def build(cls: type[T], raw: Any, where: str = "config") -> T:
    """Like :func:`validate`, but raise one :class:`ConfigError` listing every problem."""
    config, problems = validate(cls, raw, where)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {where}:\n- " + "\n- ".join(problems))
    return config  # type: ignore[return-value]


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of a typed config (for editors: yaml-language-server, VS Code)."""
    return _adapter(cls).json_schema()
