"""Shared fixtures. The database is always a real PostgreSQL server (see ami.database)."""
