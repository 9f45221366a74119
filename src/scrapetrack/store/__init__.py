"""Persistence: SQLAlchemy models, the engine, queries and migrations."""
