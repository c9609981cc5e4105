"""Alembic's environment for the ledger: it runs on the connection `ledger.migrate` passes in
(`config.attributes["connection"]`), inside that connection's transaction, which the caller
commits. There is no offline (SQL script) mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the ledger's migrations run from pingtree.ledger.migrate only")
# SQLite alters a table by copying it (batch mode): ALTER TABLE there does little.
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
