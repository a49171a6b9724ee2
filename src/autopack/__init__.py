"""Autopack: a self-hosted autonomous software-build orchestrator."""

# The package version, read by hatchling at build time ([tool.hatch.version] in
# pyproject.toml): a literal, so `autopack --version` needs no importlib.metadata.
__version__ = "0.1.0"

__all__ = ["__version__"]
