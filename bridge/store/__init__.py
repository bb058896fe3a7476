"""Persistence of the bridge: SQLAlchemy models, Alembic migrations, the Store."""

from bridge.store.db import Store, default_url
from bridge.store.migrate import upgrade_to_head

__all__ = ["Store", "default_url", "upgrade_to_head"]
