"""The life of a lead: the router (idempotency claim, the auction, recording, answers), the
auctioneer (tiers, the ping deadline, ranking, reserve and fallback) and what it sends each buyer
(wire.py). Decisions come from core/; calls go through transport/; state lives in store/."""
