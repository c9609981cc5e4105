"""The life of a lead: the router (idempotency claim, the auction, recording, answers), the
auctioneer (tiers, the ping deadline, ranking, reserve and fallback), the bidder (one buyer's
ping and post: build, call, read, breaker, trace), what it sends each buyer (wire.py), the
auction in progress (live.py) and what an auction hands back (result.py). Decisions come from
core/; calls go through transport/; state lives in store/."""
