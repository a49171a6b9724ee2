"""Memory: what Autopack knows about a repository and earlier runs (repository map, ...)."""
