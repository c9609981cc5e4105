"""pingtree: a self-hosted ping-post auction and ping-tree lead router."""

__version__ = "0.1.0"
