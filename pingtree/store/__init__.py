"""Where pingtree keeps state, in parts that share a backend's file or server:

    state/     caps, dedup claims, idempotency, journals, outcomes, the breaker: the `Store`
               protocol (base.py) on memory, a SQLite file or Redis, behind the guard
    queue/     durable jobs (deliveries): the `DeliveryQueue` protocol on SQLite or Redis
    outbox/    records on their way to the ledger: the `Outbox` protocol on SQLite or Redis
    sqlite_file.py   the one SQLite file the parts share on one host, and its writer thread
    redis_client.py  the one way the parts reach Redis: client, pool, errors as StoreUnavailable
    redis_keys.py    every Redis key of every part, and its hash tag

Every key and script of a backend lives here; nothing outside store/ speaks Redis or SQL to it.
"""
