"""Held bids: an exchange ping's bids, kept for its post (DESIGN §14). base.py is the protocol;
memory, SQLite (the state file) and Redis (shared by every router) keep it."""
