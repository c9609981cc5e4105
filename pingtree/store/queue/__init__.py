"""The durable delivery queue: the `DeliveryQueue` protocol and its jobs (base.py), what a
settlement does to a job (settle.py, pure), on SQLite (sqlite.py) and Redis (redis.py)."""
