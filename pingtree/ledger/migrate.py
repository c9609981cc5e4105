"""Bring a ledger's schema to the newest revision (migrations/), from code: no alembic.ini.

Several routers on one PostgreSQL start at once and each migrates: an advisory lock makes them
take turns, so the first migrates and the others find the schema there (Alembic's upgrade is a
no-op at head). SQLite's file belongs to one router; its transaction is enough.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# Alembic says at INFO which plugins it set up, at every start: the router logs the migration
# it ran itself (or nothing, at head).
logging.getLogger("alembic").setLevel(logging.WARNING)
log = logging.getLogger(__name__)
# pg_advisory_lock's key: any bigint, the same for every router ("pingtree" in ASCII).
_LOCK_KEY = 0x70696E6774726565


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate to head (blocking; the ledger runs it on its thread). Raises SQLAlchemy's and
    Alembic's errors: the caller translates them."""
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            connection.commit()
        try:
            before, head = current_revision(connection), head_revision()
            if before != head:
                command.upgrade(_alembic_config(connection), "head")
                log.info("ledger: schema migrated from %s to %s", before or "nothing", head)
            connection.commit()
        finally:
            if postgres:
                connection.rollback()
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
