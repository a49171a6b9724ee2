"""Autopack: a self-hosted autonomous software-build orchestrator."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("autopack")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
