"""Compliance gates (DESIGN §16): what decides, after the business rules and before any buyer is
looked at, whether a lead may be sold at all. One module a gate; the auctioneer calls each in turn.
No imports here: each gate is imported from its own module.

consent.py             consent evidence on the lead's own fields (TrustedForm, Jornaya, its age)
checks.py              the operator's outside checks, run at once within checks_budget_ms
suppression_values.py  a list's values normalized as leads' are, and their keyed digests
suppression_file.py    a list's CSV file loaded into a compact sorted array of digests
suppression.py         the lists of a config, and the gate the auctioneer asks per lead
"""
