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

Scalars are strict where YAML makes a mistake easy: ``true`` is not a number, ``"3"`` is not an int and ``"yes"``
is not a boolean (pydantic's lax mode would accept all three). A message names the dotted path, the full allowed
range and the value received, e.g. ``setups.lora.adapt.epochs must be an int >= 1. Got -1 instead.`` or
``bootstrap.alpha must be a number in (0, 1). Got 1.5 instead.``
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import annotated_types
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


def _strip(node: Any) -> tuple[Any, list[Any]]:
    """(the bare type, its Annotated metadata) with Optional[...] unwrapped."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            args = typing.get_args(node)
            node, metadata = args[0], metadata + list(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(node) if a is not type(None)]
            if len(args) != 1:
                return node, metadata
            node = args[0]
            continue
        return node, metadata


def _annotation_at(cls: Any, loc: tuple) -> Any:
    """The annotation at a location inside `cls` (dataclass fields, dict values, list items); None if unknown."""
    node: Any = cls
    for part in loc:
        node, _ = _strip(node)
        if node is None:
            return None
        if dataclasses.is_dataclass(node) and isinstance(part, str):
            hints = typing.get_type_hints(node, include_extras=True)
            if part not in hints:
                return None
            node = hints[part]
        elif typing.get_origin(node) in (dict, Mapping, list, tuple):
            args = typing.get_args(node)
            node = args[-1] if args else None
        else:
            return None
    return node


def _hint_at(cls: Any, loc: tuple) -> Any:
    """The bare type at a location inside `cls`; None if unknown."""
    node = _annotation_at(cls, loc)
    return None if node is None else _strip(node)[0]


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _range_text(metadata: list[Any]) -> str:
    """'>= 1', 'in [0, 1]', 'in (0, 1)' from annotated_types constraints ('' when there are none)."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Interval):
            bounds.update({k: getattr(item, k) for k in ("gt", "ge", "lt", "le") if getattr(item, k) is not None})
        for name, cls in (("gt", annotated_types.Gt), ("ge", annotated_types.Ge), ("lt", annotated_types.Lt),
                          ("le", annotated_types.Le)):
            if isinstance(item, cls):
                bounds[name] = getattr(item, name)
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {_number(low[1])}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {_number(high[1])}"
    return ""


def _kind_word(bare: Any) -> str:
    return {int: "an int", float: "a number", bool: "true or false", str: "a string"}.get(bare, "a value")


def _dotted(where: str, loc: tuple) -> str:
    path = where
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "config"


def _parent(where: str, loc: tuple) -> str:
    """'setups.lora.adapt: ' for a key inside that mapping; '' at the top level of an unnamed config."""
    return f"{_dotted(where, loc)}: " if (where or loc) else ""


def _message(cls: type, where: str, err: Mapping[str, Any]) -> str:
    loc = tuple(p for p in err.get("loc", ()) if p not in ("function-after", "function-before"))
    kind = err.get("type", "")
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _hint_at(cls, loc[:-1])
        known = [f.name for f in dataclasses.fields(parent)] if dataclasses.is_dataclass(parent) else []
        key = str(loc[-1])
        hint = did_you_mean(key, known) if known else ""
        listing = f" Known keys: {', '.join(known)}." if known else ""
        return f"{_parent(where, loc[:-1])}unknown key {key!r}.{hint}{listing}"
    if kind == "missing" or kind == "missing_argument":
        return f"{_parent(where, loc[:-1])}missing required key {str(loc[-1])!r}." if loc else \
            f"{_dotted(where, loc)}: missing required key."
    if kind == "value_error" and isinstance(ctx.get("error"), Exception):
        # a check in the dataclass's __post_init__: its message is already complete
        text = str(ctx["error"])
        return text if isinstance(ctx["error"], ConfigError) else f"{_dotted(where, loc)}: {text}"
    annotation = _annotation_at(cls, loc)
    bare, metadata = _strip(annotation) if annotation is not None else (None, [])
    range_text = _range_text(metadata)
    if kind == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
        rule = f" {range_text}" if range_text else ""
        return f"{_dotted(where, loc)} must be a finite number{rule}. Got {value!r} instead."
    if bare in (int, float) and (kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                                          "int_from_float") or kind.endswith(("_parsing", "_type"))):
        rule = f" {range_text}" if range_text else ""
        return f"{_dotted(where, loc)} must be {_kind_word(bare)}{rule}. Got {value!r} instead."
    if kind.endswith(("too_short", "too_long")) and type(value) in (list, dict, str):
        noun = {list: "list", dict: "mapping", str: "string"}[type(value)]
        low, high = ctx.get("min_length"), ctx.get("max_length")
        if kind.endswith("too_short") and low == 1:
            rule = f"a non-empty {noun}"
        else:
            rule = f"a {noun} of length {f'>= {low}' if kind.endswith('too_short') else f'<= {high}'}"
        return f"{_dotted(where, loc)} must be {rule}. Got {value!r} instead."
    if kind == "literal_error":
        choices = [c.strip().strip("'") for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        choices = [c for c in choices if c]
        return (f"{_dotted(where, loc)} must be one of {', '.join(map(repr, choices))}. Got {value!r} instead."
                f"{did_you_mean(str(value), choices)}")
    msg = str(err.get("msg", "is invalid")).rstrip(".")
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be"):]
    return f"{_dotted(where, loc)} {msg}. Got {value!r} instead."


def _strict_scalars(annotation: Any, raw: Any, loc: tuple, out: list[tuple[tuple, Any, Any]]) -> None:
    """Collect (loc, annotation, value) where YAML gave a bool for a number, a string for a number, or a
    non-bool for a bool: pydantic's lax mode would accept those silently."""
    bare, _ = _strip(annotation)
    if bare is None or bare is Any:
        return
    if dataclasses.is_dataclass(bare):
        if isinstance(raw, Mapping):
            hints = typing.get_type_hints(bare, include_extras=True)
            for key, value in raw.items():
                if key in hints:
                    _strict_scalars(hints[key], value, loc + (key,), out)
        return
    origin = typing.get_origin(bare)
    args = typing.get_args(bare)
    if origin in (list, tuple) and isinstance(raw, list) and args:
        for i, value in enumerate(raw):
            _strict_scalars(args[0], value, loc + (i,), out)
        return
    if origin in (dict, Mapping) and isinstance(raw, Mapping) and len(args) == 2:
        for key, value in raw.items():
            _strict_scalars(args[1], value, loc + (key,), out)
        return
    if raw is None:
        return
    if bare is bool and not isinstance(raw, bool):
        out.append((loc, annotation, raw))
    elif bare in (int, float) and (isinstance(raw, (bool, str))):
        out.append((loc, annotation, raw))


def _strict_message(where: str, loc: tuple, annotation: Any, value: Any) -> str:
    bare, metadata = _strip(annotation)
    range_text = _range_text(metadata)
    rule = f" {range_text}" if range_text and bare is not bool else ""
    return f"{_dotted(where, loc)} must be {_kind_word(bare)}{rule}. Got {value!r} instead."


def validate(cls: type[T], raw: Any, where: str = "config") -> tuple[T | None, list[str]]:
    """Build `cls` from `raw`; returns (the config or None, every problem found, each with its dotted path).

    `where` prefixes every path ("setups.lora.adapt" -> "setups.lora.adapt.epochs ..."); "" gives bare paths.
    """
    if not isinstance(raw, Mapping):
        keys = ", ".join(f.name for f in dataclasses.fields(cls))
        return None, [f"{where or 'config'} must be a mapping of keys ({keys}). Got {type(raw).__name__} {raw!r} instead."]
    strict: list[tuple[tuple, Any, Any]] = []
    _strict_scalars(cls, raw, (), strict)
    problems = [_strict_message(where, loc, annotation, value) for loc, annotation, value in strict]
    flagged = {loc for loc, _, _ in strict}
    try:
        config = _adapter(cls).validate_python(dict(raw))
    except ValidationError as exc:
        config = None
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err.get("loc", ()) if p not in ("function-after", "function-before"))
            if loc in flagged:
                continue
            message = _message(cls, where, err)
            if message not in problems:
                problems.append(message)
    return (None, problems) if problems else (config, [])


def build(cls: type[T], raw: Any, where: str = "config") -> T:
    """Like :func:`validate`, but raise one :class:`ConfigError` listing every problem."""
    config, problems = validate(cls, raw, where)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {where or 'config'}:\n- " + "\n- ".join(problems))
    return config  # type: ignore[return-value]


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of a typed config (for editors: yaml-language-server, VS Code)."""
    return _adapter(cls).json_schema()
