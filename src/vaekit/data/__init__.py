"""Data sources: everything becomes a :class:`Dataset`."""

from ._dataset import Dataset as Dataset

__all__ = ["Dataset"]
