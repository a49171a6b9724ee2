"""Memory: what Autopack keeps in view across phases and runs.

The repository map (`repomap`), focused views of large files (`focus`), retrieval over code
chunks, summaries, decisions and errors (`store`, `lexical`, `vectors`, `embeddings`,
`retrieval`), the run's intention (`intention`) and rules learned across runs (`rules`).
Modules here are capabilities: the executor's context selection and phase loop ask them for
candidates and checks, and services store what they produce. This package exports nothing
by itself.
"""
