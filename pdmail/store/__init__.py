"""Every SQL read and write lives in this package; nothing above it builds SQL."""

from pdmail.store.db import Database
from pdmail.store.opening import open_db

__all__ = ["Database", "open_db"]
