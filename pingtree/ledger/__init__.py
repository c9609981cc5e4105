"""The system of record (DESIGN §12): every answered lead, sale, call and operator action as rows
of a relational database (SQLite or PostgreSQL), filed off the hot path from the outbox, and the
reports read from its rollups. base.py is its face."""
