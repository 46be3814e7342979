"""Parsing of the KEY=VALUE options several commands take (--columns, --where, --weights, --train-sizes)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from polyglot_transfer.errors import ConfigError


def key_values(
    items: Iterable[str] | None, option: str, shape: str, example: str, *, convert: Callable[[str], Any] = str,
    kind: str = "",
) -> dict[str, Any]:
    """{KEY: convert(VALUE)} from ``KEY=VALUE`` items, e.g. ``key_values(["lang=yor"], "--where", "KEY=VALUE",
    "lang=yor_Latn")``. A missing '=' or a value `convert` rejects (ValueError) is a ConfigError naming the
    option, the expected `shape` with an `example`, and the item received; so are an empty key, a key given
    twice, and a NaN or infinite number.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{option} expects {shape} (e.g. {example}). Got {item!r}.")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"{option} {item!r} has an empty key. Expected {shape} (e.g. {example}).")
        if key in out:
            raise ConfigError(f"{option} names {key!r} twice. Give each key once.")
        try:
            converted = convert(value)
        except ValueError:
            raise ConfigError(f"{option} {item!r}: {value!r} is not {kind or 'a valid value'}.") from None
        if isinstance(converted, float) and not math.isfinite(converted):
            raise ConfigError(f"{option} {item!r}: {value!r} is not a finite number.")
        out[key] = converted
    return out
