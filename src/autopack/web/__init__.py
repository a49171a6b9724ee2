"""The dashboard: server-rendered pages and charts, reading through services."""
