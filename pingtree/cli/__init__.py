"""The `pingtree` command: serve, validate, demo, sim, send, try, deliveries. `main` is the
console script's entry point."""

from pingtree.cli.main import main

__all__ = ["main"]
