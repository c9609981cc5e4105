"""The entries operators add to suppression lists while the router runs (DESIGN §16): in memory
(one process), on the state file, or in Redis (every router sees what one was given)."""
