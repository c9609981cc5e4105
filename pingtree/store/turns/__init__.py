"""Tie groups' turn counters (base.py's `Turns`): in memory, on the state file, on Redis."""
