"""Compliance gates (DESIGN §16): what a lead must pass after the business rules and before any
buyer is looked at. One module a gate; the auctioneer calls each in turn. No imports here: each
gate is imported from its own module."""
