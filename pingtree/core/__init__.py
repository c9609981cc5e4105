"""PURE: what a lead is and what the rules decide, with no I/O, no clock and no logging. Time,
ids and inputs come in as arguments; every part of pingtree reads this one, and it reads only
config/ (the models its rules apply).

    lead.py        a seller's body → a normalized Lead; its anonymized ping copy; redaction
    money.py       Decimal prices and payouts, rounding, breakeven
    rules.py       eligibility (filters, schedule, caps), valid bids, business rejections
    ranking.py     tiers and the order offers are posted to (Offer, plan_tiers, rank)
    breaker.py     a buyer's circuit breaker: what a call's result says about the buyer
    outcome.py     the finished record of a lead (Outcome, TraceEvent) and its two views: plain
                   data that store/, deliveries/ and the web read
    codec/         a lead → a buyer's request; a buyer's answer → what it means
    signing.py     Standard Webhooks signatures, both ways
    ids.py         time-sortable ids; us_states.py US state names and codes
    jsonenc.py     the one JSON helper (orjson, Decimal as a number)
    errors.py      the one error tree (PingtreeError and its children, each with its HTTP status)
"""
