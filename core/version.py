"""KBP's version, importable from anywhere in core without importing the package's public face."""

__version__ = "0.1.0"
