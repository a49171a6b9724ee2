"""The `autopack` command line."""
