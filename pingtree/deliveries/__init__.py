"""Durable deliveries (issue 7): a sold lead on its way to the buyer's other destinations (CRMs,
webhooks, dialers) and to the seller's postback, retried until taken, and the sales ledger and
CSV mirror.

    jobs.py      PURE: a sale → its jobs (one per destination; the request built, unsigned)
    policy.py    PURE: an attempt's result → Delivered | RetryAt | DeadLetter | Disabled
    worker.py    the background task: claim, sign, send, settle, purge
    exports.py   the ledger's row of a sale, the CSV mirror, CSV for downloads
    service.py   `Deliveries`: what the router and the app hold (and how they are wired)

Elsewhere: web/deliveries_admin.py serves /admin/deliveries… and /admin/exports/leads.csv
(web/deliveries_openapi.py their entries), cli/deliveries.py is `pingtree deliveries
list|show|retry|replay`, and web/app.py builds `Deliveries` and its queue.

The queue itself (durable storage, leases, ordering) is store/queue.py's DeliveryQueue.
"""
