"""Single source of the package version (written into every config.json)."""

__version__ = "0.1.0"
