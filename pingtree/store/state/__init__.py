"""The `Store` (base.py): the intents an auction needs, each atomic on its backend (memory.py,
sqlite.py, redis.py with its scripts), and the guard (guard.py) that keeps a failing store
from failing an auction."""
