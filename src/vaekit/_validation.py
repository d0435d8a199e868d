"""Declared parameter constraints and the one error-message format vaekit uses.

Every user-facing parameter check goes through :func:`check_param`, so messages read the same
everywhere::

    The 'beta' parameter of VAE must be a float >= 0. Got -1 instead.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import ConfigError

__all__ = ["Interval", "Options", "check_param", "unknown_key_message", "param_error"]


@dataclass(frozen=True)
class Interval:
    """A numeric range constraint.

    Parameters
    ----------
    kind : {"int", "float"}
        ``"int"`` accepts integers only; ``"float"`` accepts any real number.
    low, high : float or None
        Bounds; ``None`` means unbounded.
    closed : {"both", "left", "right", "neither"}
        Which bounds are included.
    optional : bool
        Whether ``None`` is also accepted.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    optional: bool = False

    def describe(self) -> str:
        noun = "an int" if self.kind == "int" else "a float"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            text = f"{noun} in the range {'[' if lo_in else '('}{self.low}, {self.high}{']' if hi_in else ')'}"
        elif self.low is not None:
            text = f"{noun} {'>=' if lo_in else '>'} {self.low}"
        elif self.high is not None:
            text = f"{noun} {'<=' if hi_in else '<'} {self.high}"
        else:
            text = noun
        return text + (" or None" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or math.isnan(float(value)):
            return False
        v = float(value)
        if self.low is not None:
            if v < self.low or (v == self.low and self.closed not in ("both", "left")):
                return False
        if self.high is not None:
            if v > self.high or (v == self.high and self.closed not in ("both", "right")):
                return False
        return True


@dataclass(frozen=True)
class Options:
    """A constraint that the value is one of a fixed set."""

    values: tuple
    optional: bool = False

    def describe(self) -> str:
        text = "one of " + ", ".join(repr(v) for v in self.values)
        return text + (" or None" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        return value in self.values


def param_error(owner: str, name: str, expected: str, value: Any) -> ConfigError:
    """Build the standard message for an invalid parameter."""
    return ConfigError(f"The '{name}' parameter of {owner} must be {expected}. Got {value!r} instead.")


def check_param(owner: str, name: str, value: Any, constraint: Interval | Options) -> None:
    """Raise :class:`~vaekit.errors.ConfigError` if ``value`` violates ``constraint``.

    Examples
    --------
    >>> check_param("VAE", "beta", 1.0, Interval("float", 0, None))
    >>> check_param("VAE", "beta", -1, Interval("float", 0, None))
    Traceback (most recent call last):
    ...
    vaekit.errors.ConfigError: The 'beta' parameter of VAE must be a float >= 0. Got -1 instead.
    """
    if not constraint.accepts(value):
        raise param_error(owner, name, constraint.describe(), value)


def unknown_key_message(key: str, valid: Iterable[str], where: str) -> str:
    """Message for an unknown configuration key, with the nearest valid key when one is close."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(valid)}."
    return f"Unknown key '{key}' in {where}.{hint}"
