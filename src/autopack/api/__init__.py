"""The REST API (FastAPI). Routes parse input, call a service and return a schema."""
