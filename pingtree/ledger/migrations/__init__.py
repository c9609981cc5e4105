"""The ledger's schema, as Alembic migrations run by `ledger.migrate` (at start and by `pingtree
ledger migrate`): env.py runs them on the connection it is handed, no alembic.ini involved.

A schema change is a new file in versions/, written by hand like 0001 (`revision`, its
`down_revision`, `upgrade()` with `op.*`), and the same change in schema.py: the contract suite
fails while the two differ.
"""
