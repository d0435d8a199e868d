"""Registries of names: one per family (nets, likelihoods, priors, data kinds, model classes).

Each name is listed once, where its class is defined (``@LIKELIHOODS.register("bernoulli")``), and
config validation reads the registry, so a new family member is one decorated class (timm's model
registry is the model). A registry knows its *home* module: asking for names imports it on first
use, so the config layer can validate against families defined above it without importing them at
module load.

Examples
--------
>>> from vaekit.registry import PRIORS
>>> "standard_normal" in PRIORS.names()
True
>>> PRIORS.get("standard_nromal")
Traceback (most recent call last):
...
vaekit.errors.ConfigError: Unknown prior 'standard_nromal'. Did you mean 'standard_normal'? Known: ...
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, TypeVar

from .errors import ConfigError

__all__ = ["Registry", "NETS", "LIKELIHOODS", "PRIORS", "DATA_KINDS"]

T = TypeVar("T")


class Registry:
    """Names -> objects of one family.

    Parameters
    ----------
    family : str
        What the entries are, for messages ("likelihood").
    home : str or None
        Module that registers the built-in entries; imported the first time names are needed.
    """

    def __init__(self, family: str, home: str | None = None):
        self.family = family
        self.home = home
        self._entries: dict[str, Any] = {}

    def _load(self) -> None:
        if self.home is not None:
            importlib.import_module(self.home)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (a second object under one name is refused)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"A {self.family} name must be a non-empty string; got {name!r}.")

        def deco(obj: T) -> T:
            old = self._entries.get(name)
            if old is not None and old is not obj:
                raise ConfigError(f"The {self.family} name {name!r} is already registered to {old!r}.")
            self._entries[name] = obj
            with_name = getattr(obj, "__dict__", None)
            if with_name is not None and "registry_name" not in with_name:
                try:
                    obj.registry_name = name  # type: ignore[attr-defined]
                except (AttributeError, TypeError):
                    pass
            return obj

        return deco

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        self._load()
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self):
        return iter(self.names())

    def get(self, name: str, *, where: str | None = None) -> Any:
        """The entry for ``name``; unknown names get a ConfigError naming the nearest one."""
        self._load()
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        known = list(self._entries)
        near = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
        hint = f" Did you mean '{near[0]}'?" if near else ""
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}Unknown {self.family} {name!r}.{hint} Known: {', '.join(known)}.")

    def name_of(self, obj: Any) -> str:
        """The name ``obj`` is registered under."""
        self._load()
        for k, v in self._entries.items():
            if v is obj:
                return k
        raise ConfigError(f"{obj!r} is not a registered {self.family}.")


#: encoder/decoder network families (``ModelConfig.net``): each entry is a :class:`vaekit.nets.NetFamily`
NETS = Registry("net", home="vaekit.nets")
#: likelihood families p(x|z) (``ModelConfig.likelihood``): :class:`vaekit.likelihoods.Likelihood` subclasses
LIKELIHOODS = Registry("likelihood", home="vaekit.likelihoods")
#: priors p(z) (``ModelConfig.prior``): :class:`vaekit.priors.Prior` subclasses
PRIORS = Registry("prior", home="vaekit.priors")
#: kinds of data (``DataSpec.kind``): each entry is a :class:`vaekit.data.kinds.DataKind`
DATA_KINDS = Registry("data kind", home="vaekit.data.kinds")
