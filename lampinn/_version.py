"""The package version, in a module of its own so that the package's modules can read it without importing
``lampinn`` itself (pyproject.toml holds the same string; a test checks they agree)."""
__version__ = "0.1.0"
