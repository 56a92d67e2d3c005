"""Alembic migrations. Installed as the ``bridge_migrations`` package so a
wheel carries them; ``bridge.migrate`` finds them from there."""
