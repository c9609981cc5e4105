"""The ledger's outbox: records on their way to the ledger, durable (base.py says what it keeps)."""
