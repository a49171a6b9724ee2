"""Memory: what Autopack keeps in view across phases and runs.

Modules here are capabilities (no database, no executor): the executor's context
selection and phase loop ask them for candidates and checks, and services store what they
produce. See each module's docstring; this package exports nothing by itself.
"""
