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

__all__ = [
    "Interval", "Options", "Registered", "Boolean", "IntSequence", "check_param", "validate_params", "describe_alternatives",
    "unknown_key_message", "param_error",
]


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


@dataclass(frozen=True)
class Registered:
    """A constraint that the value is a name in a registry (anything with ``names()``), read when checked."""

    registry: Any

    def describe(self) -> str:
        return Options(tuple(self.registry.names())).describe()

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.registry.names()


@dataclass(frozen=True)
class Boolean:
    """A constraint that the value is a bool (``True``/``False`` or a numpy bool; ``1`` and ``0`` are not)."""

    def describe(self) -> str:
        return "a bool"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or type(value).__name__ == "bool_"


@dataclass(frozen=True)
class IntSequence:
    """A constraint that the value is a tuple or list of ints, each ``>= low``."""

    low: int = 1

    def describe(self) -> str:
        return f"a sequence of ints >= {self.low}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= self.low for v in value
        )


def _accepts(alternative: Any, value: Any) -> bool:
    if alternative is None:
        return value is None
    if isinstance(alternative, str):
        return isinstance(value, str) and value == alternative
    if hasattr(alternative, "is_satisfied_by"):  # scikit-learn's own constraint objects
        return bool(alternative.is_satisfied_by(value))
    return alternative.accepts(value)


def describe_alternatives(alternatives: Iterable[Any]) -> str:
    """``[Interval("int", 1, None), "auto", None]`` -> ``"an int >= 1 or 'auto' or None"``."""
    parts = []
    for a in alternatives:
        if a is None or isinstance(a, str):
            parts.append(repr(a))
        else:
            parts.append(a.describe() if hasattr(a, "describe") else str(a))
    return " or ".join(parts)


def validate_params(owner: str, params: dict[str, Any], constraints: dict[str, list]) -> None:
    """Check every parameter against its declared alternatives (scikit-learn's ``_parameter_constraints``).

    ``constraints`` maps a parameter name to a list of alternatives, any one of which may accept the
    value: an :class:`Interval`, :class:`Options`, :class:`Boolean` or :class:`IntSequence` (or one of
    scikit-learn's constraint objects, which its estimator checks look for), a string (that exact string)
    or ``None`` (the value ``None``). Parameters without an entry are not checked.

    Examples
    --------
    >>> validate_params("VAETransformer", {"epochs": "auto"}, {"epochs": [Interval("int", 1, None), "auto"]})
    >>> validate_params("VAETransformer", {"epochs": 0}, {"epochs": [Interval("int", 1, None), "auto"]})
    Traceback (most recent call last):
    ...
    vaekit.errors.ConfigError: The 'epochs' parameter of VAETransformer must be an int >= 1 or 'auto'. Got 0 instead.
    """
    for name, alternatives in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if not any(_accepts(a, value) for a in alternatives):
            raise param_error(owner, name, describe_alternatives(alternatives), value)


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
