"""Persistence: ORM, engine/session, migrations and schema checks. Used by services only."""
