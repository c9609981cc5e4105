"""Compliance gates: what decides, before any ping, whether a lead may be sold at all (DESIGN §16).

suppression_values.py  a list's values normalized as leads' are, and their keyed digests
suppression_file.py    a list's CSV file loaded into a compact sorted array of digests
suppression.py         the lists of a config, and the gate the auctioneer asks per lead
"""
