"""Where execution state lives: the Store interface and its SQLite implementation."""

from shipyard.store.base import Store
from shipyard.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store"]
