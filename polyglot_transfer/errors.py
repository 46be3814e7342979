"""One exception hierarchy for everything polyglot-transfer raises on purpose.

Every message says what was received, what was expected, and how to fix it.
The CLI maps these to exit codes; anything else is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PGTError(Exception):
    """Base class of every error polyglot-transfer raises on purpose."""

    exit_code = 1


class ConfigError(PGTError, ValueError):
    """A config file, key or value is wrong."""

    exit_code = 2


class DataError(PGTError, ValueError):
    """Input data is missing, malformed, or does not have the expected columns."""

    exit_code = 3


class LanguageError(DataError):
    """A language code could not be resolved."""


class ModelError(PGTError):
    """A model could not be found, provisioned or loaded."""

    exit_code = 4


class IntegrityError(PGTError):
    """A file failed a checksum or consistency check and was refused."""

    exit_code = 5


class UnsupportedError(PGTError):
    """The requested combination (strategy x task x model family, device...) is not supported."""

    exit_code = 6


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean ...?' suffix for `value`, or '' when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"
